"""The JSON API (``/api/v1``) and the health probes (``/healthz``, ``/readyz``)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from .errors import ApiError
from .openapi import openapi_document
from .retriever import Answer, Result
from .state import service
from .validation import AskRequest, parse_ask_args, parse_ask_json

api = Blueprint("api", __name__, url_prefix="/api/v1")
health = Blueprint("health", __name__)


@api.route("/ask", methods=["GET", "POST"])
def ask() -> Response:
    """Answer a question from a JSON body (POST) or the query string (GET)."""
    state = service()
    request_ = _read_ask_request()
    result = state.retriever.ask(request_.question, request_.top_k)
    return jsonify(result_to_json(result))


def _read_ask_request() -> AskRequest:
    settings = service().settings
    limits = (settings.default_top_k, settings.max_top_k, settings.max_question_chars)
    if request.method == "GET":
        return parse_ask_args(request.args.to_dict(flat=False), *limits)
    if not request.mimetype or request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the question as JSON (Content-Type: application/json).")
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "invalid_json", "The request body is not valid JSON.")
    return parse_ask_json(body, *limits)


def result_to_json(result: Result) -> dict:
    """The public JSON shape of a result (see the OpenAPI document)."""
    return {
        "question": result.question,
        "answers": [answer_to_json(a) for a in result.answers],
        "no_answer": result.no_answer,
        "took_ms": result.took_ms,
    }


def answer_to_json(answer: Answer) -> dict:
    """One answer: rank, fused score, passage text, highlighted sentence, source and score parts."""
    p = answer.passage
    return {
        "rank": answer.rank,
        "score": answer.score,
        "text": p.text,
        "highlight": {"text": answer.highlight.text, "start": answer.highlight.start, "end": answer.highlight.end},
        "source": {
            "document": p.doc_id,
            "title": p.doc_title,
            "passage": p.number,
            "lines": [p.first_line, p.last_line],
            "chars": [p.start_char, p.end_char],
        },
        "scores": {"dense": answer.dense, "lexical": answer.lexical, "sentence": answer.sentence},
        "matched_terms": list(answer.matched_terms),
    }


@api.get("/documents")
def documents() -> Response:
    """Every document of the corpus with its metadata."""
    return jsonify({"documents": service().retriever.documents()})


@api.get("/documents/<path:doc_id>")
def document(doc_id: str) -> Response:
    """One document and its passages."""
    found = service().retriever.document(doc_id)
    if found is None:
        raise ApiError(404, "document_not_found", f"No document with id {doc_id!r}.")
    doc, passages = found
    return jsonify(
        {
            **doc,
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
