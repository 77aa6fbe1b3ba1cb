"""The production WSGI server (gunicorn, threaded workers) for ``qa-service serve``."""

from __future__ import annotations

from gunicorn.app.base import BaseApplication

from .settings import Settings


class _Server(BaseApplication):
    """Gunicorn run from Python, each worker building its own app after the fork."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        options = {
            "bind": f"{s.host}:{s.port}",
            "workers": s.workers,
            "threads": s.threads,
            "worker_class": "gthread",
            "timeout": 60,
            "graceful_timeout": 30,
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

    def load(self):  # noqa: ANN201 - a WSGI app
        from .app import create_app

        return create_app(self.settings)


def run(settings: Settings) -> None:
    """Serve until stopped (SIGTERM/SIGINT finish requests in flight first)."""
    _Server(settings).run()
