"""What the tests share besides fixtures: data paths, fake encoders, and servers started in real processes.

- Paths: the repository, the shipped corpus, the test data, the ONNX export cache, the browser's.
- Fakes: :class:`FakeEncoder` (deterministic bag of words, no model), :class:`GatedEncoder` (holds questions
  in flight until released), :class:`SlowEncoder` (takes a fixed time per question).
- Servers: :func:`free_port`, :func:`wait_until_up` (the one wait-until-ready loop), :func:`start_server` /
  :func:`stop_server`, :func:`request` / :func:`ask` over HTTP, and :func:`start_slow_server`, which runs
  this module as ``python -m tests.helpers serve``: real gunicorn serving an app on a slow fake encoder.

Nothing here is reachable from the production service: a slow request exists only in a process the tests
start themselves. Fixtures live in ``conftest.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# -- paths ----------------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
DATA = Path(__file__).resolve().parent / "data"
#: Where the ONNX export of the model is cached across test runs (gitignored, like the service's own).
MODEL_CACHE = ROOT / "embeddings" / "models"
#: The one document of the shipped corpus.
STATEMENT_ID = "kazakhstan-statement-measures-to-eliminate-international-terrorism"
#: Debian's Chromium (``make test`` installs it when missing); no tool here downloads a browser.
CHROMIUM = Path(os.environ.get("QA_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
#: Screenshots of the main states of the page (git-ignored).
ARTIFACTS = ROOT / "test-artifacts" / "browser"
#: The 415 UN General Debate statements, when ../shared is beside this checkout (read in place, never copied).
UNGD_DATASET = ROOT.parent / "shared" / "datasets" / "un_general_debate_subset"


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSON-lines file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# -- fake encoders --------------------------------------------------------------------------------------


class FakeEncoder:
    """A deterministic bag-of-words encoder: texts sharing words get similar unit vectors.

    Fast and model-free, for tests of storage, staleness, ranking mechanics and the HTTP layer. ``calls``
    counts the texts embedded for an index, ``queries`` the questions embedded.
    """

    def __init__(self, dim: int = 64, identity: str = "fake:bow-64") -> None:
        self._dim = dim
        self._identity = identity
        self.calls = 0
        self.queries = 0

    @property
    def identity(self) -> str:
        return self._identity

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def max_tokens(self) -> int:
        return 256

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 2

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self._dim, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            h = int(hashlib.md5(word.encode()).hexdigest(), 16)
            v[h % self._dim] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def encode(
        self, texts: Sequence[str], batch_size: int = 32, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        self.calls += len(texts)
        if progress:
            progress(len(texts))
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self._dim), np.float32)

    def encode_spans(self, texts, spans, batch_size=32, progress=None):
        vectors = self.encode(texts, batch_size, progress)
        pooled = [
            np.stack([self._vector(t[a:b]) for a, b in s]) if s else np.zeros((0, self._dim), np.float32)
            for t, s in zip(texts, spans)
        ]
        return vectors, pooled

    def encode_query(self, text: str) -> np.ndarray:
        self.queries += 1
        return self._vector(text)

    def warm_up(self) -> None:
        pass

    def prepare(self) -> None:
        pass

    def is_prepared(self) -> bool:
        return True


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


def count_model_runs(encoder, monkeypatch) -> list[str]:
    """Count the runs of a real encoder's model (not its cache hits) for one test: the returned list gets
    the text of every question or batch the model embeds.

    Wraps, on this instance only, the method each backend calls on a cache miss: ``_encode_one`` for ONNX
    Runtime, ``_encode_batch`` for sentence-transformers.
    """
    name = "_encode_one" if hasattr(encoder, "_encode_one") else "_encode_batch"
    real = getattr(encoder, name)
    runs: list[str] = []

    def counted(texts, *args, **kwargs):
        runs.append(texts)
        return real(texts, *args, **kwargs)

    monkeypatch.setattr(encoder, name, counted)
    return runs


# -- servers in real processes --------------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on the loopback interface (a small race with other processes is
    accepted): all bound at once, so that none is handed out twice."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def free_port() -> int:
    """A TCP port free on the loopback interface."""
    return free_ports(1)[0]


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


def _tail(log: Path | None) -> str:
    return ":\n" + log.read_text(errors="replace")[-4000:] if log and log.exists() else ""


def wait_until_up(
    port: int, process: subprocess.Popen, timeout: float = 60.0, path: str = "/healthz", log: Path | None = None
) -> None:
    """Wait until ``path`` answers 200 on the loopback ``port``, failing early if ``process`` died.

    ``/healthz`` says the worker answers; ``/readyz`` that its index is loaded. The end of ``log``, when
    given, is put in the error.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}{_tail(log)}")
        try:
            if request(port, "GET", path, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"the server did not answer {path} within {timeout:.0f} s{_tail(log)}")


@dataclass(frozen=True)
class LiveServer:
    """A server process on 127.0.0.1: its process, port and log file."""

    process: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        """The base URL, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"


def start_server(
    args: Sequence[str],
    log: Path,
    port: int | None = None,
    env: dict[str, str] | None = None,
    ready_path: str = "/healthz",
    timeout: float = 60.0,
) -> LiveServer:
    """Run ``python <args>`` from the repository, ``--port`` appended, as the leader of its own process
    group, its output in ``log``; return once ``ready_path`` answers (stopping it if it never does)."""
    port = port or free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, *args, "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LiveServer(process, port, log)
    try:
        wait_until_up(port, process, timeout, ready_path, log)
    except BaseException:
        stop_server(server)
        raise
    return server


def stop_server(server: LiveServer, timeout: float = 30.0) -> None:
    """Stop the server and its workers (its process group): SIGTERM, then SIGKILL after ``timeout``."""
    process = server.process
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        process.wait(timeout=10)


def start_slow_server(
    tmp: Path,
    delay: float,
    workers: int = 1,
    threads: int = 1,
    max_queue: int = 1,
    queue_seconds: float = 5.0,
    log_path: Path | None = None,
) -> tuple[subprocess.Popen, int, Path]:
    """Start ``python -m tests.helpers serve`` (real gunicorn, slow fake encoder) on a free port.

    Returns the process, its port and the folder where each question's start is marked.
    """
    markers = tmp / "markers"
    markers.mkdir(exist_ok=True)
    options = {
        "--index-dir": tmp / "index",
        "--delay": delay,
        "--workers": workers,
        "--threads": threads,
        "--max-queue": max_queue,
        "--queue-seconds": queue_seconds,
        "--markers": markers,
    }
    args = ["-m", "tests.helpers", "serve", *(str(part) for pair in options.items() for part in pair)]
    server = start_server(args, log_path or tmp / "server.log")
    return server.process, server.port, markers


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
        corpus_dir=CORPUS,
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


def main(argv: Sequence[str] | None = None) -> None:
    """``serve``: the service on a slow fake encoder, for tests of the production server."""
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
    args = parser.parse_args(argv)
    if args.command == "serve":
        _serve(args)


if __name__ == "__main__":
    main()
