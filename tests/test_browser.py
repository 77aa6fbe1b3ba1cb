"""The page as a person uses it: the real server on 127.0.0.1, driven in a real headless Chromium.

Every tab checks, when it closes, that the page logged no console error or warning, threw nothing,
opened no dialog and requested nothing from anywhere but the server. Screenshots of the main states
go to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest

from .helpers import ARTIFACTS, STATEMENT_ID, LiveServer

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

QUESTION = "When did Kazakhstan accede to the nuclear terrorism convention?"
WHO = "Who delivered the statement, and when?"
OUT_OF_SCOPE = "How do I bake sourdough bread?"
TITLE = "Ask the statement"


@dataclass
class Tab:
    """One page in its own browser context, with what went wrong in it."""

    page: object
    base: str
    problems: list[str] = field(default_factory=list)
    allowed: list[re.Pattern] = field(default_factory=list)  # console messages a test expects

    def note(self, problem: str) -> None:
        if not any(p.search(problem) for p in self.allowed):
            self.problems.append(problem)

    def url(self, path: str) -> str:
        return self.base + path

    def goto(self, path: str = "/"):
        self.page.goto(self.url(path))
        return self.page

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def open_tab(browser, live_server: LiveServer) -> Iterator[Callable[..., Tab]]:
    """Open tabs with context options (viewport, JavaScript off, colour scheme); check each one at the end."""
    opened: list[tuple[object, Tab]] = []

    def _open(**options) -> Tab:
        options.setdefault("viewport", {"width": 1200, "height": 900})
        context = browser.new_context(**options)
        context.set_default_timeout(15_000)
        page = context.new_page()
        tab = Tab(page, live_server.url)
        page.on(
            "console", lambda m: tab.note(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None
        )
        page.on("pageerror", lambda e: tab.note(f"uncaught: {e}"))
        page.on("dialog", lambda d: (tab.note(f"dialog: {d.message}"), d.dismiss()))
        page.on(
            "request",
            lambda r: None if r.url.startswith(live_server.url + "/") else tab.note(f"external request: {r.url}"),
        )
        opened.append((context, tab))
        return tab

    yield _open
    problems = [p for _, tab in opened for p in tab.problems]
    for context, _ in opened:
        context.close()
    assert not problems, problems


@pytest.fixture
def tab(open_tab) -> Tab:
    """A desktop tab with JavaScript on."""
    return open_tab()


def page_url(question: str, k: int = 3) -> str:
    return "/?" + urlencode({"q": question, "k": k})


def ask_by_typing(page, question: str) -> None:
    """Type into the question box as a person does and press Enter."""
    box = page.get_by_label("Your question")
    box.click()
    box.press("Control+A")
    page.keyboard.type(question)
    page.keyboard.press("Enter")


def answers_on(page) -> list[dict]:
    """What the answers show, read from the page."""
    return page.evaluate(
        """() => [...document.querySelectorAll('#results .answer')].map(li => ({
            rank: li.querySelector('.rank').textContent,
            score: parseFloat(li.querySelector('.num').textContent),
            meter: parseFloat(li.querySelector('meter').value),
            where: li.querySelector('.where').textContent,
            href: li.querySelector('.where').getAttribute('href'),
            mark: li.querySelector('mark') ? li.querySelector('mark').textContent : null,
            bold: [...li.querySelectorAll('.text b')].map(b => b.textContent),
            html: li.querySelector('.text').innerHTML,
        }))"""
    )


def test_page_loads_with_header_focus_and_examples(tab):
    page = tab.goto("/")
    expect(page).to_have_title(TITLE)
    expect(page.locator("h1")).to_have_text(re.compile("^Kazakhstan against terrorism"))
    expect(page.locator(".byline")).to_contain_text("H.E. Yerzhan Kazykhanov")
    expect(page.locator(".byline time")).to_have_text("12 October 2020")
    expect(page.locator(".byline time")).to_have_attribute("datetime", "2020-10-12")
    expect(page.get_by_label("Your question")).to_be_focused()
    expect(page.get_by_label("Answers to show")).to_have_value("3")
    expect(page.get_by_role("button", name="Ask", exact=True)).to_be_visible()
    expect(page.locator("button.example")).to_have_count(5)
    expect(page.locator("#results .answer")).to_have_count(0)
    tab.shot("01-start")


def test_ask_by_typing_and_enter_without_reload(tab):
    page = tab.goto("/")
    page.evaluate("window.__samePage = true")
    ask_by_typing(page, QUESTION)
    answers = page.locator("#results .answer")
    expect(answers).to_have_count(3)
    first = answers.first
    expect(first.locator("mark")).to_contain_text("acceded to the International Convention")
    expect(first.locator("mark")).to_contain_text("September 16, 2005")
    expect(first.locator(".where")).to_have_text("Passage 2, line 4")
    expect(first.locator(".where")).to_have_attribute("href", f"/documents/{STATEMENT_ID}?p=2#p-2")
    assert {"Nuclear", "acceded", "Kazakhstan"} <= set(first.locator(".text b").all_inner_texts())
    assert page.evaluate("window.__samePage") is True, "the answers came with a full page load"
    assert page.url == tab.url(page_url(QUESTION))
    expect(page).to_have_title(f"{QUESTION} · {TITLE}")
    expect(page.locator("#status")).to_have_text("3 answers, best first.")
    expect(page.locator("#results")).to_have_attribute("aria-busy", "false")
    # The mark is drawn: a coloured background behind the sentence.
    assert first.locator("mark").evaluate("m => getComputedStyle(m).backgroundColor") not in (
        "rgba(0, 0, 0, 0)",
        "transparent",
    )
    tab.shot("kazakhstan-nuclear-terrorism-convention")


def test_loading_state_is_visible_while_waiting(tab):
    page = tab.goto("/")
    held = []
    page.route(
        re.compile(r"/api/v1/ask\?"), lambda route: held.append(route)
    )  # hold the answer back until the loading state was seen
    ask_by_typing(page, QUESTION)
    button = page.locator("form.ask button[type=submit]")
    expect(page.locator("form.ask")).to_have_class(re.compile(r"\bis-loading\b"))
    expect(button).to_have_text("Asking…")
    expect(page.locator("form.ask .spinner")).to_be_visible()
    expect(page.locator("#status")).to_have_text("Looking for answers…")
    expect(page.locator("#results")).to_have_attribute("aria-busy", "true")
    tab.shot("02-loading")
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1
    held[0].continue_()
    expect(page.locator("#results .answer")).to_have_count(3)
    expect(button).to_have_text("Ask")
    expect(page.locator("form.ask .spinner")).to_be_hidden()


def test_ask_by_clicking_an_example(tab):
    page = tab.goto("/")
    page.get_by_role("button", name=WHO).click()
    expect(page.get_by_label("Your question")).to_have_value(WHO)
    first = page.locator("#results .answer").first
    expect(first.locator("mark")).to_contain_text("Yerzhan Kazykhanov")
    assert page.url == tab.url(page_url(WHO))


def test_answer_count_control(tab):
    page = tab.goto(page_url(QUESTION))
    expect(page.locator("#results .answer")).to_have_count(3)
    page.get_by_label("Answers to show").select_option("5")
    expect(page.locator("#results .answer")).to_have_count(5)
    assert page.url == tab.url(page_url(QUESTION, 5))
    page.get_by_role("button", name=WHO).click()
    expect(page.locator("#results .answer")).to_have_count(5)
    assert page.url == tab.url(page_url(WHO, 5))


def test_back_and_forward_and_shared_urls(tab, open_tab):
    page = tab.goto("/")
    ask_by_typing(page, QUESTION)
    expect(page.locator("#results mark").first).to_contain_text("September 16, 2005")
    ask_by_typing(page, WHO)
    expect(page.locator("#results mark").first).to_contain_text("Yerzhan Kazykhanov")

    page.go_back()
    expect(page).to_have_url(tab.url(page_url(QUESTION)))
    expect(page.get_by_label("Your question")).to_have_value(QUESTION)
    expect(page.locator("#results mark").first).to_contain_text("September 16, 2005")
    page.go_back()
    expect(page).to_have_url(tab.url("/"))
    expect(page.get_by_label("Your question")).to_have_value("")
    expect(page.locator("#results .answer")).to_have_count(0)
    expect(page).to_have_title(TITLE)
    page.go_forward()
    expect(page.locator("#results mark").first).to_contain_text("September 16, 2005")
    expect(page).to_have_title(f"{QUESTION} · {TITLE}")

    # The URL is enough to share the answers: a fresh tab shows the same page from the server.
    shown = answers_on(page)
    other = open_tab()
    other.goto(page_url(QUESTION))
    _assert_same_answers(answers_on(other.page), shown)


def test_source_link_shows_the_passage_highlighted(tab):
    page = tab.goto(page_url(QUESTION))
    page.locator("#results .answer .where").first.click()
    expect(page).to_have_url(tab.url(f"/documents/{STATEMENT_ID}?p=2#p-2"))
    expect(page.locator(".passage")).to_have_count(15)
    marked = page.locator(".passage.marked")
    expect(marked).to_have_count(1)
    expect(marked).to_have_attribute("id", "p-2")
    expect(marked).to_have_attribute("aria-current", "true")
    expect(marked).to_contain_text("September 16, 2005")
    expect(marked.locator(".badge")).to_have_text("The passage of the answer")
    expect(marked).to_be_in_viewport()
    assert marked.evaluate("e => getComputedStyle(e).backgroundColor") != page.locator(".passage").first.evaluate(
        "e => getComputedStyle(e).backgroundColor"
    )
    tab.shot("document-passage-2")
    page.go_back()
    expect(page.locator("#results mark").first).to_contain_text("September 16, 2005")


def test_document_view_scrolls_to_a_later_passage(open_tab):
    tab = open_tab(viewport={"width": 1000, "height": 500})
    page = tab.goto(f"/documents/{STATEMENT_ID}?p=13#p-13")
    marked = page.locator("#p-13")
    expect(marked).to_have_class(re.compile(r"\bmarked\b"))
    expect(marked).to_be_in_viewport()
    assert page.evaluate("window.scrollY") > 0
    expect(page.locator("#p-1")).not_to_be_in_viewport()


def test_out_of_scope_question_says_so_plainly(tab):
    page = tab.goto("/")
    ask_by_typing(page, OUT_OF_SCOPE)
    notice = page.locator("#results .no-answer")
    expect(notice).to_contain_text("The statement does not seem to answer this question.")
    expect(page.locator("#results ol.answers.muted .answer")).to_have_count(3)
    expect(page.locator("#status")).to_have_text("No answer found; 3 closest passages below.")
    muted = page.locator("#results .answer .text").first.evaluate("e => getComputedStyle(e).color")
    normal = page.locator("h1").evaluate("e => getComputedStyle(e).color")
    assert muted != normal
    tab.shot("no-answer")


def test_without_javascript_the_same_flow_works(tab, open_tab):
    with_js = tab.goto("/")
    ask_by_typing(with_js, QUESTION)
    expect(with_js.locator("#results .answer")).to_have_count(3)
    expected = answers_on(with_js)

    plain = open_tab(java_script_enabled=False)
    page = plain.goto("/")
    expect(page.get_by_label("Your question")).to_be_focused()
    page.keyboard.type(QUESTION)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == tab.url(page_url(QUESTION)) == with_js.url
    _assert_same_answers(answers_on(page), expected)
    expect(page.locator("#status")).to_have_text("3 answers, best first.")
    expect(page).to_have_title(f"{QUESTION} · {TITLE}")
    plain.shot("no-javascript-answers")

    with page.expect_navigation():
        page.get_by_role("button", name=WHO).click()
    assert page.url == tab.url(page_url(WHO))
    expect(page.locator("#results mark").first).to_contain_text("Yerzhan Kazykhanov")

    with page.expect_navigation():
        page.locator("#results .where").first.click()
    expect(page.locator(".passage.marked")).to_contain_text("Yerzhan Kazykhanov")

    page.goto(tab.url("/"))
    page.get_by_label("Your question").fill(OUT_OF_SCOPE)
    with page.expect_navigation():
        page.get_by_role("button", name="Ask", exact=True).click()
    expect(page.locator("#results .no-answer")).to_contain_text("does not seem to answer")
    expect(page.locator("#results ol.answers.muted .answer")).to_have_count(3)


def test_keyboard_only(tab):
    page = tab.goto("/")
    focused = """() => { const e = document.activeElement;
                         return [e.tagName.toLowerCase(), e.id || e.className, e.textContent.trim().slice(0, 40)]; }"""

    # The tab order: question, Ask, count, then the examples.
    order = [page.evaluate(focused)]
    for _ in range(3):
        page.keyboard.press("Tab")
        order.append(page.evaluate(focused))
    assert [o[:2] for o in order[:3]] == [["input", "q"], ["button", ""], ["select", "k"]]
    assert order[3][:2] == ["button", "example"] and order[3][2] == WHO
    # An example, chosen with the keyboard.
    page.keyboard.press("Enter")
    expect(page.locator("#results mark").first).to_contain_text("Yerzhan Kazykhanov")

    # A typed question: back into the box with Shift+Tab (the answers came above the examples).
    for _ in range(20):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.id") == "q":
            break
    expect(page.get_by_label("Your question")).to_be_focused()
    page.keyboard.press("Control+A")
    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    expect(page.locator("#results mark").first).to_contain_text("September 16, 2005")

    # On to the first answer's source link, right after the form; the focus is visible on the way.
    for _ in range(3):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('where')"):
            break
    else:
        pytest.fail("the source link cannot be reached with Tab")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    tab.shot("keyboard-focus-on-source")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator(".passage.marked")).to_have_attribute("id", "p-2")


def test_narrow_screen_has_no_horizontal_scrolling(open_tab):
    tab = open_tab(viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = tab.goto("/")
    _assert_fits(page, 375)
    tab.shot("phone-start")
    ask_by_typing(page, QUESTION)
    expect(page.locator("#results .answer")).to_have_count(3)
    _assert_fits(page, 375)
    tab.shot("phone-answers")
    page.locator("#results .where").first.click()
    expect(page.locator(".passage.marked")).to_have_count(1)
    _assert_fits(page, 375)
    tab.shot("phone-document")


def test_question_with_markup_is_shown_as_text(tab):
    evil = '<img src=/static/x.png onerror="window.__pwned=1"><script>window.__pwned=2</script> terrorism'
    page = tab.goto("/")
    ask_by_typing(page, evil)
    expect(page.locator("#results .answer")).to_have_count(3)
    expect(page).to_have_title(f"{evil} · {TITLE}")
    expect(page.get_by_label("Your question")).to_have_value(evil)
    _assert_nothing_injected(page)
    # The same question from the server (a shared link, or JavaScript off).
    page.goto(tab.url(page_url(evil)))
    expect(page.get_by_label("Your question")).to_have_value(evil)
    expect(page).to_have_title(f"{evil} · {TITLE}")
    _assert_nothing_injected(page)


def test_an_error_from_the_api_is_shown(tab):
    # Chromium logs every response with an error status; that one is expected here.
    tab.allowed.append(re.compile(r"status of 400"))
    page = tab.goto("/")
    ask_by_typing(page, "?!")  # passes the form's `required`, refused by the API
    expect(page.locator("#results .error[role=alert]")).to_have_text("The question has no letters or digits.")
    expect(page.locator("form.ask")).not_to_have_class(re.compile(r"\bis-loading\b"))


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_contrast_meets_wcag_aa(open_tab, scheme):
    tab = open_tab(color_scheme=scheme)
    for path in ("/", page_url(QUESTION), page_url(OUT_OF_SCOPE), f"/documents/{STATEMENT_ID}?p=2#p-2"):
        page = tab.goto(path)
        failures = page.evaluate(_CONTRAST_JS)
        assert not failures, f"{scheme} {path}: {failures}"
    if scheme == "dark":
        tab.goto(page_url(QUESTION))
        tab.shot("dark-answers")


# -- helpers ----------------------------------------------------------------------------------------------


def _assert_same_answers(got: list[dict], expected: list[dict]) -> None:
    assert len(got) == len(expected) > 0
    for a, b in zip(got, expected):
        assert {k: v for k, v in a.items() if k not in ("score", "meter")} == {
            k: v for k, v in b.items() if k not in ("score", "meter")
        }
        assert a["score"] == pytest.approx(b["score"], abs=0.011)
        assert a["meter"] == pytest.approx(b["meter"], abs=1e-6)


def _assert_fits(page, width: int) -> None:
    assert page.evaluate("window.innerWidth") == width
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    widest = page.evaluate(
        """() => Math.max(...[...document.querySelectorAll('body *')]
            .filter(e => e.getClientRects().length && !e.classList.contains('skip'))
            .map(e => e.getBoundingClientRect().right))"""
    )
    assert widest <= width + 0.5


def _assert_nothing_injected(page) -> None:
    assert page.evaluate("window.__pwned") is None
    assert page.locator("main img, main script").count() == 0


# WCAG 2.x contrast of every piece of visible text against the background it is drawn on.
_CONTRAST_JS = """() => {
  const parse = (c) => {
    const m = c.match(/[\\d.]+/g).map(Number);
    return {r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1};
  };
  const over = (top, bottom) => ({r: top.r * top.a + bottom.r * (1 - top.a), g: top.g * top.a + bottom.g * (1 - top.a),
                                   b: top.b * top.a + bottom.b * (1 - top.a), a: 1});
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    let colour = {r: 255, g: 255, b: 255, a: 1}; // the canvas, where nothing opaque is behind
    for (const layer of layers.reverse()) colour = over(layer, colour);
    return colour;
  };
  const linear = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const luminance = ({r, g, b}) => 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  const failures = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    const control = el.matches('input, select');
    if (!(own || control) || !el.getClientRects().length || el.closest('.skip, meter, option')) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden') continue;
    const bg = background(el);
    const fg = over(parse(style.color), bg);
    const [hi, lo] = [luminance(fg), luminance(bg)].sort((x, y) => y - x);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight, 10) >= 700;
    const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < needed) {
      const text = (el.textContent || el.value || '').trim().slice(0, 30);
      failures.push(`${el.tagName.toLowerCase()}.${el.className} "${text}" ${ratio.toFixed(2)} < ${needed}`);
    }
  }
  return failures;
}"""
