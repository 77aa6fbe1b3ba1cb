"""Short answers: the span of a passage that answers a factoid question ("September 16, 2005").

No reader model ships offline, so the span comes from rules:

1. The question's wording says what kind of answer it wants (``answer_kinds.answer_kind``): a date, a
   year, a number or an amount, a person, an organisation, a place or a country. Other questions get no
   span.
2. The candidates of that kind in the passage are found by patterns (``spans.candidates``: dates, years,
   numbers and number words, amounts, runs of capitalised words sorted into people, organisations and
   places, ISO country names); ``number-parser`` reads a number's value, and a date's is read by its
   pattern (day, month and year, or none).
3. A candidate that repeats the question ("Which body established the Ad Hoc Committee?" is not
   answered by "Ad Hoc Committee") is dropped; the rest are scored by their sentence's score (the
   highlight's) and by how close they stand to the question's words. The best wins, if its sentence
   shares a content word with the question or is the highlight: otherwise no span (better none than a
   wrong one).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from .answer_kinds import answer_kind, class_words
from .bm25 import stem_cache, stemmer, stopwords, terms, words
from .spans import CONNECTORS, MONTH, YEAR, YEAR_RE, Candidate, candidates


@dataclass(frozen=True)
class ShortAnswer:
    """The answering span: ``text`` is ``passage.text[start:end]``; ``value`` a normalised form when known
    (ISO date, integer), ``kind`` what the question asked for."""

    text: str
    start: int
    end: int
    kind: str
    value: str | int | float | None = None

    def to_dict(self) -> dict:
        """The JSON form of the API."""
        return {"text": self.text, "start": self.start, "end": self.end, "kind": self.kind, "value": self.value}


@stem_cache(maxsize=1024)  # the sentences of the passages that answer recur from question to question
def _stems(text: str) -> tuple[tuple[str, int, int], ...]:
    stop = stopwords()
    stem = stemmer()
    return tuple((stem.stemWord(w.lower()), a, b) for w, a, b in words(text) if w.lower() not in stop)


def _trim(text: str, c: Candidate, asked: set[str], class_stems: set[str]) -> Candidate | None:
    """The candidate without the question's own words at its edges ("Charter of the United Nations" →
    "United Nations" for "Which organization's Charter ..."); None when what is left still repeats the
    question (words naming the answer's class, "congress" in "Which congress ...", may stay)."""
    stem = stemmer()
    tokens = [
        (m.group(0).strip(".,'’"), c.start + m.start(), c.start + m.end())
        for m in _WORD.finditer(text[c.start : c.end])
    ]

    def repeats(word: str) -> bool:
        s = stem.stemWord(word.lower())
        return s in asked and s not in class_stems

    while tokens and (repeats(tokens[0][0]) or tokens[0][0].lower() in CONNECTORS):
        tokens = tokens[1:]
    while tokens and (repeats(tokens[-1][0]) or tokens[-1][0].lower() in CONNECTORS):
        tokens = tokens[:-1]
    if not tokens or any(repeats(w) for w, _, _ in tokens if w.lower() not in stopwords()):
        return None
    return Candidate(tokens[0][1], tokens[-1][2], c.kind)


_WORD = re.compile(r"\S+")
_PLURAL = re.compile(r"\w+(?:ies|[^s']s)")
_LIST = re.compile(r",|\band\b")
_DIGITS = re.compile(r"\d+")
_DECIMAL = re.compile(r"\d+\.\d+")
# Sentences scoring within this of the best count as the highlight (words said differently: "bombings").
_CLOSE_SCORE = 0.05
_NUMERIC = ("date", "year", "month", "number", "amount")


def find_short_answer(
    question: str,
    text: str,
    sentences: Sequence[tuple[int, int, float]],
    kind: str | None = None,
) -> ShortAnswer | None:
    """The span of ``text`` that answers ``question``, or None when the question asks for no short answer
    or the passage holds none that the rules trust.

    Args:
        sentences: the passage's sentences (or any spans of it read as units, a letterhead block
            whole) as ``(start, end, score)``, the score saying how well each answers (the highlight's).
        kind: the kind of answer wanted, when already known (else read from the question).
    """
    kind = kind or answer_kind(question)
    if kind is None or not sentences:
        return None
    stem = stemmer()
    asked = set(terms(question))
    class_stems = {stem.stemWord(w) for w in class_words(question)}
    plural = any(_PLURAL.fullmatch(w) for w in class_words(question))
    best_sentence = max(s for _, _, s in sentences)
    best: tuple[float, Candidate] | None = None
    for a, b, score in sentences:
        sentence = text[a:b]
        shared = [(x, y) for st, x, y in _stems(sentence) if st in asked]
        if not shared and score < best_sentence - _CLOSE_SCORE:
            continue  # only the highlight (or a sentence as good) may answer without sharing a word
        for c in candidates(sentence, "date" if kind == "month" else kind, question):
            if kind in _NUMERIC:
                span_terms = set(terms(sentence[c.start : c.end]))
                trimmed = None if span_terms & asked - class_stems else c
            else:
                trimmed = _trim(sentence, c, asked, class_stems)
            if trimmed is None:
                continue
            # Closeness to the question's words, in characters (a candidate's own words do not count).
            outside = [(x, y) for x, y in shared if y <= trimmed.start or x >= trimmed.end]
            distance = min((min(abs(trimmed.start - y), abs(x - trimmed.end)) for x, y in outside), default=100)
            value = score - best_sentence + 0.5 * len(shared) / max(len(asked), 1) - distance / 400
            is_list = bool(_LIST.search(sentence[trimmed.start : trimmed.end])) and kind in (
                "place",
                "country",
            )
            if is_list:
                value += 0.1 if plural else -0.1
            if best is None or value > best[0] + 1e-9:
                best = (value, Candidate(trimmed.start + a, trimmed.end + a, kind))
    if best is None or best[0] < -0.35:
        return None
    c = best[1]
    narrow = {"year": YEAR, "month": re.compile(MONTH)}.get(kind)
    if narrow is not None:
        part = narrow.search(text, c.start, c.end)
        if part is None:
            return None
        c = Candidate(part.start(), part.end(), kind)
    span = text[c.start : c.end]
    return ShortAnswer(span, c.start, c.end, kind, _value(span, kind))


@lru_cache(maxsize=4096)  # the spans of the passages that answer recur from question to question
def _value(span: str, kind: str) -> str | int | float | None:
    """The normalised value of a date (ISO, when day, month and year are all there) or a number."""
    try:
        if kind == "date":
            return iso_date(span)
        if kind == "year":
            return int(span[:4]) if span[:4].isdigit() else None
        if kind == "number":
            parse_number = _number_parser()
            cleaned = span.replace(",", "")
            if _DIGITS.fullmatch(cleaned):
                return int(cleaned)
            if _DECIMAL.fullmatch(cleaned):
                return float(cleaned)
            parsed = parse_number(span.lower())
            return parsed if isinstance(parsed, int) else None
    except Exception:  # a value is a courtesy: the span stands without it
        return None
    return None


_FULL_DATE = re.compile(
    rf"(?:(?P<month>{MONTH})\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<year>{YEAR_RE})"
    rf"|(?P<day2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<month2>{MONTH}),?\s+(?P<year2>{YEAR_RE}))"
)
_MONTH_NUMBERS = {m: n for n, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}


def iso_date(span: str) -> str | None:
    """The ISO form of a date span that gives day, month and year ("September 16, 2005", "12 October
    2020"); None for anything less (a month, a year) or a day the month does not have."""
    m = _FULL_DATE.fullmatch(span)
    if m is None:
        return None
    month = (m.group("month") or m.group("month2")).lower()[:3]
    day, year = int(m.group("day") or m.group("day2")), int(m.group("year") or m.group("year2"))
    try:
        return date(year, _MONTH_NUMBERS[month], day).isoformat()
    except ValueError:
        return None


@lru_cache(maxsize=1)
def _number_parser():
    """number-parser's ``parse_number`` with its language tables built once: it builds them anew for each
    of its six languages on every call (about 1 ms, most of a short answer's cost); they are only read."""
    from number_parser import parser

    if not hasattr(parser.LanguageData, "cache_info"):
        parser.LanguageData = lru_cache(maxsize=None)(parser.LanguageData)
    return parser.parse_number
