"""Helpers for the reliability tests: encoders that hold a request in flight on purpose, and a real
gunicorn server (``qa_service.server.run``) serving an app built on them.

Nothing here is reachable from the production service: a slow request exists only in a process the
tests start with ``python -m tests.support serve ...``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from .conftest import ROOT, FakeEncoder


class GatedEncoder(FakeEncoder):
    """A fake encoder whose question embedding waits while ``hold`` is set, to keep requests in flight.

    ``entered`` counts the questions that reached the encoder; ``release()`` lets them all go.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.hold = False
        self.entered = 0
        self._entered_lock = threading.Lock()
        self._gate = threading.Event()

    def encode_query(self, text: str) -> np.ndarray:
        if self.hold:
            with self._entered_lock:
                self.entered += 1
            if not self._gate.wait(timeout=30):
                raise TimeoutError("test gate never released")
        return super().encode_query(text)

    def wait_entered(self, count: int, timeout: float = 10.0) -> None:
        """Block until ``count`` questions are held."""
        deadline = time.monotonic() + timeout
        while self.entered < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self.entered} of {count} requests reached the encoder")
            time.sleep(0.005)

    def release(self) -> None:
        self._gate.set()


class SlowEncoder(FakeEncoder):
    """A fake encoder that takes ``delay`` seconds per question and marks each start in ``marker_dir``."""

    def __init__(self, delay: float, marker_dir: Path) -> None:
        super().__init__()
        self.delay = delay
        self.marker_dir = marker_dir

    def encode_query(self, text: str) -> np.ndarray:
        (self.marker_dir / f"started-{time.monotonic_ns()}").touch()
        time.sleep(self.delay)
        return super().encode_query(text)


def free_port() -> int:
    """A TCP port free on the loopback interface (a small race with other processes is accepted)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 30.0
) -> tuple[int, dict[str, str], bytes, float]:
    """One HTTP request to the loopback server: status, headers, body and seconds taken."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, dict(response.getheaders()), data, time.monotonic() - started
    finally:
        conn.close()


def ask(port: int, question: str = "terrorism", timeout: float = 30.0) -> tuple[int, dict[str, str], bytes, float]:
    """POST a question to the loopback server."""
    body = json.dumps({"question": question}).encode()
    return request(port, "POST", "/api/v1/ask", body, {"Content-Type": "application/json"}, timeout)


def wait_until_up(port: int, process: subprocess.Popen, timeout: float = 60.0) -> None:
    """Wait for /healthz to answer, failing early if the server process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if request(port, "GET", "/healthz", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError("server did not come up")


def start_slow_server(
    tmp: Path,
    delay: float,
    workers: int = 1,
    threads: int = 1,
    max_queue: int = 1,
    queue_seconds: float = 5.0,
    log_path: Path | None = None,
) -> tuple[subprocess.Popen, int, Path]:
    """Start ``python -m tests.support serve`` (real gunicorn, slow fake encoder) on a free port.

    Returns the process, its port and the folder where each question's start is marked.
    """
    port = free_port()
    markers = tmp / "markers"
    markers.mkdir(exist_ok=True)
    log = open(log_path or tmp / "server.log", "wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support",
            "serve",
            "--port",
            str(port),
            "--index-dir",
            str(tmp / "index"),
            "--delay",
            str(delay),
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--max-queue",
            str(max_queue),
            "--queue-seconds",
            str(queue_seconds),
            "--markers",
            str(markers),
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    wait_until_up(port, process)
    return process, port, markers


def wait_for_marker(markers: Path, count: int = 1, timeout: float = 10.0) -> None:
    """Block until ``count`` questions have reached the slow encoder."""
    deadline = time.monotonic() + timeout
    while len(list(markers.iterdir())) < count:
        if time.monotonic() > deadline:
            raise TimeoutError("the slow request never reached the encoder")
        time.sleep(0.01)


def _serve(args: argparse.Namespace) -> None:
    from qa_service.http.app import create_app
    from qa_service.http.server import run
    from qa_service.index import ensure_index
    from qa_service.ranking import Retriever
    from qa_service.settings import Settings

    settings = Settings(
        corpus_dir=ROOT / "corpus",
        index_dir=Path(args.index_dir),
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        threads=args.threads,
        max_queue=args.max_queue,
        queue_seconds=args.queue_seconds,
        index_poll_seconds=0,
        log_level="warning",
    )
    ensure_index(settings, FakeEncoder())

    def factory():
        encoder = SlowEncoder(args.delay, Path(args.markers))
        return create_app(settings, Retriever(ensure_index(settings, encoder), encoder))

    run(settings, app_factory=factory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--index-dir", required=True)
    serve.add_argument("--delay", type=float, default=1.0)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--threads", type=int, default=1)
    serve.add_argument("--max-queue", type=int, default=1)
    serve.add_argument("--queue-seconds", type=float, default=5.0)
    serve.add_argument("--markers", required=True)
    args = parser.parse_args()
    if args.command == "serve":
        _serve(args)


if __name__ == "__main__":
    main()
