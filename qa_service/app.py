"""The Flask app factory: load the retriever once, register blueprints, errors and headers."""

from __future__ import annotations

import logging
from importlib import metadata as importlib_metadata

from flask import Flask, Response

from .api import api, health
from .encoder import SentenceTransformerEncoder
from .errors import register_error_handlers
from .indexer import Progress, ensure_index
from .retriever import RankingParams, Retriever
from .settings import Settings
from .state import EXTENSION_KEY, ServiceState
from .web import web

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
)


def build_retriever(settings: Settings, progress: Progress | None = None) -> Retriever:
    """Load the encoder and the index (building it when missing or stale) and wrap them in a retriever."""
    encoder = SentenceTransformerEncoder(settings.resolved_model(), settings.torch_threads, settings.query_cache_size)
    index = ensure_index(settings, encoder, progress)
    encoder.warm_up()
    params = RankingParams(dense_weight=settings.dense_weight, no_answer_threshold=settings.no_answer_threshold)
    return Retriever(index, encoder, params)


def create_app(settings: Settings | None = None, retriever: Retriever | None = None) -> Flask:
    """Build the WSGI app.

    Args:
        settings: the configuration; read from the environment when omitted.
        retriever: an already loaded retriever (tests share one); built from ``settings`` when omitted.
    """
    settings = settings or Settings.from_env()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        JSON_SORT_KEYS=False,
        QA_VERSION=_version(),
    )
    app.json.sort_keys = False
    app.extensions[EXTENSION_KEY] = ServiceState(settings, retriever or build_retriever(settings))
    app.register_blueprint(api)
    app.register_blueprint(health)
    app.register_blueprint(web)
    register_error_handlers(app)
    app.after_request(_security_headers)
    return app


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def _version() -> str:
    try:
        return importlib_metadata.version("qa-service")
    except importlib_metadata.PackageNotFoundError:
        return "0"
