"""The short answer in the JSON API, the CLI and the server-rendered page (real model and index)."""

from __future__ import annotations

import jsonschema

from qa_service.cli import main

DATE_QUESTION = "When did Kazakhstan accede to the nuclear terrorism convention?"


def _validator(client, name):
    doc = client.get("/api/v1/openapi.json").get_json()
    return jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": doc["components"]})


def test_a_date_question_gets_its_span(client) -> None:
    body = client.post("/api/v1/ask", json={"question": DATE_QUESTION, "top_k": 3}).get_json()
    best = body["answers"][0]
    assert best["answer"] == {
        "text": "September 16, 2005",
        "start": best["text"].index("September 16, 2005"),
        "end": best["text"].index("September 16, 2005") + len("September 16, 2005"),
        "kind": "date",
        "value": "2005-09-16",
    }
    assert best["text"][best["answer"]["start"] : best["answer"]["end"]] == best["answer"]["text"]
    _validator(client, "AskResponse").validate(body)


def test_the_speaker_and_a_count(client) -> None:
    who = client.get("/api/v1/ask", query_string={"question": "Who delivered the statement?"}).get_json()
    assert who["answers"][0]["answer"]["text"] == "H.E. Yerzhan Kazykhanov"
    assert who["answers"][0]["answer"]["kind"] == "person"
    many = client.get(
        "/api/v1/ask", query_string={"question": "How many observer countries does CICA have?"}
    ).get_json()
    assert (many["answers"][0]["answer"]["text"], many["answers"][0]["answer"]["value"]) == ("8", 8)


def test_no_span_for_a_question_that_asks_for_none(client) -> None:
    body = client.post("/api/v1/ask", json={"question": "Why does Kazakhstan support the strategy?"}).get_json()
    assert body["answers"] and all(a["answer"] is None for a in body["answers"])
    _validator(client, "AskResponse").validate(body)


def test_no_span_when_the_corpus_does_not_answer(client) -> None:
    body = client.post("/api/v1/ask", json={"question": "When was the Ad Hoc Committee established?"}).get_json()
    assert body["no_answer"] is True
    assert all(a["answer"] is None for a in body["answers"])


def test_grouped_answers_carry_spans_too(client) -> None:
    body = client.post("/api/v1/ask", json={"question": DATE_QUESTION, "group_by_document": True}).get_json()
    assert body["answers"][0]["answer"]["text"] == "September 16, 2005"
    _validator(client, "AskResponse").validate(body)


def test_the_page_shows_the_span_first_in_bold(client) -> None:
    html = client.get("/", query_string={"q": DATE_QUESTION}).get_data(as_text=True)
    first = html.index('<li class="answer">')
    span = html.index('<p class="short-answer"><strong>September 16, 2005</strong></p>', first)
    assert span < html.index('<p class="text">', first)


def test_the_cli_prints_the_span(runner, settings, retriever, monkeypatch) -> None:
    monkeypatch.setenv("QA_CORPUS_DIR", str(settings.corpus_dir))
    monkeypatch.setenv("QA_INDEX_DIR", str(settings.index_dir))
    monkeypatch.setenv("QA_MODEL_CACHE_DIR", str(settings.model_cache_dir))
    result = runner.invoke(main, ["ask", "-k", "1", DATE_QUESTION])
    assert result.exit_code == 0, result.output
    assert "Answer: September 16, 2005" in result.output
