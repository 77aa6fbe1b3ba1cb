"""Prometheus metrics at ``/metrics`` (text format, ``prometheus_client``), summed over every worker.

Under ``qa-service serve`` each gunicorn worker is its own process; ``server.py`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before the workers start, every worker writes its
samples there, and the worker that answers a scrape reads them all (``MultiProcessCollector``). A
dead worker's live gauges are dropped by gunicorn's ``child_exit`` hook. Without that variable (tests,
``flask run``) the process's own registry is served.

``/metrics`` passes the rate limit and the admission gate (a busy worker still reports that it is busy)
and is not counted in the request metrics, so scraping does not move what it measures. With
``QA_API_KEY`` set it needs the key, like the API; ``QA_METRICS=false`` turns it off.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from ..settings import Settings

#: The endpoint name of ``/metrics`` (guards and the request metrics leave it alone).
ENDPOINT = "metrics"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_ENCODER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

REQUESTS = Counter(
    "qa_requests", "HTTP requests answered, by route (endpoint name), method and status.", ["route", "method", "status"]
)
REQUEST_SECONDS = Histogram(
    "qa_request_duration_seconds", "Time to answer a request, by route.", ["route"], buckets=_LATENCY_BUCKETS
)
ENCODER_SECONDS = Histogram(
    "qa_encoder_seconds", "Time to embed one question (cache hits included).", buckets=_ENCODER_BUCKETS
)
QUESTIONS = Counter("qa_questions", "Questions answered, by whether no_answer was flagged.", ["no_answer"])
REJECTED = Counter(
    "qa_rejected_requests",
    "Requests refused before any work: overloaded (503, admission gate) or rate_limited (429).",
    ["reason"],
)
FEEDBACK = Counter("qa_feedback", "Readers' marks stored, by helpful and by where they came from.", ["helpful", "via"])
# Every worker loads the same index: the most any live worker reports is the service's figure.
INDEX_DOCUMENTS = Gauge("qa_index_documents", "Documents in the index being served.", multiprocess_mode="livemax")
INDEX_PASSAGES = Gauge("qa_index_passages", "Passages in the index being served.", multiprocess_mode="livemax")
INDEX_BUILD_SECONDS = Gauge(
    "qa_index_build_seconds", "Seconds the served index took to build.", multiprocess_mode="livemax"
)


# Every known series exists from the start (at 0), so that a rate or an alert over it has data at once.
for _reason in ("overloaded", "rate_limited"):
    REJECTED.labels(reason=_reason)
for _flag in ("true", "false"):
    QUESTIONS.labels(no_answer=_flag)
    for _via in ("api", "page"):
        FEEDBACK.labels(helpful=_flag, via=_via)


# A series's child, looked up once: ``labels()`` checks and locks on every call. Routes, methods and
# statuses are few (a client cannot add any), so these caches stay small.
_request_seconds = lru_cache(maxsize=None)(lambda route: REQUEST_SECONDS.labels(route=route))
_requests = lru_cache(maxsize=None)(
    lambda route, method, status: REQUESTS.labels(route=route, method=method, status=str(status))
)
_questions = {flag: QUESTIONS.labels(no_answer="true" if flag else "false") for flag in (True, False)}


def record_index(manifest: Any) -> None:
    """Set the index gauges from the manifest of the index now served."""
    INDEX_DOCUMENTS.set(manifest.documents)
    INDEX_PASSAGES.set(manifest.passages)
    INDEX_BUILD_SECONDS.set(manifest.build_seconds)


def record_result(no_answer: bool) -> None:
    """Count one answered question."""
    _questions[bool(no_answer)].inc()


def record_feedback(helpful: bool, via: str) -> None:
    """Count one stored mark."""
    FEEDBACK.labels(helpful="true" if helpful else "false", via=via).inc()


class TimedEncoder:
    """An encoder that times each question's embedding; everything else goes to the wrapped one."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def encode_query(self, text: str):
        started = time.perf_counter()
        try:
            return self._inner.encode_query(text)
        finally:
            ENCODER_SECONDS.observe(time.perf_counter() - started)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def exposition() -> tuple[bytes, str]:
    """The samples of every worker (multiprocess mode) or of this process, in the text format."""
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST


def install_metrics(app: Flask, settings: Settings, authorize: Callable[[], None]) -> None:
    """Measure every request (but ``/metrics``) and serve ``/metrics`` when ``QA_METRICS`` is on.

    ``authorize`` raises when the request may not read the metrics (the API key's check). Call before
    any other ``before_request`` guard so that requests they refuse are timed too.
    """

    @app.before_request
    def _start() -> None:
        g._qa_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        route = request.endpoint or "unmatched"
        if route == ENDPOINT:
            return response
        started = g.get("_qa_started")
        if started is not None:
            _request_seconds(route).observe(time.perf_counter() - started)
        method = request.method if request.method in _METHODS else "other"  # a client cannot add series
        _requests(route, method, response.status_code).inc()
        if response.status_code == 503:  # only the admission gate answers 503
            REJECTED.labels(reason="overloaded").inc()
        elif response.status_code == 429:
            REJECTED.labels(reason="rate_limited").inc()
        return response

    if not settings.metrics:
        return

    def metrics_view() -> Response:
        authorize()
        body, content_type = exposition()
        return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})

    app.add_url_rule("/metrics", ENDPOINT, metrics_view, methods=["GET"])
