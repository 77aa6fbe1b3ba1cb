"""Checking an ask request's fields, from a JSON body or a query string, before any work is done."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import BadRequest

ASK_FIELDS = frozenset({"question", "top_k"})


@dataclass(frozen=True)
class AskRequest:
    """A validated question and how many answers to return."""

    question: str
    top_k: int


def parse_ask_json(body: Any, default_top_k: int, max_top_k: int, max_chars: int) -> AskRequest:
    """Validate a decoded JSON body: an object with ``question`` (string) and optional ``top_k`` (integer)."""
    if not isinstance(body, dict):
        raise BadRequest("invalid_body", "The request body must be a JSON object.")
    unknown = sorted(set(body) - ASK_FIELDS)
    if unknown:
        raise BadRequest("unknown_field", f"Unknown field(s): {', '.join(unknown)}. Allowed: question, top_k.")
    question = validate_question(body.get("question"), max_chars)
    top_k = body.get("top_k", default_top_k)
    if top_k is None:
        top_k = default_top_k
    # bool is an int in Python; true/false is not a count.
    if isinstance(top_k, bool) or not isinstance(top_k, int):
        raise BadRequest("invalid_top_k", f"top_k must be an integer from 1 to {max_top_k}.")
    return AskRequest(question, _check_top_k(top_k, max_top_k))


def parse_ask_args(args: Mapping[str, list[str]], default_top_k: int, max_top_k: int, max_chars: int) -> AskRequest:
    """Validate query-string parameters (each name mapped to all its values)."""
    for name in ASK_FIELDS:
        if len(args.get(name, [])) > 1:
            raise BadRequest(f"invalid_{name}", f"Give {name} once, not {len(args[name])} times.")
    question = validate_question((args.get("question") or [None])[0], max_chars)
    raw = (args.get("top_k") or [None])[0]
    if raw is None or raw.strip() == "":
        return AskRequest(question, default_top_k)
    try:
        top_k = int(raw.strip())
    except ValueError:
        raise BadRequest("invalid_top_k", f"top_k must be an integer from 1 to {max_top_k}.") from None
    return AskRequest(question, _check_top_k(top_k, max_top_k))


def validate_question(value: Any, max_chars: int) -> str:
    """The question stripped of surrounding space; refuse missing, empty, non-text or over-long ones."""
    if value is None:
        raise BadRequest("missing_question", "A question is required (field 'question').")
    if not isinstance(value, str):
        raise BadRequest("invalid_question", "The question must be a string.")
    question = value.strip()
    if not question:
        raise BadRequest("empty_question", "The question is empty.")
    if len(question) > max_chars:
        raise BadRequest(
            "question_too_long", f"The question has {len(question)} characters; the limit is {max_chars}."
        )
    if "\x00" in question or any(unicodedata.category(ch) == "Cs" for ch in question):
        raise BadRequest("invalid_question", "The question contains characters that are not text.")
    if not any(ch.isalnum() for ch in question):
        raise BadRequest("empty_question", "The question has no letters or digits.")
    return question


def _check_top_k(top_k: int, max_top_k: int) -> int:
    if not 1 <= top_k <= max_top_k:
        raise BadRequest("invalid_top_k", f"top_k must be an integer from 1 to {max_top_k}; got {top_k}.")
    return top_k
