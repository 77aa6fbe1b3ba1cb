"""Readers' feedback over HTTP: checking a mark, then storing it (``POST /api/v1/feedback`` in
``api.py``, the page's plain form ``POST /feedback`` in ``pages.py``).

A mark names the question, the document and the passage number as ``ask`` returned them, and whether
the passage helped; the API also takes a short comment. A document or passage the index does not have
is refused with 400, so that every stored mark points at a passage a reader could have seen.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app

from ..errors import BadRequest
from ..feedback import FeedbackStore, Mark
from ..ranking import Retriever
from . import metrics
from .request_id import request_id
from .validation import validate_question

EXTENSION_KEY = "qa_feedback"
FEEDBACK_FIELDS = frozenset({"question", "document", "passage", "helpful", "comment"})
#: Longest comment, in characters; longest document id.
MAX_COMMENT_CHARS = 500
MAX_DOCUMENT_CHARS = 512
#: Largest passage number accepted before looking it up (keeps the integer in SQLite's range).
MAX_PASSAGE = 10**9


@dataclass(frozen=True)
class FeedbackRequest:
    """A checked mark, before the passage is looked up."""

    question: str
    document: str
    passage: int
    helpful: bool
    comment: str = ""


def feedback_store() -> FeedbackStore:
    """The store of the app handling the current request."""
    return current_app.extensions[EXTENSION_KEY]


def parse_feedback_json(body: Any, max_question_chars: int) -> FeedbackRequest:
    """Check a decoded JSON body: ``question``, ``document``, ``passage``, ``helpful``, optional ``comment``."""
    if not isinstance(body, dict):
        raise BadRequest("invalid_body", "The request body must be a JSON object.")
    unknown = sorted(set(body) - FEEDBACK_FIELDS)
    if unknown:
        raise BadRequest(
            "unknown_field",
            f"Unknown field(s): {', '.join(unknown)}. Allowed: {', '.join(sorted(FEEDBACK_FIELDS))}.",
        )
    passage = body.get("passage")
    if isinstance(passage, float) and passage.is_integer():
        passage = int(passage)  # JSON has one number type: 2.0 is 2
    if passage is None:
        raise BadRequest("missing_passage", "The passage number is required (field 'passage', as ask returns it).")
    if isinstance(passage, bool) or not isinstance(passage, int):
        raise BadRequest("invalid_passage", "passage must be an integer (the passage number ask returned).")
    helpful = body.get("helpful")
    if helpful is None:
        raise BadRequest("missing_helpful", "Say whether the passage helped (field 'helpful': true or false).")
    if not isinstance(helpful, bool):
        raise BadRequest("invalid_helpful", "helpful must be true or false.")
    return FeedbackRequest(
        question=validate_question(body.get("question"), max_question_chars),
        document=_document(body.get("document")),
        passage=_passage_number(passage),
        helpful=helpful,
        comment=_comment(body.get("comment")),
    )


def parse_feedback_form(form: Mapping[str, str], max_question_chars: int) -> FeedbackRequest:
    """Check the page's form fields (all text): ``helpful`` is ``true`` or ``false``."""
    raw_passage = (form.get("passage") or "").strip()
    if not raw_passage:
        raise BadRequest("missing_passage", "The passage number is missing.")
    if not raw_passage.isascii() or not raw_passage.isdigit() or len(raw_passage) > 10:
        raise BadRequest("invalid_passage", "The passage number is not a number.")
    helpful = form.get("helpful")
    if helpful not in ("true", "false"):
        raise BadRequest("invalid_helpful", "Choose Helpful or Not helpful.")
    return FeedbackRequest(
        question=validate_question(form.get("question"), max_question_chars),
        document=_document(form.get("document")),
        passage=_passage_number(int(raw_passage)),
        helpful=helpful == "true",
        comment=_comment(form.get("comment") or None),
    )


def _document(value: Any) -> str:
    if value is None:
        raise BadRequest("missing_document", "The document id is required (field 'document', as ask returns it).")
    if not isinstance(value, str) or not value.strip():
        raise BadRequest("invalid_document", "document must be a document id (a non-empty string).")
    if len(value) > MAX_DOCUMENT_CHARS:
        raise BadRequest("invalid_document", f"document is longer than {MAX_DOCUMENT_CHARS} characters.")
    return value.strip()


def _passage_number(value: int) -> int:
    if not 1 <= value <= MAX_PASSAGE:
        raise BadRequest("invalid_passage", "passage must be a passage number (1 or more).")
    return value


def _comment(value: Any) -> str:
    """An optional comment: a string of at most MAX_COMMENT_CHARS, text only (line breaks and tabs kept)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest("invalid_comment", "comment must be a string.")
    if len(value) > MAX_COMMENT_CHARS:
        raise BadRequest(
            "comment_too_long", f"The comment has {len(value)} characters; the limit is {MAX_COMMENT_CHARS}."
        )
    if any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\n\t" for ch in value):
        raise BadRequest("invalid_comment", "The comment contains characters that are not text.")
    return value.strip()


def store_feedback(retriever: Retriever, feedback: FeedbackRequest, via: str) -> int:
    """Store a mark once its passage is found in the index being served; returns the stored id.

    Raises:
        BadRequest: no such document, or no such passage in it.
    """
    found = retriever.document(feedback.document)
    if found is None:
        raise BadRequest("unknown_document", f"No document with id {feedback.document!r} (see /api/v1/documents).")
    _, passages = found
    passage = next((p for p in passages if p.number == feedback.passage), None)
    if passage is None:
        raise BadRequest(
            "unknown_passage",
            f"Document {feedback.document!r} has no passage {feedback.passage} (it has {len(passages)}).",
        )
    mark = Mark(
        question=feedback.question,
        document=feedback.document,
        passage=feedback.passage,
        passage_text=passage.text,
        helpful=feedback.helpful,
        comment=feedback.comment,
        via=via,
        request_id=request_id(),
        index_build=retriever.index.build or "",
    )
    stored = feedback_store().add(mark)
    metrics.record_feedback(feedback.helpful, via)
    return stored
