"""Every API route and every error, through Flask's test client: on a fake encoder (``client``), and with
the real model (``real_client``) where the answer itself is checked."""

from __future__ import annotations

import jsonschema
import pytest

from .helpers import STATEMENT_ID

QUESTION = "When did Kazakhstan accede to the nuclear terrorism convention?"


def _schema_validator(client, name):
    doc = client.get("/api/v1/openapi.json").get_json()
    schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    return jsonschema.Draft202012Validator(schema)


def test_post_ask_shape(client):
    r = client.post("/api/v1/ask", json={"question": QUESTION, "top_k": 3})
    assert r.status_code == 200
    body = r.get_json()
    assert list(body) == ["question", "answers", "no_answer", "took_ms"]
    assert body["question"] == QUESTION
    assert isinstance(body["no_answer"], bool)
    assert isinstance(body["took_ms"], float)
    assert [a["rank"] for a in body["answers"]] == [1, 2, 3]
    scores = [a["score"] for a in body["answers"]]
    assert scores == sorted(scores, reverse=True)
    for answer in body["answers"]:
        assert answer["source"]["document"] == STATEMENT_ID
        hl = answer["highlight"]
        assert answer["text"][hl["start"] : hl["end"]] == hl["text"]
    _schema_validator(client, "AskResponse").validate(body)


def test_the_best_answer_is_the_passage_that_answers(real_client):
    body = real_client.post("/api/v1/ask", json={"question": QUESTION, "top_k": 3}).get_json()
    assert body["no_answer"] is False
    best = body["answers"][0]
    assert best["source"]["document"] == STATEMENT_ID
    assert best["source"]["passage"] == 2
    assert best["source"]["lines"] == [4, 4]
    # The sidecar gives the code only: the name is the code's ISO 3166 name.
    assert best["source"]["country"] == {"code": "KAZ", "name": "Kazakhstan", "label": "Kazakhstan (KAZ)"}
    hl = best["highlight"]
    assert best["text"][hl["start"] : hl["end"]] == hl["text"]
    assert "September 16, 2005" in hl["text"]


def test_get_ask_matches_post(client):
    post = client.post("/api/v1/ask", json={"question": QUESTION, "top_k": 2}).get_json()
    get = client.get("/api/v1/ask", query_string={"question": QUESTION, "top_k": 2}).get_json()
    strip = lambda b: [(a["source"]["passage"], a["score"]) for a in b["answers"]]  # noqa: E731
    assert strip(post) == strip(get)
    assert len(get["answers"]) == 2


def test_default_top_k_is_three(client):
    body = client.get("/api/v1/ask?question=terrorism").get_json()
    assert len(body["answers"]) == 3


def test_top_k_max_returns_every_passage_once(client):
    body = client.post("/api/v1/ask", json={"question": "terrorism", "top_k": 20}).get_json()
    passages = [a["source"]["passage"] for a in body["answers"]]
    assert len(passages) == len(set(passages)) == 15


def test_out_of_scope_question_is_flagged_but_answered(real_client):
    body = real_client.post("/api/v1/ask", json={"question": "How do I bake sourdough bread at home?"}).get_json()
    assert body["no_answer"] is True
    assert len(body["answers"]) == 3


@pytest.mark.parametrize(
    "kwargs, status, code",
    [
        ({"json": {}}, 400, "missing_question"),
        ({"json": {"question": ""}}, 400, "empty_question"),
        ({"json": {"question": "   "}}, 400, "empty_question"),
        ({"json": {"question": "x" * 1001}}, 400, "question_too_long"),
        ({"json": {"question": 5}}, 400, "invalid_question"),
        ({"json": {"question": "ok", "top_k": 0}}, 400, "invalid_top_k"),
        ({"json": {"question": "ok", "top_k": 21}}, 400, "invalid_top_k"),
        ({"json": {"question": "ok", "top_k": "two"}}, 400, "invalid_top_k"),
        ({"json": {"question": "ok", "top_k": 1.5}}, 400, "invalid_top_k"),
        ({"json": ["question"]}, 400, "invalid_body"),
        ({"json": "question"}, 400, "invalid_body"),
        ({"data": "{not json", "content_type": "application/json"}, 400, "invalid_json"),
        ({"data": "", "content_type": "application/json"}, 400, "invalid_json"),
        ({"data": "question=hi", "content_type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
        ({"data": "hi"}, 415, "unsupported_media_type"),
        ({"data": '{"question": "' + "a" * 20000 + '"}', "content_type": "application/json"}, 413, "payload_too_large"),
    ],
)
def test_post_errors(client, kwargs, status, code):
    r = client.post("/api/v1/ask", **kwargs)
    assert r.status_code == status
    assert r.is_json
    body = r.get_json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert "Traceback" not in r.get_data(as_text=True)


@pytest.mark.parametrize(
    "query, code",
    [
        ("", "missing_question"),
        ("question=", "empty_question"),
        ("question=a&question=b", "invalid_question"),
        ("question=ok&top_k=abc", "invalid_top_k"),
        ("question=ok&top_k=100", "invalid_top_k"),
        ("question=" + "x" * 1001, "question_too_long"),
    ],
)
def test_get_errors(client, query, code):
    r = client.get("/api/v1/ask?" + query)
    assert r.status_code == 400
    assert r.get_json()["error"]["code"] == code


def test_unknown_route_and_method(client):
    r = client.get("/api/v1/nope")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"
    r = client.delete("/api/v1/ask")
    assert r.status_code == 405 and r.get_json()["error"]["code"] == "method_not_allowed"
    assert "POST" in r.headers["Allow"]
    r = client.post("/api/v1/documents")
    assert r.status_code == 405
    r = client.get("/no/such/page")
    assert r.status_code == 404 and r.is_json


def test_documents(client):
    body = client.get("/api/v1/documents").get_json()
    (doc,) = body["documents"]
    assert doc["id"] == STATEMENT_ID and doc["passages"] == 15
    assert doc["metadata"]["speaker"] == "H.E. Yerzhan Kazykhanov"
    _schema_validator(client, "DocumentList").validate(body)


def test_document(client):
    body = client.get(f"/api/v1/documents/{STATEMENT_ID}").get_json()
    assert [p["number"] for p in body["passages"]] == list(range(1, 16))
    assert body["passages"][3]["kind"] == "block"
    _schema_validator(client, "DocumentDetail").validate(body)
    r = client.get("/api/v1/documents/nope")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "document_not_found"


def test_health_and_ready(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz").get_json()
    assert ready["status"] == "ready" and ready["passages"] == 15 and ready["documents"] == 1
    assert ready["model"] and ready["index_built_at"]


def test_openapi_document(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    assert {"/api/v1/ask", "/api/v1/documents", "/api/v1/documents/{id}", "/healthz", "/readyz"} <= set(doc["paths"])
    jsonschema.Draft202012Validator.check_schema(doc["components"]["schemas"]["AskResponse"])


def test_security_headers(client):
    r = client.get("/api/v1/ask?question=terrorism")
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin"
