"""The HTTP service: the Flask app factory, its blueprints (API, health probes, pages), validation, the
OpenAPI description, the admission gate, the hot swap of new builds, the security headers, and the gunicorn
server with its worker, which reads each request whole before a thread answers it.

It knows the ranking (``Retriever``) and nothing below it: no vector store, no encoder internals.
"""

from .app import build_retriever, create_app

__all__ = ["build_retriever", "create_app"]
