"""Errors turned into HTTP responses, in one place.

Every error a client can cause becomes ``{"error": {"code": ..., "message": ..., "request_id": ...}}``
(the id also in the ``X-Request-ID`` header and the access log, see ``request_id.py``) with a 4xx status
(a browser asking for a page outside the API gets a small HTML page instead). A busy service answers
503 and a client over its rate limit 429, both with ``Retry-After``; a missing or wrong API key 401 with
``WWW-Authenticate``. Anything unexpected is logged and answered with a generic 500 body, never a stack
trace.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from ..errors import ApiError
from .request_id import request_id

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    411: "length_required",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    429: "too_many_requests",
    431: "request_header_fields_too_large",
    503: "unavailable",
}


def error_response(status: int, code: str, message: str, suggestions: list[str] | None = None) -> Response:
    """The JSON body and status of an error (with ``suggestions`` when the error has them)."""
    error = {"code": code, "message": message, "request_id": request_id()}
    if suggestions is not None:
        error["suggestions"] = suggestions
    response = jsonify({"error": error})
    response.status_code = status
    return response


def _error_page(status: int, code: str, message: str, suggestions: list[str] | None = None) -> Response:
    """JSON, or a small page when a browser asks for a page outside the API."""
    if _wants_html():
        return Response(
            render_template("error.html", status=status, message=message, request_id=request_id()),
            status=status,
            mimetype="text/html",
        )
    return error_response(status, code, message, suggestions)


def _wants_html() -> bool:
    if request.path.startswith("/api/") or request.path in ("/healthz", "/readyz"):
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" and request.accept_mimetypes[best] > request.accept_mimetypes["application/json"]


def register_error_handlers(app: Flask) -> None:
    """Answer every error with JSON (or a small page for a browser outside the API)."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        response = _error_page(exc.status, exc.code, exc.message, exc.suggestions)
        response.headers.update(exc.headers)
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        response = _error_page(status, _CODES.get(status, "error"), _message(exc))
        if status == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "The service failed to answer; the error was logged.")


def _message(exc: HTTPException) -> str:
    status = exc.code or 500
    if status == 404:
        return f"No such resource: {request.path}"
    if status == 405:
        allowed = ", ".join(sorted(getattr(exc, "valid_methods", None) or []))
        return f"Method {request.method} is not allowed here" + (f"; use {allowed}" if allowed else "")
    if status == 413:
        limit = request.max_content_length
        return f"Request body too large (limit {limit} bytes)" if limit else "Request body too large"
    if status == 429:
        return f"Too many requests from this client (limit: {exc.description}); retry after the time in Retry-After."
    return exc.description or exc.name
