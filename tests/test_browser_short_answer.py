"""The short answer on the page, in a real headless Chromium against the real server: shown first, in
bold, above the passage, whether the page asks through the JSON API (JavaScript) or the form (without)."""

from __future__ import annotations

import pytest

from .test_browser import ask_by_typing, open_tab, page_url, tab  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

QUESTION = "When did Kazakhstan accede to the nuclear terrorism convention?"


def _short_answer_comes_first(page) -> None:
    first = page.locator("#results .answer").first
    short = first.locator(".short-answer strong")
    expect(short).to_have_text("September 16, 2005")
    assert short.evaluate("s => parseInt(getComputedStyle(s).fontWeight, 10)") >= 600
    order = first.evaluate(
        "li => [...li.children].map(c => c.className).filter(c => c === 'short-answer' || c === 'text')"
    )
    assert order == ["short-answer", "text"]


def test_the_short_answer_is_shown_first_in_bold(tab) -> None:  # noqa: F811
    page = tab.goto("/")
    ask_by_typing(page, QUESTION)
    expect(page.locator("#results .answer")).to_have_count(3)
    _short_answer_comes_first(page)
    tab.shot("short-answer")


def test_without_javascript_too(open_tab) -> None:  # noqa: F811
    plain = open_tab(java_script_enabled=False)
    page = plain.goto(page_url(QUESTION))
    _short_answer_comes_first(page)


def test_no_short_answer_for_a_why_question(tab) -> None:  # noqa: F811
    page = tab.goto(page_url("Why does Kazakhstan call for an early agreement on the comprehensive convention?"))
    expect(page.locator("#results .answer")).to_have_count(3)
    expect(page.locator("#results .short-answer")).to_have_count(0)
