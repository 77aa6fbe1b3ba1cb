"""Checking an ask request's fields, from a JSON body or a query string, before any work is done."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..corpus import MAX_COUNTRY_CHARS, MAX_ID_CHARS
from ..errors import BadRequest
from ..index import Filter

ASK_FIELDS = frozenset({"question", "top_k", "document", "country", "year_from", "year_to", "group_by_document"})
FILTER_FIELDS = ("document", "country", "year_from", "year_to", "group_by_document")
#: How many values a list filter takes, and how long each may be: (values, characters); as long as
#: the corpus allows ids and countries to be (``corpus.MAX_ID_CHARS``), and small enough that any
#: request the OpenAPI schema allows fits the default body limit.
FILTER_LIMITS = {"document": (10, MAX_ID_CHARS), "country": (20, MAX_COUNTRY_CHARS)}

#: The rule of ``validate_question`` as a JSON Schema (ECMA-262, Unicode) pattern, for the OpenAPI
#: document: no NUL anywhere and at least one letter or digit (``str.isalnum`` is exactly the Unicode
#: categories L and N).
QUESTION_PATTERN = r"^[^\u0000]*[\p{L}\p{N}][^\u0000]*$"

_INTEGER = re.compile(r"[+-]?[0-9]{1,9}")
#: NUL or a surrogate code point (Unicode category Cs: U+D800 to U+DFFF), which no text holds.
_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True)
class AskRequest:
    """A validated question, how many answers to return, and which documents to ask (an empty filter: all)."""

    question: str
    top_k: int
    filter: Filter = Filter()
    group_by_document: bool = False


class _DuplicateField(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _unique_fields(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for name, value in pairs:
        if name in seen:
            raise _DuplicateField(name)
        seen[name] = value
    return seen


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode_json_body(raw: bytes) -> Any:
    """Decode a request body as strict JSON.

    Python's decoder takes the last of duplicate keys and accepts ``NaN``/``Infinity``; another parser in
    front of the service may read the same body differently, so both are refused here. Nesting too deep
    for the decoder is refused like any other malformed body.
    """
    try:
        return json.loads(raw, object_pairs_hook=_unique_fields, parse_constant=_no_constant)
    except _DuplicateField as exc:
        raise BadRequest("duplicate_field", f"Field {exc.name!r} is given more than once.") from None
    except (ValueError, RecursionError):
        raise BadRequest("invalid_json", "The request body is not valid JSON.") from None


def parse_ask_json(body: Any, default_top_k: int, max_top_k: int, max_chars: int) -> AskRequest:
    """Validate a decoded JSON body: an object with ``question`` (string) and optional ``top_k`` (integer)."""
    if not isinstance(body, dict):
        raise BadRequest("invalid_body", "The request body must be a JSON object.")
    unknown = sorted(set(body) - ASK_FIELDS)
    if unknown:
        raise BadRequest(
            "unknown_field", f"Unknown field(s): {', '.join(unknown)}. Allowed: {', '.join(sorted(ASK_FIELDS))}."
        )
    question = validate_question(body.get("question"), max_chars)
    top_k = body.get("top_k", default_top_k)
    if top_k is None:
        top_k = default_top_k
    # bool is an int in Python; true/false is not a count. JSON has one number type, so 3.0 is 3.
    if isinstance(top_k, float) and top_k.is_integer():
        top_k = int(top_k)
    if isinstance(top_k, bool) or not isinstance(top_k, int):
        raise BadRequest("invalid_top_k", f"top_k must be an integer from 1 to {max_top_k}.")
    group = body.get("group_by_document")
    group = False if group is None else group
    if not isinstance(group, bool):
        raise BadRequest("invalid_group_by_document", "group_by_document must be true or false.")
    top_k = _check_top_k(top_k, max_top_k)
    documents = _names("document", body.get("document"))
    countries = _countries(_names("country", body.get("country")))
    years = _years(body.get("year_from"), body.get("year_to"))
    return AskRequest(question, top_k, Filter(documents, countries, *years), group_by_document=group)


def parse_ask_args(args: Mapping[str, list[str]], default_top_k: int, max_top_k: int, max_chars: int) -> AskRequest:
    """Validate query-string parameters (each name mapped to all its values)."""
    for name in ("question", "top_k"):  # a fixed order: the same request always gets the same error
        if len(args.get(name, [])) > 1:
            raise BadRequest(f"invalid_{name}", f"Give {name} once, not {len(args[name])} times.")
    question = validate_question((args.get("question") or [None])[0], max_chars)
    raw = (args.get("top_k") or [None])[0]
    if raw is None:
        top_k = default_top_k
    elif not _INTEGER.fullmatch(raw.strip()):
        raise BadRequest("invalid_top_k", f"top_k must be an integer from 1 to {max_top_k}.")
    else:
        top_k = _check_top_k(int(raw.strip()), max_top_k)
    for name in FILTER_FIELDS:
        if len(args.get(name, [])) > 1:
            raise BadRequest(f"invalid_{name}", f"Give {name} once, not {len(args[name])} times.")
    given = {name: (args.get(name) or [None])[0] for name in FILTER_FIELDS}
    for name, value in given.items():
        if value == "":
            raise BadRequest(f"invalid_{name}", f"{name} is empty; leave it out to not filter.")
    group = given["group_by_document"]
    if group not in (None, "true", "false"):
        raise BadRequest("invalid_group_by_document", "group_by_document must be true or false.")
    documents = _names("document", _comma_list("document", given["document"]))
    countries = _countries(_names("country", _comma_list("country", given["country"])))
    years = _years(_year_text("year_from", given["year_from"]), _year_text("year_to", given["year_to"]))
    return AskRequest(question, top_k, Filter(documents, countries, *years), group_by_document=group == "true")


def _comma_list(field: str, raw: str | None) -> list[str] | None:
    """Several values of a list filter in a query string, comma-separated: ``country=KAZ,USA``."""
    if raw is None:
        return None
    items = raw.split(",")
    most, longest = FILTER_LIMITS[field]
    if len(items) > most or any(len(item) > longest for item in items):
        raise BadRequest(
            f"invalid_{field}", f"{field} takes at most {most} comma-separated values of at most {longest} characters."
        )
    return [item.strip() for item in items if item.strip()] or None


def _names(field: str, value: Any) -> frozenset[str] | None:
    """A filter of names: a string or a list of strings (None when absent or empty).

    Whether the corpus has them is checked against its facets by :func:`check_known_names`.
    """
    if value is None or value == "" or value == []:
        return None
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise BadRequest(f"invalid_{field}", f"{field} must be a string or a list of strings.")
    most, longest = FILTER_LIMITS[field]
    if len(values) > most or any(len(v) > longest for v in values):
        raise BadRequest(f"invalid_{field}", f"{field} takes at most {most} values of at most {longest} characters.")
    values = [v.strip() for v in values if v.strip()]
    return frozenset(values) or None


def _countries(values: frozenset[str] | None) -> frozenset[str] | None:
    return frozenset(v.upper() for v in values) if values else None


def _year_text(field: str, raw: str | None) -> int | None:
    if raw is None:
        return None
    raw = raw.strip()
    if not _INTEGER.fullmatch(raw):
        raise BadRequest(f"invalid_{field}", f"{field} must be a year (an integer).")
    return int(raw)


def _years(year_from: Any, year_to: Any) -> tuple[int | None, int | None]:
    """The year range, checked; JSON has one number type, so 2020.0 is 2020. An empty range (from after
    to) is not an error: it matches nothing."""
    years = []
    for field, value in (("year_from", year_from), ("year_to", year_to)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 9999):
            raise BadRequest(f"invalid_{field}", f"{field} must be a year from 0 to 9999.")
        years.append(value)
    return years[0], years[1]


def validate_question(value: Any, max_chars: int) -> str:
    """The question stripped of surrounding space.

    Refused: missing, not a string, over ``max_chars`` characters (counted as sent), containing NUL or
    an unpaired surrogate, or without a single letter or digit (which covers empty and blank).
    """
    if value is None:
        raise BadRequest("missing_question", "A question is required (field 'question').")
    if not isinstance(value, str):
        raise BadRequest("invalid_question", "The question must be a string.")
    if len(value) > max_chars:
        raise BadRequest("question_too_long", f"The question has {len(value)} characters; the limit is {max_chars}.")
    if _NOT_TEXT.search(value):
        raise BadRequest("invalid_question", "The question contains characters that are not text.")
    question = value.strip()
    if not question:
        raise BadRequest("empty_question", "The question is empty.")
    if not any(ch.isalnum() for ch in question):
        raise BadRequest("empty_question", "The question has no letters or digits.")
    return question


def _check_top_k(top_k: int, max_top_k: int) -> int:
    if not 1 <= top_k <= max_top_k:
        raise BadRequest("invalid_top_k", f"top_k must be an integer from 1 to {max_top_k}; got {top_k}.")
    return top_k


#: How many names an error lists, and how many close matches it suggests.
LISTED_NAMES = 8
SUGGESTED = 3


def check_known_names(filter_: Filter, facets: dict) -> None:
    """Refuse a document id or a country code the corpus does not have (400 ``unknown_document`` or
    ``unknown_country``), saying what is accepted and suggesting close matches: for a document, ids close
    to it (the file name with its extension finds its id); for a country, codes whose code or country name
    is close to it (``Kazakhstan`` finds ``KAZ``).

    Args:
        facets: ``Retriever.facets()`` of the corpus being asked.
    """
    if filter_.documents:
        ids = [d["id"] for d in facets["documents"]]
        unknown = sorted(filter_.documents - set(ids))
        if unknown:
            close = _close(unknown, {doc_id: doc_id for doc_id in ids}, strip_suffix=True)
            raise BadRequest(
                "unknown_document",
                f"No document with id {_quoted(unknown)} in this corpus."
                + (f" Did you mean {_either(close)}?" if close else "")
                + f" document takes ids as GET /api/v1/documents lists them ({_sample(ids)}).",
                close,
            )
    if filter_.countries:
        countries = facets["countries"]
        codes = [c["code"] for c in countries]
        unknown = sorted(filter_.countries - set(codes))
        if unknown:
            names = {c["code"]: c["code"] for c in countries}
            names.update({c["name"]: c["code"] for c in countries if c["name"]})
            close = _close(unknown, names, prefixes=True)
            labels = {c["code"]: c["label"] for c in countries}
            raise BadRequest(
                "unknown_country",
                f"No document of country {_quoted(unknown)} in this corpus."
                + (f" Did you mean {_either([labels[code] for code in close])}?" if close else "")
                + f" country takes the ISO codes of the documents' metadata ({_sample(codes)}).",
                close,
            )


def _close(
    unknown: list[str], choices: dict[str, str], strip_suffix: bool = False, prefixes: bool = False
) -> list[str]:
    """The values (of ``choices``, keyed by what is compared) close to any of ``unknown``, best first,
    compared without case; a match without case or without a file suffix is the only one given. With
    ``prefixes``, a key that begins the unknown name counts as close too (a country's code, in a corpus
    without country names: ``KAZ`` for ``Kazakhstan``)."""
    folded: dict[str, str] = {}
    for key, value in choices.items():
        folded.setdefault(key.casefold(), value)
    found: list[str] = []
    for name in unknown:
        key = name.casefold()
        exact = [key]
        if strip_suffix and "." in key:
            exact.append(key.rsplit(".", 1)[0])
        matches = [k for k in exact if k in folded]
        if not matches:
            starts = [k for k in folded if len(k) >= 2 and key.startswith(k)] if prefixes else []
            matches = starts + difflib.get_close_matches(key, list(folded), n=SUGGESTED)
        for match in matches:
            if folded[match] not in found:
                found.append(folded[match])
    return found[:SUGGESTED]


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _quoted(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names[:LISTED_NAMES]) + (" ..." if len(names) > LISTED_NAMES else "")


def _sample(names: list[str]) -> str:
    """The accepted names, all of them when few, else the first ones and how many there are."""
    if not names:
        return "this corpus has none"
    if len(names) <= LISTED_NAMES:
        return ", ".join(names)
    return f"{len(names)} in all, e.g. {', '.join(names[:LISTED_NAMES])}"
