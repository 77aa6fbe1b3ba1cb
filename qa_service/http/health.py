"""The health probes: ``/healthz`` (the process answers) and ``/readyz`` (the index is loaded).

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
    """Readiness: the index is loaded; what it holds and when it was built."""
    manifest = service().retriever.index.manifest
    return jsonify(
        {
            "status": "ready",
            "documents": manifest.documents,
            "passages": manifest.passages,
            "model": manifest.model,
            "index_built_at": manifest.built_at,
            "version": current_app.config.get("QA_VERSION", ""),
        }
    )
