"""The health probes: ``/healthz`` (the process answers) and ``/readyz`` (the index is loaded and this
worker can take a question now: ``503`` with ``Retry-After`` while its admission gate is full).

They pass every guard (API key, rate limit, admission gate), so an orchestrator can always ask.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from .state import service

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz() -> Response:
    """Liveness: the process answers."""
    return jsonify({"status": "ok"})


@health.get("/readyz")
def readyz() -> Response:
    """Readiness: the index is loaded and a question would be admitted; what it holds and when it was built."""
    manifest = service().retriever.index.manifest
    gate = current_app.extensions.get("qa_gate")
    busy = gate is not None and gate.full
    response = jsonify(
        {
            "status": "busy" if busy else "ready",
            "documents": manifest.documents,
            "passages": manifest.passages,
            "model": manifest.model,
            "index_built_at": manifest.built_at,
            "version": current_app.config.get("QA_VERSION", ""),
        }
    )
    if busy:
        response.status_code = 503
        response.headers["Retry-After"] = "1"
    return response
