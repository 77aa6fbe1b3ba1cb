"""Real processes for the tests of the service's signals: ``qa-service serve`` with several workers
over an index already built, and Debian's ``redis-server``, each on a free loopback port, each the
leader of its own process group, stopped (gently, then not) with all its children."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from qa_service.settings import Settings

from .conftest import ROOT
from .support import free_port

#: gunicorn's access line as ``server.ACCESS_LOG_FORMAT`` writes it: status, ..., worker pid, request id.
ACCESS_LINE = re.compile(r'" (?P<status>\d{3}) .* pid=<(?P<pid>\d+)> rid=(?P<rid>\S+)$')
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


@dataclass(frozen=True)
class Service:
    """A running ``qa-service serve``: base URL, log file, data folder and environment."""

    url: str
    log: Path
    data_dir: Path
    env: dict

    def call(
        self, method: str, path: str, body: dict | None = None, headers: dict | None = None
    ) -> tuple[int, dict, bytes]:
        """One request; the status, headers and body (errors included, never raised)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=dict(headers or {}))
        if body is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def served_by(self, wait_for: Iterable[str] = ()) -> dict[str, tuple[int, int]]:
        """Request id → (worker pid, status), from the access log; waits (up to 10 s) until the ids in
        ``wait_for`` are logged (a worker writes its line just after the response)."""
        wanted = set(wait_for)
        deadline = time.monotonic() + 10
        while True:
            found = {}
            for line in self.log.read_text(errors="replace").splitlines():
                m = ACCESS_LINE.search(line)
                if m:
                    found[m["rid"]] = (int(m["pid"]), int(m["status"]))
            if wanted <= set(found) or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


def _stop_group(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@contextmanager
def running_service(settings: Settings, tmp: Path, workers: int = 2, **env: str) -> Iterator[Service]:
    """``qa-service serve`` on 127.0.0.1 over ``settings``' index (never rebuilt), with its own data folder."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp / "server.log"
    full_env = {
        **os.environ,
        "QA_CORPUS_DIR": str(settings.corpus_dir),
        "QA_INDEX_DIR": str(settings.index_dir),
        "QA_MODEL_CACHE_DIR": str(settings.model_cache_dir),
        "QA_DATA_DIR": str(tmp / "data"),
        "QA_REBUILD": "never",
        "QA_WORKERS": str(workers),
        "QA_THREADS": "4",
        "QA_INDEX_POLL_SECONDS": "0",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        **env,
    }
    full_env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the server makes its own
    command = [sys.executable, "-m", "qa_service", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=full_env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_for_workers(url, process, log, workers)
        yield Service(url, log, tmp / "data", full_env)
    finally:
        _stop_group(process)


def _wait_for_workers(url: str, process: subprocess.Popen, log: Path, workers: int, timeout: float = 240) -> None:
    """Ready: /readyz answers and every worker has booted its app (so that both can take requests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"the server exited with {process.returncode}:\n{log.read_text(errors='replace')[-4000:]}"
            )
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=5):
                pids = set()
                for _ in range(40):
                    with urllib.request.urlopen(url + "/readyz", timeout=5):
                        pass
                    pids = {pid for pid, _ in _served(log).values()}
                    if len(pids) >= workers:
                        return
                    time.sleep(0.2)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the server's workers were not all ready within {timeout:.0f} s")


def _served(log: Path) -> dict[str, tuple[int, int]]:
    return Service("", log, log, {}).served_by()


def skip_or_fail(reason: str) -> None:
    """Skip a test that needs something absent on a developer's machine; in CI, fail instead."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@contextmanager
def running_redis(tmp: Path) -> Iterator[str]:
    """Debian's redis-server on a free loopback port, nothing saved to disk; yields its ``redis://`` URI."""
    if not Path(REDIS_SERVER).exists():
        skip_or_fail("redis-server is missing: `make test` installs it (apt-get install redis-server)")
    import redis

    port = free_port()
    command = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command += ["--dir", str(tmp)]
    log = tmp / "redis.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(uri)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start:\n{log.read_text(errors='replace')}") from None
                time.sleep(0.05)
        client.close()
        yield uri
    finally:
        _stop_group(process)
