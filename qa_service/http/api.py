"""The JSON API (``/api/v1``): ask, documents, feedback, the OpenAPI description.

With ``QA_API_KEY`` set, every API route but the OpenAPI document (which says how to authenticate)
requires the key, in ``X-API-Key`` or ``Authorization: Bearer``. The health probes stay open for the
orchestrator, and the page for people.
"""

from __future__ import annotations

import hashlib
import hmac

import orjson
from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from ..corpus import country_label, country_name_of, country_of
from ..errors import ApiError, Unauthorized
from ..ranking import Answer, Result, Retriever
from ..settings import Settings
from . import metrics
from .feedback import parse_feedback_json, store_feedback
from .openapi import openapi_document
from .state import service
from .validation import AskRequest, check_known_names, decode_json_body, parse_ask_args, parse_ask_json

api = Blueprint("api", __name__, url_prefix="/api/v1")

#: API routes open without a key.
OPEN_ENDPOINTS = frozenset({"api.openapi"})


@api.before_request
def _require_api_key() -> None:
    """Refuse API requests without the configured key (no key configured: everything is open)."""
    if request.endpoint not in OPEN_ENDPOINTS:
        require_api_key()


def require_api_key() -> None:
    """Raise :class:`Unauthorized` unless the request carries the configured key (none configured: pass)."""
    key = service().settings.api_key
    if not key:
        return
    given = presented_key()
    if given is None:
        raise Unauthorized("An API key is required: send it in the X-API-Key header or as Authorization: Bearer.")
    if not keys_match(given, key):
        raise Unauthorized("The API key is not valid.")


def presented_key() -> str | None:
    """The key a request carries in ``X-API-Key`` or ``Authorization: Bearer``, if any."""
    key = request.headers.get("X-API-Key")
    if key:
        return key.strip()
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def keys_match(given: str, expected: str) -> bool:
    """Compare in constant time; hashing first hides the expected key's length too."""
    digest = lambda text: hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()  # noqa: E731
    return hmac.compare_digest(digest(given), digest(expected))


@api.route("/ask", methods=["GET", "POST"])
def ask() -> Response:
    """Answer a question from a JSON body (POST) or the query string (GET)."""
    state = service()
    request_ = _read_ask_request(state.settings)
    return json_response(result_to_json(ask_with(state.retriever, request_)))


def json_response(body: dict) -> Response:
    """``jsonify(body)``, serialised by orjson (several times faster than the standard library): the
    same JSON, with characters beyond ASCII written as UTF-8 instead of ``\\u`` escapes. What orjson
    refuses (a lone surrogate or an integer over 64 bits in a document's metadata) and the indented JSON
    of debug mode go through ``jsonify``."""
    if current_app.debug:
        return jsonify(body)
    try:
        data = orjson.dumps(body, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        return jsonify(body)
    return current_app.response_class(data, mimetype=current_app.json.mimetype)


def ask_with(retriever: Retriever, request_: AskRequest) -> Result:
    """Answer a validated request with its filters. A document or country the corpus does not have is
    refused (400, with close matches); known ones that match no document together (a year range, say)
    give no answers."""
    check_known_names(request_.filter, retriever.facets())
    filters = None if request_.filter.is_empty() else request_.filter
    result = retriever.ask(
        request_.question, request_.top_k, filters=filters, group_by_document=request_.group_by_document
    )
    metrics.record_result(result.no_answer)
    return result


def _read_ask_request(settings: Settings) -> AskRequest:
    limits = (settings.default_top_k, settings.max_top_k, settings.max_question_chars)
    if request.method in ("GET", "HEAD"):  # HEAD answers as GET does, without the body
        return parse_ask_args(request.args.to_dict(flat=False), *limits)
    _require_json("Send the question as JSON (Content-Type: application/json).")
    return parse_ask_json(decode_json_body(read_body()), *limits)


def _require_json(message: str) -> None:
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", message)


@api.post("/feedback")
def feedback() -> tuple[Response, int]:
    """Store a reader's mark of an answer (helpful or not); 201 with the stored id."""
    state = service()
    _require_json("Send the feedback as JSON (Content-Type: application/json).")
    parsed = parse_feedback_json(decode_json_body(read_body()), state.settings.max_question_chars)
    stored = store_feedback(state.retriever, parsed, via="api")
    return jsonify({"id": stored}), 201


def read_body() -> bytes:
    """The request body, refusing one over the limit with 413 also when it comes chunked.

    With a Content-Length, werkzeug refuses an oversized body before reading it. Without one (chunked),
    its limited stream stops at the limit and returns what it read, so a longer body would be cut
    silently; here one byte more than the limit is read to tell the two apart.
    """
    limit = request.max_content_length
    stream = request.environ.get("wsgi.input")
    if request.content_length is not None or limit is None or stream is None:
        return request.get_data(cache=False)
    if not request.environ.get("wsgi.input_terminated"):
        return b""  # the server cannot tell where an undeclared body ends: treat it as absent
    data = bytearray()
    while len(data) <= limit:
        chunk = stream.read(min(1 << 16, limit + 1 - len(data)))
        if not chunk:
            break
        data.extend(chunk)
    if len(data) > limit:
        raise RequestEntityTooLarge()
    return bytes(data)


def result_to_json(result: Result) -> dict:
    """The public JSON shape of a result (see the OpenAPI document)."""
    return {
        "question": result.question,
        "answers": [answer_to_json(a) for a in result.answers],
        "no_answer": result.no_answer,
        "took_ms": result.took_ms,
    }


def answer_to_json(answer: Answer) -> dict:
    """One answer: rank, fused score, passage text, highlighted sentence, short answer (the span that answers
    a factoid question, or null), source (with the document's metadata), score parts, and with answers
    grouped by document the document's next best passages."""
    p = answer.passage
    body = {
        "rank": answer.rank,
        "score": answer.score,
        "text": p.text,
        "highlight": {"text": answer.highlight.text, "start": answer.highlight.start, "end": answer.highlight.end},
        "answer": answer.short_answer.to_dict() if answer.short_answer else None,
        "source": {
            "document": p.doc_id,
            "title": p.doc_title,
            "passage": p.number,
            "kind": p.kind,
            "lines": [p.first_line, p.last_line],
            "chars": [p.start_char, p.end_char],
            "metadata": answer.metadata or {},
            "country": _country(answer.metadata or {}),
        },
        "scores": {"dense": answer.dense, "lexical": answer.lexical, "sentence": answer.sentence},
        "matched_terms": list(answer.matched_terms),
    }
    if answer.more:
        body["more"] = [{k: v for k, v in answer_to_json(m).items() if k != "rank"} for m in answer.more]
    return body


def _country(metadata: dict) -> dict | None:
    """The document's country as the page shows it (code, name, "Kazakhstan (KAZ)"), or None without a code."""
    code = country_of(metadata)
    if not code:
        return None
    name = country_name_of(metadata)
    return {"code": code, "name": name or None, "label": country_label(code, name)}


@api.get("/documents")
def documents() -> Response:
    """Every document of the corpus with its metadata."""
    return jsonify({"documents": [d.to_dict() for d in service().retriever.documents()]})


@api.get("/documents/<path:doc_id>")
def document(doc_id: str) -> Response:
    """One document and its passages."""
    found = service().retriever.document(doc_id)
    if found is None:
        raise ApiError(404, "document_not_found", f"No document with id {doc_id!r}.")
    doc, passages = found
    return jsonify(
        {
            **doc.to_dict(),
            "passages": [
                {
                    "number": p.number,
                    "text": p.text,
                    "kind": p.kind,
                    "lines": [p.first_line, p.last_line],
                    "chars": [p.start_char, p.end_char],
                }
                for p in passages
            ],
        }
    )


@api.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 description of this API."""
    return jsonify(openapi_document(service().settings))
