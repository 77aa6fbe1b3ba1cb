"""Slow clients cannot starve the service (``qa_service/http/worker.py``, issue 17).

A real ``qa-service serve`` (two workers, the fake encoder) is held by 64 slow connections, half
trickling headers and half trickling bodies, while a normal client asks questions and probes
``/readyz``; and :func:`request_end`, which decides when a request has been read whole, is checked on
its own.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from qa_service.http.worker import Framing, Incomplete, Refused, expects_continue, request_end
from qa_service.settings import Settings
from tests.fake_server import fake_server
from tests.helpers import DATA

READ_TIMEOUT = Settings().read_timeout  # the shipped default is what is tested
HOLD_SECONDS = 20.0
SLOW_CONNECTIONS = 64
#: The worker checks deadlines once a second; the client notices the close within a trickle step.
SLACK = 2.5


class SlowClient(threading.Thread):
    """Trickles one byte every half second, of headers that never end or of a body; reconnects when the
    server closes the connection, until ``stop``. Records how long each connection lived and what the
    server sent before closing it."""

    HEADERS = b"POST /api/v1/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"

    def __init__(self, port: int, body: bool, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.body = body
        self.stop = stop
        self.closed: list[tuple[float, bytes]] = []  # (seconds open, first bytes the server sent)
        self.open_since: float | None = None

    def run(self) -> None:
        while not self.stop.is_set():
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                self.open_since = time.monotonic()
                if self.body:
                    s.sendall(self.HEADERS + b"Content-Length: 1000\r\n\r\n{")
                else:
                    s.sendall(self.HEADERS[:20])
                self._trickle(s)
                self.open_since = None

    def _trickle(self, s: socket.socket) -> None:
        started = self.open_since
        while not self.stop.is_set():
            readable, _, _ = select.select([s], [], [], 0.5)
            try:
                if readable:
                    self.closed.append((time.monotonic() - started, _read_all(s)))
                    return
                s.sendall(b"a")
            except OSError:
                self.closed.append((time.monotonic() - started, b""))
                return


def _read_all(s: socket.socket) -> bytes:
    data = b""
    s.settimeout(5)
    while chunk := s.recv(4096):
        data += chunk
    return data


def _get(port: int, path: str) -> tuple[int, float, bytes]:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, time.monotonic() - started, response.read()
    finally:
        conn.close()


@pytest.mark.long
def test_slow_connections_never_starve_questions_or_the_probe(tmp_path: Path):
    lines = (DATA / "statement_questions.jsonl").read_text().splitlines()
    questions = [json.loads(line)["question"] for line in lines if line][:20]
    assert len(questions) == 20
    with fake_server(tmp_path) as (port, _log):
        stop = threading.Event()
        slow = [SlowClient(port, body=i % 2 == 1, stop=stop) for i in range(SLOW_CONNECTIONS)]
        for client in slow:
            client.start()
        time.sleep(1.0)  # every slow connection is open and has sent something

        probes: list[tuple[int, float]] = []

        def probe() -> None:
            while not stop.is_set():
                status, took, _ = _get(port, "/readyz")
                probes.append((status, took))
                stop.wait(0.25)

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        answers = []
        started = time.monotonic()
        for i, question in enumerate(questions):
            answers.append(_get(port, "/api/v1/ask?question=" + quote(question)))
            # 20 questions spread over the hold, so that they meet every phase of the slow clients
            time.sleep(max(0.0, started + (i + 1) * (HOLD_SECONDS - 1) / len(questions) - time.monotonic()))
        assert [c.is_alive() for c in slow] == [True] * SLOW_CONNECTIONS  # still attacking at the end
        open_at_end = [time.monotonic() - c.open_since for c in slow if c.open_since is not None]
        stop.set()
        prober.join(timeout=15)
        for client in slow:
            client.join(timeout=15)

    assert [status for status, _, _ in answers] == [200] * 20
    assert max(took for _, took, _ in answers) < 1.0, [round(t, 2) for _, t, _ in answers]
    assert all(json.loads(body)["answers"] for _, _, body in answers)
    assert len(probes) >= 40
    assert {status for status, _ in probes} == {200}
    assert max(took for _, took in probes) < 1.0
    # Every slow connection was closed by the deadline, at least once, and told why.
    for client in slow:
        assert client.closed, "a slow connection was never closed"
        for lived, sent in client.closed:
            assert READ_TIMEOUT - 0.5 <= lived <= READ_TIMEOUT + SLACK, lived
            assert sent.startswith(b"HTTP/1.1 408 "), sent[:40]
    assert max(open_at_end) <= READ_TIMEOUT + SLACK


# --- where a request ends ----------------------------------------------------------------------------

POST = b"POST /api/v1/ask HTTP/1.1\r\nHost: x\r\n"


def test_a_request_without_a_body_ends_with_its_headers():
    data = b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\n"
    assert request_end(data, 100) == data.index(b"GET /healthz")
    assert request_end(b"\r\n" + data, 100) == data.index(b"GET /healthz") + 2  # empty lines before it


@pytest.mark.parametrize("cut", [5, 30, 40, 48])
def test_a_request_is_incomplete_until_its_last_body_byte(cut):
    data = POST + b"Content-Length: 10\r\n\r\n0123456789"
    with pytest.raises(Incomplete):
        request_end(data[:cut], 100)
    with pytest.raises(Incomplete):
        request_end(data[:-1], 100)
    assert request_end(data + b"GET", 100) == len(data)


def test_a_chunked_body_ends_after_its_last_chunk_and_trailers():
    body = b"5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\n"
    data = POST + b"Transfer-Encoding: chunked\r\n\r\n" + body
    for end in range(len(data)):
        with pytest.raises(Incomplete):
            request_end(data[:end], 100)
    with pytest.raises(Incomplete):
        request_end(data, 100)  # the empty line after the trailers has not come
    assert request_end(data + b"\r\n", 100) == len(data) + 2
    trailers = data + b"X-Checksum: 1\r\n\r\n"
    assert request_end(trailers + b"GET", 100) == len(trailers)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (POST + b"Content-Length: 101\r\n\r\n", 413),
        (POST + b"Transfer-Encoding: chunked\r\n\r\n40\r\n" + b"a" * 64 + b"\r\n40\r\n", 413),
        (POST + b"Transfer-Encoding: gzip\r\n\r\n", 501),
        (POST + b"Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (POST + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
        (POST + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\n", 400),
        (POST + b"Content-Length: -1\r\n\r\n", 400),
        (POST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (POST + b"X-Big: " + b"a" * 70_000, 431),
        (b"\r\n" * 600, 400),
        (POST + b"Transfer-Encoding: chunked\r\n\r\n" + b"1;" + b"e" * 2000, 400),
        (POST + b"Transfer-Encoding: chunked\r\n\r\n" + b"1;" + b"e" * 1000 + b"\r\na\r\n" * 1, 0),
        (POST + b"Transfer-Encoding: chunked\r\n\r\n" + (b"1;" + b"e" * 1000 + b"\r\na\r\n") * 80, 413),
        (POST + b"Transfer-Encoding: chunked\r\n\r\n0\r\nX-Trailer: " + b"t" * 70_000, 431),
        (POST + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n", 400),
    ],
)
def test_requests_refused_before_they_are_read_whole(request_bytes, status):
    if not status:  # chunk extensions are allowed, within bounds
        with pytest.raises(Incomplete):
            request_end(request_bytes, 100)
        return
    with pytest.raises(Refused) as refused:
        request_end(request_bytes, 100)
    assert refused.value.status == status


@pytest.mark.parametrize(
    "data",
    [
        POST + b"Content-Length: 10\r\n\r\n0123456789",
        POST + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
        b"\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
def test_framing_fed_a_byte_at_a_time_finds_the_same_end(data):
    framing = Framing(100)
    for end in range(1, len(data)):
        with pytest.raises(Incomplete):
            framing.end(data[:end])
    assert framing.end(data + b"GET / HTTP/1.1") == len(data) == request_end(data + b"GET / HTTP/1.1", 100)


def test_100_continue_is_expected_only_from_http_1_1_once_the_headers_are_in():
    head = b"POST /api/v1/ask HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n"
    assert not expects_continue(head)
    assert expects_continue(head + b"\r\n")
    assert not expects_continue(head.replace(b"HTTP/1.1", b"HTTP/1.0") + b"\r\n")
