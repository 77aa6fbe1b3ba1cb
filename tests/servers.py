"""Real processes for the tests of the service's signals: ``qa-service serve`` with several workers
over an index already built, and Debian's ``redis-server``, each on a free loopback port, each the
leader of its own process group, stopped (gently, then not) with all its children."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from qa_service.settings import Settings

from .helpers import LiveServer, free_port, start_server, stop_server

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


@contextmanager
def running_service(settings: Settings, tmp: Path, workers: int = 2, **env: str) -> Iterator[Service]:
    """``qa-service serve`` on 127.0.0.1 over ``settings``' index (never rebuilt), with its own data folder;
    ready once every worker has answered (so that the load of a test can reach them all)."""
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
    server = start_server(
        ["-m", "qa_service", "serve", "--host", "127.0.0.1"], log, env=full_env, ready_path="/readyz", timeout=240
    )
    try:
        service = Service(server.url, log, tmp / "data", full_env)
        _wait_for_workers(service, workers)
        yield service
    finally:
        stop_server(server)


def _wait_for_workers(service: Service, workers: int, timeout: float = 120) -> None:
    """Ask /readyz on new connections until the access log shows ``workers`` different pids."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rid = f"ready-{uuid.uuid4().hex}"
        service.call("GET", "/readyz", headers={"X-Request-ID": rid})
        if len({pid for pid, _ in service.served_by(wait_for=[rid]).values()}) >= workers:
            return
        time.sleep(0.1)
    raise RuntimeError(f"not all {workers} workers answered within {timeout:.0f} s")


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
    server = LiveServer(process, port, log)
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
        stop_server(server)
