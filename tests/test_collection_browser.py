"""The collection page in a real headless Chromium: a real HTTP server (werkzeug, in a thread, on a free
127.0.0.1 port) over a three-statement corpus on the fake encoder. The page's script must give what the
server renders: countries with names, the collection's wording, its examples, and an unknown country
shown as a message. Each tab checks, when it closes, that nothing was logged, thrown or fetched from
elsewhere."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from werkzeug.serving import make_server

from .helpers import free_port
from .test_collection_page import collection_app, make_collection

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


@pytest.fixture(scope="module")
def collection_server(tmp_path_factory) -> Iterator[str]:
    """The collection app served over HTTP; every question counts as unanswered (a high threshold), so
    that the no-answer wording shows too."""
    app = collection_app(
        make_collection(tmp_path_factory.mktemp("browser-collection")),
        no_answer_threshold=0.99,
        index_poll_seconds=0,
    )
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="collection-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def open_page(browser, collection_server) -> Iterator[Callable[..., object]]:
    """Open pages (context options: JavaScript on or off); check each for problems at the end."""
    opened: list[tuple[object, list[str]]] = []

    def _open(path: str = "/", **options):
        context = browser.new_context(viewport={"width": 1200, "height": 900}, **options)
        context.set_default_timeout(15_000)
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
        page.on(
            "request",
            lambda r: None if r.url.startswith(collection_server + "/") else problems.append(f"external: {r.url}"),
        )
        opened.append((context, problems))
        page.goto(collection_server + path)
        return page

    yield _open
    found = [p for _, problems in opened for p in problems if "status of 400" not in p]
    for context, _ in opened:
        context.close()
    assert not found, found


def _sources(page) -> list[str]:
    return page.locator("#results .source-doc").all_inner_texts()


def test_the_picker_and_the_header_read_as_a_collection(open_page):
    page = open_page()
    expect(page).to_have_title("Ask the collection")
    expect(page.locator(".kicker")).to_have_text("Ask the collection")
    expect(page.locator("h1")).to_have_text("3 statements")
    expect(page.locator("#howto")).to_contain_text("The answers are passages of the statements")
    labels = page.locator('select[name="country"] option').all_inner_texts()
    assert labels == ["All countries", "Fiji (FJI)", "Kazakhstan (KAZ)", "Pakistan (PAK)"]
    expect(page.locator("#examples .example").first).to_have_text("Who spoke for Kazakhstan in 2024?")


def test_answers_asked_through_the_script_match_the_server_page(open_page):
    page = open_page()
    page.get_by_label("Your question").fill("nuclear disarmament climate finance")
    page.get_by_label("Answers to show").select_option("5")
    page.get_by_label("Your question").press("Enter")
    expect(page.locator("#results .answer")).to_have_count(5)
    scripted = _sources(page)
    assert any("Kazakhstan (KAZ)" in s for s in scripted) and any("· Pakistan (PAK) ·" in s for s in scripted)
    served = open_page(page.url.removeprefix(page.url.split("/?")[0]), java_script_enabled=False)
    assert _sources(served) == scripted

    page.get_by_label("Your question").fill("How do I bake sourdough bread?")
    page.get_by_label("Your question").press("Enter")
    said = "None of the statements seems to answer this question."
    expect(page.locator("#results .no-answer strong")).to_have_text(said)
    served = open_page(page.url.removeprefix(page.url.split("/?")[0]), java_script_enabled=False)
    expect(served.locator("#results .no-answer strong")).to_have_text(said)


def test_an_unknown_country_is_a_message_with_and_without_the_script(open_page):
    served = open_page("/?q=nuclear&country=Kazakhstan", java_script_enabled=False)
    expect(served.locator("#results .error")).to_contain_text("Did you mean Kazakhstan (KAZ)?")
    page = open_page()
    # A shared link to a filter the corpus lacks, followed within the page (history), asks the API.
    page.evaluate(
        "() => { history.pushState({}, '', '/?q=nuclear&country=Kazakhstan');"
        " dispatchEvent(new PopStateEvent('popstate')); }"
    )
    expect(page.locator("#results .error")).to_contain_text("No document of country 'KAZAKHSTAN' in this corpus.")
    expect(page.locator("#results .error")).to_contain_text("Did you mean Kazakhstan (KAZ)?")


def test_a_passage_from_the_documents_details_says_so_with_and_without_the_script(open_page):
    page = open_page()
    page.get_by_label("Your question").fill("Who is Sitiveni Rabuka?")
    page.get_by_label("Your question").press("Enter")
    first = page.locator("#results .answer").first
    expect(first.locator(".where")).to_contain_text("from the document's details")
    expect(first).to_contain_text("Statement by Sitiveni Rabuka")
    served = open_page(page.url.removeprefix(page.url.split("/?")[0]), java_script_enabled=False)
    expect(served.locator("#results .answer").first.locator(".where")).to_have_text(
        first.locator(".where").inner_text()
    )
