"""The HTTP service: the Flask app factory, its blueprints (API, health probes, pages), validation, the
OpenAPI description, the admission gate, the hot swap of new builds, the security headers, and the gunicorn
server with its worker, which reads each request whole before a thread answers it.

It knows the ranking (``Retriever``) and nothing below it: no vector store, no encoder internals.

``create_app`` and ``build_retriever`` are loaded on first use, so that ``qa-service serve`` can import
``http.server`` and point prometheus_client at its multiprocess folder before the app (and with it
prometheus_client) is imported.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_retriever", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
