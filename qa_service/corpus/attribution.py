"""The attribution passage: a document's facts (speaker, post, country, session, date) as a passage of it.

A statement's text seldom says who delivered it, for which country or when: the UN General Debate files
open with "Mr President, ..." and the speaker, post, country and session live in the ``.meta.json``
sidecar. So that "Who spoke for France in 2024?" finds France's 2024 statement, each document with such
facts gets one more passage, written from them as a sentence a letterhead would hold ("Statement by
Emmanuel Macron, President of France, at the general debate of the 79th session of the United Nations
General Assembly, in 2024."). It is not part of the source file: its ``kind`` is :data:`METADATA_KIND`,
its lines and characters are ``0`` (none), and it comes after the text's passages, numbered after them, so
the text's own passages keep their numbers. A document whose text has a letterhead naming the speaker (the
shipped statement) needs none and gets none. Its role is ``letterhead``: it answers what a letterhead
answers, and questions about the speaker are routed to it as to one.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from typing import Any

from .documents import Document, country_name_of, country_of, year_of
from .layout import split_passages
from .passages import Passage
from .sentences import split_sentences
from .text import collapse_space, fold

#: The passage kind of an attribution passage (beside "paragraph" and "block"): written from the document's
#: metadata, not taken from its text.
METADATA_KIND = "metadata"
#: Bumped whenever the attribution text changes, so that indexes holding older ones count as stale.
ATTRIBUTION_VERSION = "4"
#: A metadata value longer than this is not a name, a post or a date: it is left out.
MAX_FACT_CHARS = 200

_MONTHS = ("January February March April May June July August September October November December").split()
_GENERAL_DEBATE = re.compile(r"\bgeneral\s+debate\b", re.IGNORECASE)


def document_passages(
    doc: Document,
    count_tokens: Callable[[str], int] | None = None,
    max_tokens: int = 256,
    attribution: bool = True,
) -> list[Passage]:
    """A document's passages: its text split into paragraphs (:func:`~.layout.split_passages`), followed,
    with ``attribution``, by the passage written from its metadata when it has facts to tell."""
    passages = split_passages(doc, count_tokens, max_tokens)
    if attribution and not _letterhead_names_speaker(passages, doc.metadata):
        extra = attribution_passage(doc, len(passages) + 1)
        if extra is not None:
            passages.append(extra)
    return passages


def _letterhead_names_speaker(passages: list[Passage], metadata: dict[str, Any]) -> bool:
    """Whether a letterhead of the text already names the speaker: its facts are a passage already, and a
    copy written from the metadata would only crowd it (and the text's other passages) in the ranking."""
    speaker = fold(_fact(metadata, "speaker"))
    return bool(speaker) and any(p.kind == "block" and speaker in fold(p.text) for p in passages)


def attribution_passage(doc: Document, number: int) -> Passage | None:
    """The passage numbered ``number`` that tells ``doc``'s facts, or None when its metadata names no
    speaker, post, country, session nor date."""
    text = attribution_text(doc.metadata, doc.title)
    if not text:
        return None
    return Passage(
        doc_id=doc.id,
        doc_title=doc.title,
        number=number,
        text=text,
        first_line=0,
        last_line=0,
        start_char=0,
        end_char=0,
        kind=METADATA_KIND,
        sentences=tuple(split_sentences(text)),
        role="letterhead",
    )


def attribution_text(metadata: dict[str, Any], title: str = "") -> str:
    """The sentence that tells a document's facts, or "" when it has none.

    Read from ``speaker``, ``post``, ``country_name`` (else ``country``), ``session``, ``agenda_item``,
    ``occasion``, ``date`` (else ``year``); a session is "the general debate of" it when the title says so
    and no occasion is given.
    """
    speaker = _fact(metadata, "speaker")
    post = _fact(metadata, "post")
    name = country_name_of(metadata)[:MAX_FACT_CHARS]
    country = _with_article(name) or country_of(metadata)[:MAX_FACT_CHARS]
    session = _session(metadata.get("session"))
    agenda = _fact(metadata, "agenda_item")
    occasion = _fact(metadata, "occasion")
    when = _date_phrase(metadata)
    if not (speaker or post or country or session or agenda or occasion or when):
        return ""

    who = ", ".join(p for p in (speaker, _post_phrase(post, name)) if p)
    if who and country and not post:
        who = f"{who} for {country}"
    parts = [f"Statement by {who or country}" if who or country else "Statement"]
    if occasion:
        parts.append(occasion if occasion.lower().startswith(("at ", "on ", "in ", "to ")) else f"at {occasion}")
    if session:
        debate = "the general debate of " if not occasion and _GENERAL_DEBATE.search(title) else ""
        parts.append(f"at {debate}the {_ordinal(session)} session of the United Nations General Assembly")
    if agenda:
        parts.append(f"on agenda item {agenda}" if not agenda.lower().startswith("agenda") else f"on {agenda}")
    if when:
        parts.append(when)
    return ", ".join(parts) + "."


def _fact(metadata: dict[str, Any], key: str) -> str:
    """A metadata value as one line of text ("" when missing, not text or a number, or too long)."""
    value = metadata.get(key)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return ""
    text = collapse_space(str(value)).strip(" ,;")
    return text if len(text) <= MAX_FACT_CHARS else ""


_TAKES_THE = re.compile(
    r"^(?:united|republic|democratic|kingdom|holy|federated|islamic|plurinational|state\s+of)\b"
    r"|\b(?:islands|republic|federation|emirates|union)$"
    r"|^(?:bahamas|gambia|comoros|maldives|netherlands|philippines|seychelles)$",
    re.IGNORECASE,
)


def _with_article(name: str) -> str:
    """A country name as a sentence says it: "the United Kingdom", "the Netherlands", "France"."""
    return f"the {name}" if _TAKES_THE.search(name) else name


def _post_phrase(post: str, country_name: str) -> str:
    """The speaker's post and whom it serves: "President of France"; a post that names its country already
    ("Permanent Representative of the Republic of Kazakhstan to the United Nations") as it is."""
    if not post or not country_name or country_name.lower() in post.lower():
        return post
    return f"{post} of {_with_article(country_name)}"


def _date_phrase(metadata: dict[str, Any]) -> str:
    """ "on 12 October 2020" from an ISO ``date``, "in 2024" from ``year``, or ""."""
    date = _fact(metadata, "date")
    try:
        day = datetime.date.fromisoformat(date[:10]) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", date[:10]) else None
    except ValueError:
        day = None
    if day is not None:
        return f"on {day.day} {_MONTHS[day.month - 1]} {day.year}"
    if date:
        return f"on {date}"
    year = year_of(metadata)
    return f"in {year}" if year else ""


def _session(value: Any) -> int:
    """A General Assembly session number (an integer or a string of digits, 1 or more), 0 when none."""
    number = year_of({"year": value})
    return number if 0 < number < 10_000 else 0


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
