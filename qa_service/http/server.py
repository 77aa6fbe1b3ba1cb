"""The production WSGI server (gunicorn, threaded workers) for ``qa-service serve``.

Layout: ``QA_WORKERS`` processes (2: one per core), each running the encoder on ``QA_TORCH_THREADS`` (1)
thread, so that workers never fight over cores; the master imports the shared libraries once before it
forks them (``preload``), and each worker loads ONNX Runtime and the index after the fork.

Overload: each worker answers ``QA_THREADS`` requests at once and lets ``QA_MAX_QUEUE`` more wait
(``gate.py``); it runs one thread more than both, so that a request beyond them is refused with 503
at once instead of waiting in gunicorn's own, unbounded queue. Slow clients: a worker reads each request
whole, within ``QA_READ_TIMEOUT``, before a thread sees it (``worker.py``), so the threads and the
admission gate count only requests ready to answer. A request that finds no other in its worker is
answered by the worker's event-loop thread itself (no hand-over); the workers share the open
connections about evenly (``worker.ConnectionShare``). Shutdown: on SIGTERM or SIGINT gunicorn
stops accepting connections and gives the requests in flight up to ``graceful_timeout`` seconds to finish.

Signals: the access log gives each request's duration, worker pid and request id
(``... 12ms pid=<4242> rid=5f0c...``). Prometheus metrics are kept across the workers in a folder made
fresh for each run (``PROMETHEUS_MULTIPROC_DIR``, see ``metrics.py``), removed when the master exits;
a worker that dies has its live gauges dropped (``child_exit``).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from ..settings import Settings
from .access_log import AccessLogger
from .worker import buffering_worker

#: Seconds the requests in flight get to finish after SIGTERM before workers are killed.
GRACEFUL_TIMEOUT = 30

#: The access log: no query string, referrer or user name, which may carry credentials or questions; then
#: the time taken, the worker's pid and the request id.
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s" pid=%(p)s rid=%({x-request-id}o)s'

#: The environment variable prometheus_client's multiprocess mode reads (also in ``metrics.py``).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

log = logging.getLogger(__name__)


def worker_class(settings: Settings) -> type:
    """gunicorn's threaded worker, reading each request whole with a deadline before a thread sees it."""
    return buffering_worker(settings.read_timeout, settings.max_body_bytes)


def server_threads(settings: Settings) -> int:
    """Threads per worker: those answering, those waiting in the admission queue, and one to refuse."""
    return settings.threads + settings.max_queue + 1


class _Server(BaseApplication):
    """Gunicorn run from Python, each worker building its own app after the fork."""

    def __init__(self, settings: Settings, app_factory: Callable[[], Any] | None = None) -> None:
        self.settings = settings
        self.app_factory = app_factory
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        options = {
            "bind": f"{s.host}:{s.port}",
            "workers": s.workers,
            "threads": server_threads(s),
            "worker_class": worker_class(s),
            "timeout": 60,
            "graceful_timeout": GRACEFUL_TIMEOUT,
            "keepalive": 5,
            "accesslog": "-",
            "access_log_format": ACCESS_LOG_FORMAT,
            "logger_class": AccessLogger,
            "errorlog": "-",
            "loglevel": s.log_level,
            "preload_app": False,
            "proc_name": "qa-service",
            "limit_request_line": 8190,
        }
        if os.environ.get(MULTIPROC_ENV):
            options["child_exit"] = _child_exit
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self):
        if self.app_factory is not None:
            return self.app_factory()
        from .app import create_app

        return create_app(self.settings)


def preload() -> None:
    """Import, once in the master, the libraries every worker needs, so that each forked worker starts
    with them (start-up and memory paid once). Only libraries that start no threads of their own are
    imported here; ONNX Runtime and the model are loaded in each worker after the fork."""
    import logging

    import bm25s  # noqa: F401

    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # see index/vectors/faiss.py
    import faiss  # noqa: F401
    import Stemmer  # noqa: F401

    from ..ranking.bm25 import stopwords
    from . import app  # noqa: F401 - Flask, numpy and the service's modules

    stopwords()


def run(settings: Settings, app_factory: Callable[[], Any] | None = None) -> None:
    """Serve until stopped (SIGTERM/SIGINT finish requests in flight first).

    ``app_factory`` builds the WSGI app in each worker instead of ``create_app(settings)``; the test
    suite uses it to serve an app whose answers are slow on purpose, to test shutdown and overload.
    """
    master = os.getpid()
    folder, made = _metrics_folder()
    try:
        preload()
        _Server(settings, app_factory).run()
    finally:
        # A worker leaves through here too (gunicorn's SystemExit): only the master removes the folder.
        if made and os.getpid() == master:
            shutil.rmtree(folder, ignore_errors=True)


def _metrics_folder() -> tuple[Path | None, bool]:
    """Point ``PROMETHEUS_MULTIPROC_DIR`` at an empty folder before any worker starts.

    A folder the operator named is emptied (samples of an earlier run would be summed in); otherwise a
    temporary one is made, and removed at exit (the second value says so). Multiprocess mode needs the
    variable set before ``prometheus_client`` is imported: if the service's metrics are already loaded
    in this process, each worker reports only its own samples.
    """
    if "qa_service.http.metrics" in sys.modules and not os.environ.get(MULTIPROC_ENV):
        log.warning("metrics were loaded before the server started: /metrics reports one worker at a time")
        return None, False
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
        return folder, False
    folder = Path(tempfile.mkdtemp(prefix="qa-metrics-"))
    os.environ[MULTIPROC_ENV] = str(folder)
    return folder, True


def _child_exit(server: Any, worker: Any) -> None:
    """gunicorn hook: a worker exited; drop its live gauges from the shared metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
