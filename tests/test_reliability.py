"""Bad input never breaks the API: property-based tests (hypothesis), schemathesis against the
service's own OpenAPI document, the body and question limits, and the in-flight limit (503).

Every response to anything a client can send is either a valid answer (200, matching the schema) or a
JSON error with a 4xx status; never a 5xx, never a stack trace.
"""

from __future__ import annotations

import io
import json
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor

import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from qa_service.http.app import create_app
from qa_service.http.openapi import openapi_document
from qa_service.index import ensure_index
from qa_service.ranking import Retriever
from qa_service.settings import Settings

from .helpers import GatedEncoder

# FUZZ_EXAMPLES=2000 for a longer hunt; the suite's default keeps it to seconds.
FUZZ = hsettings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "120")),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
# Text as clients send it: any code point (controls, NUL, lone surrogates, astral), sometimes very long.
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40) | st.text(min_size=990, max_size=1100)
# What can be put in a URL: any code point UTF-8 can encode (invalid bytes: test_any_raw_query_bytes).
URL_TEXT = st.text(st.characters(codec="utf-8"), max_size=40) | st.text(min_size=990, max_size=1100)


@pytest.fixture(scope="module")
def validators(app):
    doc = app.test_client().get("/api/v1/openapi.json").get_json()

    def validator(name: str) -> jsonschema.Draft202012Validator:
        return jsonschema.Draft202012Validator(
            {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
        )

    return _Validators(answer=validator("AskResponse"), error=validator("Error"))


class _Validators(dict):
    """The response schemas; a short repr keeps hypothesis's failure reports readable."""

    def __repr__(self) -> str:
        return "<response validators>"


def assert_well_formed(response, validators) -> dict:
    """A valid answer, or a JSON error with a 4xx status."""
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    assert response.is_json, response.content_type
    body = response.get_json()
    if response.status_code == 200:
        validators["answer"].validate(body)
    else:
        assert 400 <= response.status_code < 500
        validators["error"].validate(body)
        assert body["error"]["code"] and body["error"]["message"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body


# --- hypothesis: arbitrary input -------------------------------------------------------------------


@FUZZ
@given(body=JSON_VALUES)
def test_any_json_body(app, validators, body):
    response = app.test_client().post("/api/v1/ask", data=json.dumps(body), content_type="application/json")
    assert_well_formed(response, validators)
    if not (isinstance(body, dict) and set(body) <= {"question", "top_k"}):
        assert response.status_code == 400


@FUZZ
@given(
    question=ANY_TEXT,
    top_k=st.none() | st.integers() | st.floats() | st.text(max_size=5) | st.lists(st.integers(), max_size=2),
)
def test_any_question_and_top_k(app, validators, question, top_k):
    body = {"question": question} if top_k is None else {"question": question, "top_k": top_k}
    # ensure_ascii keeps lone surrogates as \\udXXX escapes, which is how a client would send them.
    response = app.test_client().post("/api/v1/ask", data=json.dumps(body), content_type="application/json")
    answer = assert_well_formed(response, validators)
    if response.status_code == 200:
        assert answer["question"] == question.strip()
        assert 1 <= len(answer["answers"]) <= 20
    elif isinstance(top_k, float) and not math.isfinite(top_k):
        assert answer["error"]["code"] == "invalid_json"  # json.dumps wrote NaN/Infinity, which JSON lacks
    elif len(question) > 1000:
        assert answer["error"]["code"] == "question_too_long"


@FUZZ
@given(
    raw=st.binary(max_size=300),
    content_type=st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ]
    ),
)
def test_any_bytes_body(app, validators, raw, content_type):
    response = app.test_client().post("/api/v1/ask", data=raw, content_type=content_type or None)
    assert_well_formed(response, validators)


@FUZZ
@given(
    pairs=st.lists(
        st.tuples(
            st.sampled_from(["question", "top_k", "question[]", "top_k[]", "q", "", "x"]),
            URL_TEXT | st.integers().map(str),
        ),
        max_size=4,
    )
)
def test_any_query_string(app, validators, pairs):
    response = app.test_client().get("/api/v1/ask", query_string=pairs)
    body = assert_well_formed(response, validators)
    if sum(1 for name, _ in pairs if name == "question") > 1:
        assert body["error"]["code"] == "invalid_question"


@FUZZ
@given(raw_query=st.binary(max_size=200))
def test_any_raw_query_bytes(app, validators, raw_query):
    # Percent-escapes of arbitrary bytes (invalid UTF-8 included) straight into the URL.
    query = "".join(f"%{b:02X}" if b < 0x30 or b > 0x7A else chr(b) for b in raw_query)
    response = app.test_client().get("/api/v1/ask?" + query)
    assert_well_formed(response, validators)


@FUZZ
@given(doc_id=st.text(max_size=60))
def test_any_document_id(app, doc_id):
    response = app.test_client().get("/api/v1/documents/" + doc_id.replace("?", "%3F").replace("#", "%23"))
    assert response.status_code in (200, 404, 308), response.status_code
    if response.status_code == 404:
        assert response.is_json


@FUZZ
@given(top_k=st.integers(min_value=21) | st.integers(max_value=0))
def test_huge_and_negative_top_k(app, validators, top_k):
    for response in (
        app.test_client().post("/api/v1/ask", json={"question": "terrorism", "top_k": top_k}),
        app.test_client().get("/api/v1/ask", query_string={"question": "terrorism", "top_k": str(top_k)}),
    ):
        assert response.status_code == 400
        assert assert_well_formed(response, validators)["error"]["code"] == "invalid_top_k"


@pytest.mark.parametrize(
    "raw, code",
    [
        ('{"question": "terrorism", "question": "bread"}', "duplicate_field"),
        ('{"question": "terrorism", "top_k": 2, "top_k": 3}', "duplicate_field"),
        ('{"question": "terrorism", "top_k": NaN}', "invalid_json"),
        ('{"question": "terrorism", "top_k": Infinity}', "invalid_json"),
        ("[" * 5000 + "]" * 5000, "invalid_json"),
        ('{"a":' * 2500 + "1" + "}" * 2500, "invalid_json"),
        ('{"question": "terrorism", "top_k": ' + "9" * 5000 + "}", "invalid_json"),
        ('{"question": "\\ud800 terrorism"}', "invalid_question"),
        ('{"question": {"nested": {"deeper": "terrorism"}}}', "invalid_question"),
        ('{"question": "terrorism", "top_k": 1e400}', "invalid_top_k"),
        (b"\xef\xbb\xbf{}", "missing_question"),  # a UTF-8 byte-order mark is tolerated
        (b'{"question": "\xff\xfe terrorism"}', "invalid_json"),  # not UTF-8
    ],
)
def test_hostile_json(app, validators, raw, code):
    data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    response = app.test_client().post("/api/v1/ask", data=data, content_type="application/json")
    assert response.status_code == 400
    assert assert_well_formed(response, validators)["error"]["code"] == code


def test_question_over_the_limit_says_so(client):
    body = client.post("/api/v1/ask", json={"question": "x" * 1001}).get_json()
    assert body["error"].pop("request_id")  # every error carries the request's id (test_request_id.py)
    assert body["error"] == {
        "code": "question_too_long",
        "message": "The question has 1001 characters; the limit is 1000.",
    }


def test_body_over_the_limit_is_413_with_or_without_content_length(app):
    big = json.dumps({"question": "a" * 20000}).encode()
    client = app.test_client()
    response = client.post("/api/v1/ask", data=big, content_type="application/json")
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "payload_too_large"
    # A streamed (chunked) body has no Content-Length; the server marks the stream as terminated.
    for body, status in ((big, 413), (b'{"question": "terrorism"}', 200)):
        response = client.post(
            "/api/v1/ask",
            input_stream=io.BytesIO(body),
            content_type="application/json",
            environ_overrides={"wsgi.input_terminated": True},
        )
        assert response.status_code == status, response.get_data(as_text=True)


# --- schemathesis: the OpenAPI document against the running app ----------------------------------

OPERATIONS = [
    (method.upper(), path) for path, methods in openapi_document(Settings())["paths"].items() for method in methods
]
# Negative cases (requests that break the schema) exist only where a request carries data.
NEGATIVE = [op for op in OPERATIONS if op[1] in ("/api/v1/ask", "/api/v1/feedback")]


# A mark the schema allows names a document and passage the index may not have: refused with 400 by design.
# So may a question's document or country filter (400 unknown_document / unknown_country, documented in
# the 400 response): for /ask, the built-in check is replaced by one that lets only those two codes by.
EXCLUDED_CHECKS = {"/api/v1/feedback": [positive_data_acceptance], "/api/v1/ask": [positive_data_acceptance]}
UNKNOWN_NAMES = frozenset({"unknown_document", "unknown_country"})


def accepted_unless_unknown_names(ctx, response, case):
    """positive_data_acceptance, but a 400 naming a document or country the corpus lacks is by design."""
    if response.status_code == 400:
        try:
            code = response.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = None
        if code in UNKNOWN_NAMES:
            return None
    return positive_data_acceptance(ctx, response, case)


ADDITIONAL_CHECKS = {"/api/v1/ask": [accepted_unless_unknown_names]}


def _run_schemathesis(app, method: str, path: str, mode: GenerationMode, examples: int) -> None:
    # schemathesis's pytest plugin (lazy fixture loading) does not work with pytest 9.2, so its
    # strategies are driven by hypothesis directly; the checks are the same (call_and_validate).
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operation = schema[path][method]

    # Derandomised (the same examples every run) unless SCHEMATHESIS_EXAMPLES asks for a hunt: a random
    # run found, once in several, a question schemathesis judged to break the pattern that the server (and
    # jsonschema-rs) accept ("\x9e\x85\xb3'\U000ab0ff\u46c5" holds a digit and a letter), which a CI
    # run must not trip on.
    @given(case=operation.as_strategy(generation_mode=mode))
    @hsettings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize="SCHEMATHESIS_EXAMPLES" not in os.environ,
    )
    def check(case) -> None:
        case.call_and_validate(
            excluded_checks=EXCLUDED_CHECKS.get(path, []), additional_checks=ADDITIONAL_CHECKS.get(path, [])
        )

    check()


def _examples(default: int) -> int:
    """Examples per operation: SCHEMATHESIS_EXAMPLES=1000 for a longer hunt."""
    return int(os.environ.get("SCHEMATHESIS_EXAMPLES", default))


@pytest.mark.parametrize("method, path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_schemathesis_positive(app, method, path):
    _run_schemathesis(app, method, path, GenerationMode.POSITIVE, _examples(60 if path == "/api/v1/ask" else 10))


@pytest.mark.parametrize("method, path", NEGATIVE, ids=[f"{m} {p}" for m, p in NEGATIVE])
def test_schemathesis_negative(app, method, path):
    _run_schemathesis(app, method, path, GenerationMode.NEGATIVE, _examples(60))


def test_schemathesis_with_every_guard_on(served_settings, fake_retriever):
    """With a key and a rate limit the document grows 401 and 429; the app still matches it."""
    guarded = create_app(
        served_settings.replace(api_key="k" * 24, rate_limit="1000/minute", index_poll_seconds=0), fake_retriever
    )
    doc = guarded.test_client().get("/api/v1/openapi.json").get_json()
    assert {"401", "429", "503"} <= set(doc["paths"]["/api/v1/ask"]["post"]["responses"])
    assert "401" not in doc["paths"]["/api/v1/openapi.json"]["get"]["responses"]
    _run_schemathesis(guarded, "POST", "/api/v1/ask", GenerationMode.POSITIVE, 15)
    _run_schemathesis(guarded, "GET", "/api/v1/documents", GenerationMode.POSITIVE, 5)


# --- admission: answering, waiting, refused -----------------------------------------------------------


@pytest.fixture
def gated_app(fake_settings):
    encoder = GatedEncoder()
    settings = fake_settings.replace(threads=2, max_queue=1, queue_seconds=5, index_poll_seconds=0)
    app = create_app(settings, Retriever(ensure_index(settings, encoder), encoder))
    yield app, encoder
    encoder.release()


def test_requests_beyond_threads_and_queue_get_503_at_once(gated_app):
    app, encoder = gated_app
    gate = app.extensions["qa_gate"]
    encoder.hold = True
    with ThreadPoolExecutor(max_workers=3) as pool:
        held = [pool.submit(app.test_client().post, "/api/v1/ask", json={"question": "terrorism"}) for _ in range(2)]
        encoder.wait_entered(2)
        queued = pool.submit(app.test_client().post, "/api/v1/ask", json={"question": "terrorism"})
        deadline = time.monotonic() + 5
        while gate.admitted < 3:
            assert time.monotonic() < deadline
            time.sleep(0.005)

        started = time.monotonic()
        refused = app.test_client().post("/api/v1/ask", json={"question": "terrorism"})
        assert time.monotonic() - started < 0.5
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
        assert refused.get_json()["error"]["code"] == "overloaded"
        assert refused.headers["Content-Security-Policy"]  # still a normal response of the app
        # The page is guarded too; probes and static files are not.
        assert app.test_client().get("/", query_string={"q": "terrorism"}).status_code == 503
        assert app.test_client().get("/healthz").status_code == 200
        busy = app.test_client().get("/readyz")  # answers at once, and says this worker cannot admit
        assert busy.status_code == 503 and busy.get_json()["status"] == "busy"
        assert app.test_client().get("/static/style.css").status_code == 200

        encoder.release()
        assert [f.result().status_code for f in held] == [200, 200]
        assert queued.result().status_code == 200  # it waited its turn and was answered
    assert gate.admitted == 0
    assert app.test_client().post("/api/v1/ask", json={"question": "terrorism"}).status_code == 200


def test_a_request_waits_in_the_queue_no_longer_than_allowed(fake_settings):
    encoder = GatedEncoder()
    settings = fake_settings.replace(threads=1, max_queue=1, queue_seconds=0.3, index_poll_seconds=0)
    app = create_app(settings, Retriever(ensure_index(settings, encoder), encoder))
    encoder.hold = True
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            held = pool.submit(app.test_client().post, "/api/v1/ask", json={"question": "terrorism"})
            encoder.wait_entered(1)
            started = time.monotonic()
            timed_out = app.test_client().post("/api/v1/ask", json={"question": "terrorism"})
            waited = time.monotonic() - started
            assert timed_out.status_code == 503 and 0.3 <= waited < 2
            encoder.release()
            assert held.result().status_code == 200
    finally:
        encoder.release()
    assert app.extensions["qa_gate"].admitted == 0


def test_failed_requests_free_their_slot(gated_app):
    app, _ = gated_app
    client = app.test_client()
    for _ in range(5):
        assert client.post("/api/v1/ask", json={"question": ""}).status_code == 400
        assert client.post("/api/v1/ask", data="x" * 20000, content_type="application/json").status_code == 413
        assert client.get("/api/v1/nope").status_code == 404
    assert app.extensions["qa_gate"].admitted == 0
    assert client.post("/api/v1/ask", json={"question": "terrorism"}).status_code == 200
