"""Errors as types, turned into HTTP responses in one place.

Every error a client can cause becomes ``{"error": {"code": ..., "message": ...}}`` with a 4xx status;
anything unexpected is logged and answered with a generic 500 body, never a stack trace.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

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


class ApiError(Exception):
    """A request the service refuses, with its status, a stable code and a message for people."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class BadRequest(ApiError):
    """The request is malformed or a field has a value the service does not accept."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(400, code, message)


def error_response(status: int, code: str, message: str) -> Response:
    """The JSON body and status of an error."""
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def _wants_html() -> bool:
    if request.path.startswith("/api/") or request.path in ("/healthz", "/readyz"):
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" and request.accept_mimetypes[best] > request.accept_mimetypes["application/json"]


def register_error_handlers(app: Flask) -> None:
    """Answer every error with JSON (or a small page for a browser outside the API)."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        code = _CODES.get(status, "error")
        message = _message(exc)
        if _wants_html():
            response = Response(
                render_template("error.html", status=status, message=message), status=status, mimetype="text/html"
            )
        else:
            response = error_response(status, code, message)
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
    return exc.description or exc.name
