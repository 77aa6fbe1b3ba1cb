"""The edges of HTTP on the real server (issue 17): HEAD on every GET route, credentials kept out of the
logs, the server's own errors as JSON with the security headers, the reading deadline, ``Expect:
100-continue``, pipelining and chunked bodies (``qa_service/http/worker.py``, ``server.py``)."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import time
from pathlib import Path

import pytest

from qa_service.http.app import SECURITY_HEADERS, create_app
from qa_service.index import ensure_index
from qa_service.ranking import Retriever
from tests.fake_server import fake_server
from tests.helpers import STATEMENT_ID, FakeEncoder

KEY = "k3y-Sh0uld-N3ver-Be-Logged"
READ_TIMEOUT = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """A real server with an API key, a short reading deadline and the access log on."""
    tmp = tmp_path_factory.mktemp("edges")
    with fake_server(tmp, QA_API_KEY=KEY, QA_READ_TIMEOUT=str(READ_TIMEOUT), QA_LOG_LEVEL="info") as running:
        yield running


def _request(port: int, method: str, path: str, headers: dict | None = None, body: bytes | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def _raw(port: int, data: bytes, timeout: float = 10) -> tuple[bytes, float]:
    """Send bytes on a new connection; everything the server sent until it closed, and when it closed."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        received = b""
        while chunk := s.recv(65536):
            received += chunk
    return received, time.monotonic() - started


def _json_error(response: bytes) -> tuple[int, dict[str, str], dict]:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body)


# --- HEAD --------------------------------------------------------------------------------------------

GET_PATHS = [
    "/",
    "/?q=terrorism",
    "/healthz",
    "/readyz",
    "/api/v1/ask?question=terrorism",
    "/api/v1/ask?question=terrorism&top_k=2&document=" + STATEMENT_ID,
    "/api/v1/ask?question=",  # an error answers the same way too
    "/api/v1/documents",
    "/api/v1/documents/" + STATEMENT_ID,
    "/api/v1/documents/none-such",
    "/api/v1/openapi.json",
    "/static/style.css",
]


@pytest.mark.parametrize("path", GET_PATHS)
def test_head_answers_like_get(server, path):
    port, _ = server
    headers = {"X-API-Key": KEY}
    get_status, get_headers, get_body = _request(port, "GET", path, headers)
    head_status, head_headers, head_body = _request(port, "HEAD", path, headers)
    assert head_status == get_status
    assert head_body == b""
    assert head_headers["Content-Type"] == get_headers["Content-Type"]
    slack = 4 if "q=" in path or "question=" in path else 0  # an answer's timing may take a digit more or less
    assert abs(int(head_headers["Content-Length"]) - len(get_body)) <= slack


def test_every_get_route_of_the_app_answers_head(fake_settings):
    encoder = FakeEncoder()
    settings = fake_settings.replace(index_poll_seconds=0)
    app = create_app(settings, Retriever(ensure_index(settings, encoder), encoder))
    client = app.test_client()
    samples = {"doc_id": STATEMENT_ID, "filename": "style.css"}
    rules = [r for r in app.url_map.iter_rules() if "GET" in r.methods]
    assert len(rules) >= 7
    for rule in rules:
        assert "HEAD" in rule.methods, rule
        path = rule.build({k: samples[k] for k in rule.arguments})[1]
        if rule.endpoint == "api.ask":
            path += "?question=terrorism"
        get, head = client.get(path), client.head(path)
        assert (head.status_code, head.data) == (get.status_code, b""), path
        if rule.rule == "/metrics":
            continue  # the process's own counters (garbage collections, ...) change between the two requests
        slack = 4 if "question=" in path else 0
        assert abs(int(head.headers["Content-Length"]) - len(get.data)) <= slack, path


# --- credentials in the logs -------------------------------------------------------------------------


def test_credentials_never_reach_the_log(server):
    port, log = server
    basic_user = base64.b64encode(f"{KEY}:".encode()).decode()
    basic_both = base64.b64encode(f"user:{KEY}".encode()).decode()
    attempts = [
        {"Authorization": f"Basic {basic_user}"},
        {"Authorization": f"Basic {basic_both}"},
        {"Authorization": f"Bearer {KEY}"},
        {"X-API-Key": KEY},
        {"X-API-Key": KEY, "Referer": f"http://127.0.0.1/?api_key={KEY}"},
    ]
    for headers in attempts:
        status, _, _ = _request(port, "GET", "/api/v1/ask?question=terrorism", headers)
        assert status in (200, 401)
    for path in (f"/api/v1/ask?question=terrorism&api_key={KEY}", f"/?key={KEY}", f"/api/v1/documents?key={KEY}"):
        _request(port, "GET", path, {"X-API-Key": KEY})
    # Malformed requests that gunicorn's parser rejects, with the key in the request line or a header.
    _raw(port, f"GET /?api_key={KEY} HTTP/1.1 junk\r\nHost: x\r\n\r\n".encode())
    _raw(port, f"GET /?api_key={KEY} HTTP/9.9\r\nHost: x\r\n\r\n".encode())
    _raw(port, f"GET / HTTP/1.1\r\nHost: x\r\nX-API-Key {KEY}\r\n\r\n".encode())
    _raw(port, f"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {basic_both}\r\nBad\x01Name: v\r\n\r\n".encode())
    time.sleep(0.5)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert '"GET /api/v1/ask HTTP/1.1" 200' in text  # the access log is on and names the route
    assert "invalid request" in text  # and the parser's errors were logged
    for secret in (KEY, basic_user, basic_both, basic_both.rstrip("=")[:-2]):
        assert secret not in text
    assert "question=" not in text  # no query string at all: questions are the users' business


# --- the server's own errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"POST /api/v1/ask HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nxx", 501, "not_implemented"),
        (b"POST /api/v1/ask HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n", 413, "payload_too_large"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431, None),
        (b"GET / HTTP/1.1 junk\r\nHost: x\r\n\r\n", 400, "bad_request"),
        (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400, "bad_request"),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n", 417, "expectation_failed"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad\x01Name: v\r\n\r\n", 400, "bad_request"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400, "bad_request"),  # TLS on the HTTP port
    ],
)
def test_the_servers_own_errors_are_json_with_the_security_headers(server, raw, status, code):
    port, _ = server
    response, _ = _raw(port, raw)
    got_status, headers, body = _json_error(response)
    assert got_status == status
    assert body["error"]["code"] == (code or "request_header_fields_too_large")
    assert body["error"]["message"]
    assert headers["Content-Type"] == "application/json"
    assert headers["Connection"] == "close"
    for name, value in SECURITY_HEADERS.items():
        assert headers[name] == value


# --- reading: deadline, 100-continue, pipelining, chunked ----------------------------------------------


@pytest.mark.parametrize("sent", [b"", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"])
def test_a_request_not_sent_in_time_gets_408_and_the_connection_closes(server, sent):
    port, _ = server
    response, took = _raw(port, sent)
    assert READ_TIMEOUT - 0.2 <= took <= READ_TIMEOUT + 1.5
    status, _, body = _json_error(response)
    assert (status, body["error"]["code"]) == (408, "request_timeout")


def test_an_idle_kept_alive_connection_is_closed_without_an_error(server):
    port, _ = server
    response, _ = _raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", timeout=15)
    assert response.startswith(b"HTTP/1.1 200 ")
    assert response.count(b"HTTP/1.1") == 1  # no 408 after the answer


def test_expect_100_continue_is_answered_before_the_body_is_sent(server):
    port, _ = server
    body = json.dumps({"question": "terrorism"}).encode()
    head = (
        "POST /api/v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
        f"X-API-Key: {KEY}\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(head.encode())
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(body)
        received = b""
        while chunk := s.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 ")
    assert b"100 Continue" not in received  # only once


def test_pipelined_and_chunked_requests_are_answered_in_order(server):
    port, _ = server
    body = json.dumps({"question": "terrorism", "top_k": 1}).encode()
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:7], body[7:])) + b"0\r\n\r\n"
    ask = b"POST /api/v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-API-Key: %s\r\n" % KEY.encode()
    data = (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        + ask
        + b"Transfer-Encoding: chunked\r\n\r\n"
        + chunked
        + b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    response, _ = _raw(port, data)
    assert response.count(b"HTTP/1.1 200 OK") == 3
    first, second, third = (response.index(x) for x in (b'{"status":"ok"}', b'"answers"', b'"status":"ready"'))
    assert first < second < third


def test_a_slow_but_timely_body_is_answered(server, tmp_path: Path):
    port, _ = server
    body = json.dumps({"question": "terrorism"}).encode()
    head = (
        "POST /api/v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
        f"X-API-Key: {KEY}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(head.encode())
        for part in (body[:5], body[5:12], body[12:]):
            time.sleep(0.4)
            s.sendall(part)
        received = b""
        while chunk := s.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 ")
