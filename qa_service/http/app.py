"""The Flask app factory: load the retriever once, register blueprints, errors, headers and guards.

Guards, in the order a request meets them: the rate limit per client (``QA_RATE_LIMIT``, off by
default), the admission gate of the worker (``gate.py``: 503 when its threads and queue are full),
the API key (``api.py``), then validation.
Health probes, ``/metrics`` and static files pass the rate limit and the gate. Before them all, a
request gets its id (``request_id.py``) and its clock starts (``metrics.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib import metadata as importlib_metadata
from typing import Any

from flask import Flask, request

from ..encoders import Encoder, make_encoder
from ..feedback import FEEDBACK_FILE, FeedbackStore
from ..index import IndexData, Progress, ensure_index
from ..ranking import RankingParams, Retriever
from ..settings import Settings
from . import feedback, metrics
from .api import api, require_api_key
from .errors import register_error_handlers
from .gate import install_gate
from .headers import SECURITY_HEADERS
from .health import health
from .hotswap import IndexWatcher
from .pages import web
from .request_id import install_request_ids
from .state import EXTENSION_KEY, ServiceState

#: Endpoints that no guard (rate limit, in-flight limit) applies to.
UNGUARDED_ENDPOINTS = frozenset({"health.healthz", "health.readyz", "web.static", "static", metrics.ENDPOINT})


class ServiceApp(Flask):
    """Flask, telling once per function whether a view or hook is async: Flask inspects each one it calls,
    every time (about ten a request)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync: dict[Callable, Callable] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        synced = self._sync.get(func)
        if synced is None:
            synced = self._sync[func] = super().ensure_sync(func)
        return synced


def make_retriever(settings: Settings, index: IndexData, encoder: Encoder) -> Retriever:
    """A retriever over ``index`` with the ranking settings."""
    return Retriever(index, encoder, RankingParams.from_settings(settings))


def build_retriever(settings: Settings, progress: Progress | None = None, encoder: Encoder | None = None) -> Retriever:
    """Load the encoder and the index (building it when missing or stale) and wrap them in a retriever."""
    if encoder is None:
        encoder = metrics.TimedEncoder(make_encoder(settings))
    index = ensure_index(settings, encoder, progress)
    encoder.warm_up()
    return make_retriever(settings, index, encoder)


def create_app(
    settings: Settings | None = None, retriever: Retriever | None = None, encoder: Encoder | None = None
) -> Flask:
    """Build the WSGI app.

    Args:
        settings: the configuration; read from the environment when omitted.
        retriever: an already loaded retriever (tests share one); built from ``settings`` when omitted.
        encoder: the encoder to build the retriever with (default: the model named in ``settings``).

    Raises:
        IndexProblem: the index is missing, damaged or stale and ``QA_REBUILD=never``.
    """
    settings = settings or Settings.from_env()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = ServiceApp(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        JSON_SORT_KEYS=False,
        QA_VERSION=_version(),
    )
    app.json.sort_keys = False
    state = ServiceState(settings, retriever or build_retriever(settings, encoder=encoder))
    app.extensions[EXTENSION_KEY] = state
    app.extensions[feedback.EXTENSION_KEY] = FeedbackStore(settings.data_dir / FEEDBACK_FILE)
    metrics.record_index(state.current.index.manifest)
    app.register_blueprint(api)
    app.register_blueprint(health)
    app.register_blueprint(web)
    register_error_handlers(app)
    install_request_ids(app)
    # Before the guards below, so that the requests they refuse are measured too.
    metrics.install_metrics(app, settings, require_api_key)
    if settings.rate_limit:
        _install_rate_limit(app, settings)
    app.extensions["qa_gate"] = install_gate(
        app, settings.threads, settings.max_queue, settings.queue_seconds, _unguarded
    )
    watcher = IndexWatcher(state, lambda index: _swapped_in(make_retriever(settings, index, state.current.encoder)))
    app.extensions["qa_index_watcher"] = watcher
    if settings.index_poll_seconds:
        watcher.start(settings.index_poll_seconds)
    app.wsgi_app = _with_security_headers(app.wsgi_app)
    # A page in a browser holds no secret: with a key, it answers as a plain form instead of calling the API.
    app.context_processor(lambda: {"api_key_required": bool(settings.api_key)})
    return app


def _swapped_in(retriever: Retriever) -> Retriever:
    metrics.record_index(retriever.index.manifest)
    return retriever


def _unguarded() -> bool:
    return request.endpoint in UNGUARDED_ENDPOINTS


def _install_rate_limit(app: Flask, settings: Settings) -> None:
    """Limit requests per client address with Flask-Limiter; 429 with Retry-After beyond the limit."""
    from flask_limiter import Limiter
    from flask_limiter.util import get_remote_address

    limiter = Limiter(
        get_remote_address,
        app=app,
        application_limits=[settings.rate_limit],
        storage_uri=settings.rate_limit_storage,
        headers_enabled=True,
        retry_after="delta-seconds",
        strategy="moving-window",
    )
    limiter.request_filter(_unguarded)


def _with_security_headers(wsgi_app: Callable) -> Callable:
    """``wsgi_app`` adding each security header a response does not set itself, to the plain list of headers
    it starts the response with: Flask's header object checks every header added to it, on every request."""

    def app(environ: dict, start_response: Callable) -> Any:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            present = {name.lower() for name, _ in headers}
            missing = [item for lower, item in _SECURITY_ITEMS if lower not in present]
            return start_response(status, headers + missing, exc_info)

        return wsgi_app(environ, start)

    return app


_SECURITY_ITEMS = tuple((name.lower(), (name, value)) for name, value in SECURITY_HEADERS.items())


def _version() -> str:
    try:
        return importlib_metadata.version("qa-service")
    except importlib_metadata.PackageNotFoundError:
        return "0"
