"""``/metrics`` through the Flask test client: the names, what is counted (and what is not), the 503s
of the admission gate and the 429s of the rate limit, the encoder's timing, and who may read it.

The sum over gunicorn's worker processes is checked against the real server in
``test_service_signals.py``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families

from qa_service.http.app import create_app
from qa_service.http.metrics import TimedEncoder
from qa_service.index import ensure_index
from qa_service.ranking import Retriever
from qa_service.settings import Settings

from .helpers import CORPUS, FakeEncoder, GatedEncoder

NAMES = {
    "qa_requests",
    "qa_request_duration_seconds",
    "qa_encoder_seconds",
    "qa_questions",
    "qa_rejected_requests",
    "qa_feedback",
    "qa_index_documents",
    "qa_index_passages",
    "qa_index_build_seconds",
}


def samples(client, **headers) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics, keyed by name and sorted labels."""
    r = client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.content_type.startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.get_data(as_text=True))
        for s in family.samples
    }


def value(snapshot: dict, name: str, **labels) -> float:
    return snapshot.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("metrics-index")
    ensure_index(Settings(corpus_dir=CORPUS, index_dir=folder), FakeEncoder())
    return folder


@pytest.fixture
def make_app(index_dir, tmp_path):
    def _make(encoder=None, **changes):
        settings = Settings(
            corpus_dir=CORPUS, index_dir=index_dir, data_dir=tmp_path / "data", index_poll_seconds=0
        ).replace(**changes)
        encoder = encoder or FakeEncoder()
        return create_app(settings, Retriever(ensure_index(settings, encoder), encoder))

    return _make


def test_names_and_counts_match_the_requests_sent(make_app):
    client = make_app().test_client()
    before = samples(client)
    for n in range(7):
        assert client.get(f"/api/v1/ask?question=terrorism+{n}").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    assert client.post("/api/v1/ask", json={}).status_code == 400
    assert client.open("/api/v1/ask", method="BREW").status_code == 405
    after = samples(client)
    assert {name.removesuffix("_total").removesuffix("_count") for name, _ in after} >= NAMES
    delta = lambda name, **labels: value(after, name, **labels) - value(before, name, **labels)  # noqa: E731
    assert delta("qa_requests_total", route="api.ask", method="GET", status="200") == 7
    assert delta("qa_requests_total", route="unmatched", method="GET", status="404") == 1
    assert delta("qa_requests_total", route="api.ask", method="POST", status="400") == 1
    assert delta("qa_requests_total", route="unmatched", method="other", status="405") == 1
    assert delta("qa_request_duration_seconds_count", route="api.ask") == 8
    assert delta("qa_questions_total", no_answer="false") + delta("qa_questions_total", no_answer="true") == 7
    # /metrics does not count itself, so scraping does not move the figures.
    assert all(dict(labels).get("route") != "metrics" for _, labels in after)
    assert value(after, "qa_index_passages") == 15 and value(after, "qa_index_documents") == 1
    assert value(after, "qa_index_build_seconds") > 0


def test_feedback_is_counted(make_app):
    from .helpers import STATEMENT_ID

    client = make_app().test_client()
    before = samples(client)
    body = {"question": "Who spoke?", "document": STATEMENT_ID, "passage": 4, "helpful": False}
    assert client.post("/api/v1/feedback", json=body).status_code == 201
    after = samples(client)
    assert (
        value(after, "qa_feedback_total", helpful="false", via="api")
        - value(before, "qa_feedback_total", helpful="false", via="api")
        == 1
    )


def test_the_encoder_is_timed_per_question():
    encoder = TimedEncoder(FakeEncoder())
    client_samples = lambda: {  # noqa: E731
        s.name: s.value
        for f in text_string_to_metric_families(__import__("prometheus_client").generate_latest().decode())
        for s in f.samples
    }
    before = client_samples()["qa_encoder_seconds_count"]
    encoder.encode_query("one")
    encoder.encode_query("two")
    assert client_samples()["qa_encoder_seconds_count"] - before == 2
    assert encoder.dim == 64 and encoder.identity == "fake:bow-64"  # everything else passes through


def test_metrics_pass_a_full_gate_and_count_its_503s(make_app):
    encoder = GatedEncoder()
    app = make_app(encoder, threads=1, max_queue=0, queue_seconds=0.1)
    client = app.test_client()
    before = samples(client)
    encoder.hold = True
    with ThreadPoolExecutor(max_workers=1) as pool:
        held = pool.submit(lambda: app.test_client().get("/api/v1/ask?question=terrorism"))
        encoder.wait_entered(1)
        assert client.get("/api/v1/ask?question=terrorism").status_code == 503
        during = samples(client)  # the gate is full: /metrics still answers
        encoder.release()
        assert held.result(timeout=10).status_code == 200
    assert (
        value(during, "qa_rejected_requests_total", reason="overloaded")
        - value(before, "qa_rejected_requests_total", reason="overloaded")
        == 1
    )


def test_429s_are_counted_and_metrics_pass_the_rate_limit(make_app):
    client = make_app(rate_limit="2/minute").test_client()
    before = samples(client)
    statuses = [client.get("/api/v1/ask?question=terrorism").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    after = samples(client)
    after = samples(client)  # scraping three times is not limited
    assert (
        value(after, "qa_rejected_requests_total", reason="rate_limited")
        - value(before, "qa_rejected_requests_total", reason="rate_limited")
        == 1
    )


def test_metrics_need_the_api_key_when_one_is_set(make_app):
    client = make_app(api_key="metrics-key-123").test_client()
    r = client.get("/metrics")
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    samples(client, **{"X-API-Key": "metrics-key-123"})
    samples(client, Authorization="Bearer metrics-key-123")


def test_metrics_can_be_turned_off(make_app):
    client = make_app(metrics=False).test_client()
    assert client.get("/metrics").status_code == 404
    assert "/metrics" not in client.get("/api/v1/openapi.json").get_json()["paths"]
