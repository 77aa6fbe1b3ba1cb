"""Request ids: every request gets one, taken from ``X-Request-ID`` when the client (or a proxy in front)
sends a valid one, made up otherwise (a uuid4 in hex). It is returned in the ``X-Request-ID`` response
header, written in the access log (``server.py``) and put in every error body, so that a complaint can
be tied to its log line.

An invalid id (not printable ASCII without spaces, or over 128 characters) is not an error: the
request gets a new id instead, so that a log line never carries what a client injected.
"""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, has_request_context, request

HEADER = "X-Request-ID"
#: Printable ASCII without spaces (``!`` to ``~``), 1 to 128 characters.
VALID_ID = re.compile(r"[!-~]{1,128}")


def request_id() -> str:
    """The current request's id (made on first use); empty outside a request."""
    if not has_request_context():
        return ""
    rid = g.get("_qa_request_id")
    if rid is None:
        given = request.headers.get(HEADER, "")
        rid = given if VALID_ID.fullmatch(given) else uuid.uuid4().hex
        g._qa_request_id = rid
    return rid


def install_request_ids(app: Flask) -> None:
    """Give every request an id and return it in the ``X-Request-ID`` header."""

    @app.before_request
    def _assign() -> None:
        request_id()

    @app.after_request
    def _return(response: Response) -> Response:
        response.headers[HEADER] = request_id()
        return response
