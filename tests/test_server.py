"""The production server (gunicorn from ``qa_service.server``) in a real process on the loopback:
overload answered at once with 503, bodies over the limit refused even when chunked, and SIGTERM
letting requests in flight finish.

The app served answers slowly on purpose (``tests.helpers.SlowEncoder``), so that requests are
reliably in flight when the test acts.
"""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from .helpers import ask, request, start_slow_server, wait_for_marker

DELAY = 1.5


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory):
    """One worker answering one question at a time (DELAY seconds each) with one place in its queue."""
    tmp = tmp_path_factory.mktemp("slow-server")
    process, port, markers = start_slow_server(tmp, DELAY, workers=1, threads=1, max_queue=1)
    yield port, markers
    process.terminate()
    process.wait(timeout=40)


def _in_background(fn, *args):
    box: dict = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", fn(*args)), daemon=True)
    thread.start()
    return thread, box


def test_overload_is_refused_at_once_with_retry_after(slow_server):
    port, markers = slow_server
    before = len(list(markers.iterdir()))
    answering, first = _in_background(ask, port, "Who delivered the statement?")
    wait_for_marker(markers, before + 1)
    waiting, second = _in_background(ask, port, "terrorism")
    time.sleep(0.3)  # let it take the one place in the queue

    with ThreadPoolExecutor(max_workers=6) as pool:
        refused = list(pool.map(lambda _: ask(port, "terrorism"), range(6)))
    for status, headers, body, seconds in refused:
        assert status == 503
        assert headers["Retry-After"] == "1"
        assert json.loads(body)["error"]["code"] == "overloaded"
        assert seconds < DELAY / 3, "a refusal must not wait for the requests ahead of it"
    # Probes are never refused: the worker is alive, only busy.
    assert request(port, "GET", "/healthz")[0] == 200

    answering.join(timeout=30)
    waiting.join(timeout=30)
    status, _, body, seconds = first["result"]
    assert status == 200 and json.loads(body)["answers"] and seconds >= DELAY
    status, _, body, seconds = second["result"]
    assert status == 200 and seconds >= 2 * DELAY - 0.5  # waited for the first, then was answered
    # The slots are free again.
    assert ask(port, "terrorism")[0] == 200


def _chunked_post(port: int, chunks: list[bytes]) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            "POST", "/api/v1/ask", body=iter(chunks), headers={"Content-Type": "application/json"}, encode_chunked=True
        )
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_body_limit_holds_for_chunked_bodies(slow_server):
    port, _ = slow_server
    big = b'{"question": "' + b"a" * 20000 + b'"}'
    status, body = _chunked_post(port, [big[i : i + 4096] for i in range(0, len(big), 4096)])
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    # Exactly at the limit is still read whole (and then judged on its content).
    limit = 16 * 1024
    exact = b'{"question": "' + b"a" * (limit - 16) + b'"}'
    assert len(exact) == limit
    status, body = _chunked_post(port, [exact[:9000], exact[9000:]])
    assert status == 400 and body["error"]["code"] == "question_too_long"
    # A chunked body under the limit is read whole and answered.
    status, body = _chunked_post(port, [b'{"question": "terr', b'orism", "top_k": 2}'])
    assert status == 200 and len(body["answers"]) == 2


def test_content_length_over_the_limit_is_refused_before_reading(slow_server):
    port, _ = slow_server
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        # Announce 10 MB and send nothing: the answer must come from the header alone.
        conn.putrequest("POST", "/api/v1/ask")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(10_000_000))
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["error"]["code"] == "payload_too_large"
    finally:
        conn.close()


def test_sigterm_lets_requests_in_flight_finish(tmp_path):
    process, port, markers = start_slow_server(tmp_path, delay=2.0, workers=1, threads=1, max_queue=1)
    try:
        slow, box = _in_background(ask, port, "When did Kazakhstan accede to the nuclear terrorism convention?")
        wait_for_marker(markers, 1)
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        slow.join(timeout=30)
        status, _, body, _ = box["result"]
        assert status == 200, body
        answer = json.loads(body)
        assert answer["answers"] and answer["question"].startswith("When did Kazakhstan")
        assert process.wait(timeout=30) == 0
        assert time.monotonic() - sent < 25, "shutdown waited for the request, not for the graceful timeout"
        with pytest.raises(OSError):
            request(port, "GET", "/healthz", timeout=2)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = (tmp_path / "server.log").read_text(errors="replace")
    assert "Traceback" not in log, log


def test_server_threads_leave_one_free_to_refuse():
    from qa_service.http.server import server_threads
    from qa_service.settings import Settings

    assert server_threads(Settings(threads=4, max_queue=4)) == 9
    assert server_threads(Settings(threads=1, max_queue=0)) == 2


def test_kept_alive_connections_are_shared_between_workers(tmp_path):
    """Two workers on one listening socket: each takes about half of 16 connections opened one after
    another (without the share, the worker that wins the accept races takes most of them)."""
    import re
    import socket

    process, port, _ = start_slow_server(tmp_path, delay=0.0, workers=2, threads=1, max_queue=1)
    connections = []
    try:
        for _ in range(16):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            connections.append(sock)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    finally:
        for sock in connections:
            sock.close()
        process.terminate()
        process.wait(timeout=40)
    pids = re.findall(r'"GET /healthz HTTP/1.1" 200 .* pid=<(\d+)>', (tmp_path / "server.log").read_text())
    pids = pids[-16:]  # before them, the probe that waited for the server to start
    counts = sorted(pids.count(pid) for pid in set(pids))
    assert len(counts) == 2 and counts[1] - counts[0] <= 4, counts


def test_a_worker_over_its_share_of_connections_stops_accepting_but_never_all_do():
    from qa_service.http.worker import ConnectionShare

    share = ConnectionShare()
    share.add(10)
    assert not share.over(5, 2)  # half of 10
    assert share.over(6, 2) and share.over(7, 2)  # more than (10 + 1) / 2
    assert not share.over(10, 1)  # a lone worker takes every connection
    for split in ([10, 0], [6, 4], [4, 3, 3], [9, 1, 0], [0, 0, 10]):
        totals = ConnectionShare()
        totals.add(sum(split))
        assert not all(totals.over(own, len(split)) for own in split)
