"""Request ids: a valid ``X-Request-ID`` is kept, an invalid one replaced, a missing one made; the id
comes back in the response header and in every error body (the access log: test_service_signals.py)."""

from __future__ import annotations

import re

import pytest

from qa_service.http.app import create_app
from qa_service.index import ensure_index
from qa_service.ranking import Retriever
from qa_service.settings import Settings

from .helpers import CORPUS, FakeEncoder

MADE = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rid")
    settings = Settings(corpus_dir=CORPUS, index_dir=folder / "index", data_dir=folder / "data", index_poll_seconds=0)
    encoder = FakeEncoder()
    return create_app(settings, Retriever(ensure_index(settings, encoder), encoder)).test_client()


@pytest.mark.parametrize("given", ["abc-123", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1", "x" * 128, "!~"])
def test_a_valid_id_is_kept(client, given):
    r = client.get("/api/v1/ask?question=terrorism", headers={"X-Request-ID": given})
    assert r.status_code == 200 and r.headers["X-Request-ID"] == given


@pytest.mark.parametrize("given", ["has space", "x" * 129, "tab\there", "naïve", "\x7f", ""])
def test_an_invalid_id_is_replaced_not_refused(client, given):
    r = client.get("/api/v1/ask?question=terrorism", headers={"X-Request-ID": given})
    assert r.status_code == 200
    assert MADE.fullmatch(r.headers["X-Request-ID"])


def test_each_request_without_an_id_gets_its_own(client):
    ids = {client.get("/healthz").headers["X-Request-ID"] for _ in range(5)}
    assert len(ids) == 5 and all(MADE.fullmatch(i) for i in ids)


@pytest.mark.parametrize(
    "method, path, kwargs, status",
    [
        ("GET", "/no/such/route", {}, 404),
        ("DELETE", "/api/v1/ask", {}, 405),
        ("POST", "/api/v1/ask", {"data": "x", "content_type": "text/plain"}, 415),
        ("POST", "/api/v1/ask", {"json": {"question": ""}}, 400),
        ("POST", "/api/v1/ask", {"data": "x" * 20000, "content_type": "application/json"}, 413),
        ("GET", "/api/v1/documents/nope", {}, 404),
    ],
)
def test_every_error_body_carries_the_id(client, method, path, kwargs, status):
    r = client.open(path, method=method, headers={"X-Request-ID": "trace-77"}, **kwargs)
    assert r.status_code == status
    assert r.get_json()["error"]["request_id"] == "trace-77" == r.headers["X-Request-ID"]


def test_the_error_page_shows_the_id(client):
    r = client.get("/no/such/page", headers={"Accept": "text/html", "X-Request-ID": "page-err-1"})
    assert r.status_code == 404 and "page-err-1" in r.get_data(as_text=True)
