"""The page and the document view, server-rendered (no JavaScript)."""

from __future__ import annotations

import re

from .conftest import STATEMENT_ID


def test_page_shows_corpus_and_form(client):
    r = client.get("/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "Kazakhstan against terrorism" in html
    assert "H.E. Yerzhan Kazykhanov" in html and "2020-10-12" in html
    assert '<form class="ask" action="/" method="get"' in html
    assert 'name="q"' in html and "<label" in html
    assert html.count('class="example"') >= 3
    assert "<script" not in html or 'src="/static/' in html
    assert "http://" not in html and "https://" not in html  # nothing external


def test_plain_get_form_answers(client):
    r = client.get("/", query_string={"q": "When did Kazakhstan accede to the nuclear terrorism convention?"})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert html.count('class="answer"') == 3
    mark = re.search(r"<mark>(.*?)</mark>", html, re.S)
    assert mark and "September 16, 2005" in re.sub(r"<.*?>", "", mark.group(1))
    assert f'href="/documents/{STATEMENT_ID}?p=2#p-2"' in html
    assert "Passage 2, lines 4–4" in html


def test_top_k_control(client):
    html = client.get("/", query_string={"q": "terrorism", "k": "5"}).get_data(as_text=True)
    assert html.count('class="answer"') == 5
    assert '<option value="5" selected>' in html


def test_no_answer_is_said_plainly(client):
    html = client.get("/", query_string={"q": "How do I bake sourdough bread?"}).get_data(as_text=True)
    assert "does not seem to answer" in html
    assert 'class="answers muted"' in html


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
    assert 'id="p-4" class="passage marked"' in html
    assert "Yerzhan Kazykhanov" in html


def test_unknown_document_page(client):
    r = client.get("/documents/nope", headers={"Accept": "text/html"})
    assert r.status_code == 404
    assert "text/html" in r.content_type


def test_static_css_is_served(client):
    r = client.get("/static/style.css")
    assert r.status_code == 200 and "text/css" in r.content_type
