"""The page and the document view, server-rendered (no JavaScript), on a fake encoder (``client``) and, where
the answer itself is checked, with the real model (``real_client``); tests/test_browser.py drives them in
Chromium."""

from __future__ import annotations

import re

import pytest

from qa_service.http.pages import human_date

from .helpers import STATEMENT_ID


def test_page_shows_corpus_and_form(client):
    r = client.get("/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "Kazakhstan against terrorism" in html
    assert "H.E. Yerzhan Kazykhanov" in html
    assert '<time datetime="2020-10-12">12 October 2020</time>' in html
    assert '<form class="ask" id="ask" action="/" method="get"' in html
    assert (
        '<label class="ask-label" for="q">Your question</label>' in html
        and '<label for="k">Answers to show</label>' in html
    )
    assert re.search(r'<input id="q" name="q" type="search"[^>]* required autofocus', html)
    assert 'id="status" class="status" role="status" aria-live="polite"' in html
    assert "http://" not in html and "https://" not in html  # nothing external


def test_examples_are_buttons_of_a_plain_get_form(client):
    html = client.get("/").get_data(as_text=True)
    form = re.search(r'<form id="examples" action="/" method="get">(.*?)</form>', html, re.S)
    assert form
    buttons = re.findall(r'<button class="example" type="submit" name="q" value="([^"]+)">', form.group(1))
    assert len(buttons) == 5 and "When did Kazakhstan accede to the nuclear terrorism convention?" in buttons
    assert '<input type="hidden" name="k" value="3">' in form.group(1)


def test_no_inline_script_or_style(client):
    """The Content-Security-Policy allows scripts and styles from our own files only, so the page has no other."""
    r = client.get("/", query_string={"q": "terrorism"})
    html = r.get_data(as_text=True)
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/app.js" defer>']
    assert re.findall(r"<script[^>]*>(.*?)</script>", html, re.S) == [""]
    assert "<style" not in html and " style=" not in html
    assert re.search(r"\son[a-z]+=", html) is None  # no event-handler attributes
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_static_script_is_served(client):
    r = client.get("/static/app.js")
    assert r.status_code == 200 and "javascript" in r.content_type
    assert "innerHTML" not in r.get_data(as_text=True)  # answers are built with DOM calls and text nodes


def test_plain_get_form_answers(real_client):
    r = real_client.get("/", query_string={"q": "When did Kazakhstan accede to the nuclear terrorism convention?"})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert html.count('class="answer"') == 3
    mark = re.search(r"<mark>(.*?)</mark>", html, re.S)
    assert mark and "September 16, 2005" in re.sub(r"<.*?>", "", mark.group(1))
    assert f'href="/documents/{STATEMENT_ID}?p=2#p-2">Passage 2, line 4</a>' in html
    assert "3 answers, best first." in html
    assert "<title>When did Kazakhstan accede to the nuclear terrorism convention? · Ask the statement</title>" in html


def test_top_k_control(client):
    html = client.get("/", query_string={"q": "terrorism", "k": "5"}).get_data(as_text=True)
    assert html.count('class="answer"') == 5
    assert '<option value="5" selected>' in html
    assert '<input type="hidden" name="k" value="5">' in html  # the examples keep the count


def test_count_is_kept_on_an_empty_form(client):
    html = client.get("/", query_string={"k": "10"}).get_data(as_text=True)
    assert '<option value="10" selected>' in html
    html = client.get("/", query_string={"k": "99"}).get_data(as_text=True)
    assert '<option value="3" selected>' in html


def test_no_answer_is_said_plainly(real_client):
    html = real_client.get("/", query_string={"q": "How do I bake sourdough bread?"}).get_data(as_text=True)
    assert "The statement does not seem to answer this question." in html
    assert 'class="answers muted"' in html
    assert "No answer found; 3 closest passages below." in html


def test_question_is_escaped(client):
    evil = '<script>alert("x")</script>'
    html = client.get("/", query_string={"q": evil}).get_data(as_text=True)
    assert evil not in html
    assert "&lt;script&gt;" in html


def test_bad_input_on_the_page_is_a_message_not_a_crash(client):
    r = client.get("/", query_string={"q": "x" * 1001})
    assert r.status_code == 400
    assert "limit is 1000" in r.get_data(as_text=True)
    r = client.get("/", query_string={"q": "terrorism", "k": "lots"})
    assert r.status_code == 400


def test_document_view(client):
    r = client.get(f"/documents/{STATEMENT_ID}?p=4")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert len(re.findall(r'<li id="p-\d+"', html)) == 15
    assert 'id="p-4" class="passage marked" aria-current="true"' in html
    assert html.count("The passage of the answer") == 1
    assert "Yerzhan Kazykhanov" in html and "12 October 2020" in html
    assert "<title>Passage 4 · Kazakhstan against terrorism" in html
    assert "lines 6–10" in html and ">line 3<" in html


def test_unknown_document_page(client):
    r = client.get("/documents/nope", headers={"Accept": "text/html"})
    assert r.status_code == 404
    assert "text/html" in r.content_type


def test_static_css_is_served(client):
    r = client.get("/static/style.css")
    assert r.status_code == 200 and "text/css" in r.content_type


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("2020-10-12", "12 October 2020"),
        ("2005-09-06", "6 September 2005"),
        ("autumn 2020", "autumn 2020"),
        ("", ""),
        (None, ""),
    ],
)
def test_human_date(value, shown):
    assert human_date(value) == shown
