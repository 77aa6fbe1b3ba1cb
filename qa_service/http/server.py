"""The production WSGI server (gunicorn, threaded workers) for ``qa-service serve``.

Layout: ``QA_WORKERS`` processes (2: one per core), each running the encoder on ``QA_TORCH_THREADS`` (1)
thread, so that workers never fight over cores; the master imports the shared libraries once before it
forks them (``preload``), and each worker loads ONNX Runtime and the index after the fork.

Overload: each worker answers ``QA_THREADS`` requests at once and lets ``QA_MAX_QUEUE`` more wait
(``gate.py``); it runs one thread more than both, so that a request beyond them is refused with 503
at once instead of waiting in gunicorn's own, unbounded queue. Shutdown: on SIGTERM or SIGINT gunicorn
stops accepting connections and gives the requests in flight up to ``graceful_timeout`` seconds to finish.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

from ..settings import Settings

#: Seconds the requests in flight get to finish after SIGTERM before workers are killed.
GRACEFUL_TIMEOUT = 30


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
            "worker_class": "gthread",
            "timeout": 60,
            "graceful_timeout": GRACEFUL_TIMEOUT,
            "keepalive": 5,
            "accesslog": "-",
            "errorlog": "-",
            "loglevel": s.log_level,
            "preload_app": False,
            "proc_name": "qa-service",
            "limit_request_line": 8190,
        }
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
    preload()
    _Server(settings, app_factory).run()
