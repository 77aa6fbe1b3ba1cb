"""Sentences and token-bounded chunks of a text."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

_WORD = re.compile(r"\S+")
# Abbreviations after which a full stop does not end a sentence.
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st no nos art arts para paras vol etc e.g i.e vs cf jr sr gen col lt h.e u.n u.s "
    "u.k e.u fig figs op cit ibid approx dept govt inc ltd co corp rev hon".split()
)
_SENTENCE_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s+[\"“'(\[]?[A-Z0-9])")

# ---------------------------------------------------------------------------------------------
# Sentences and token-bounded chunks


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Half-open character spans of the sentences of ``text``, whitespace excluded.

    A full stop after a known abbreviation ("Mr.", "H.E.") or a single capital initial does not end a
    sentence; every character of ``text`` other than whitespace belongs to exactly one span.
    """
    spans: list[tuple[int, int]] = []
    start = _skip_space(text, 0)
    for match in _SENTENCE_BOUNDARY.finditer(text):
        end = match.end()
        if end <= start or _is_abbreviation(text, match.start()):
            continue
        spans.append((start, end))
        start = _skip_space(text, end)
    tail_end = len(text.rstrip())
    if start < tail_end:
        spans.append((start, tail_end))
    return spans


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _is_abbreviation(text: str, dot: int) -> bool:
    if text[dot] != ".":
        return False
    word_start = dot
    while word_start > 0 and not text[word_start - 1].isspace() and text[word_start - 1] not in "(\"“'":
        word_start -= 1
    word = text[word_start:dot].lower()
    if word in _ABBREVIATIONS:
        return True
    return len(word) == 1 and word.isalpha() and text[word_start].isupper()


def chunk_spans(
    text: str,
    spans: Sequence[tuple[int, int]],
    count_tokens: Callable[[str], int],
    max_tokens: int,
    overlap: int = 1,
) -> list[tuple[int, int]]:
    """Group consecutive sentence spans into chunks of at most ``max_tokens`` word pieces.

    Consecutive chunks share ``overlap`` sentences, so that a fact stated across a boundary is seen
    whole by at least one chunk. A single sentence over the limit is cut at word boundaries.
    """
    units: list[tuple[int, int]] = []
    for a, b in spans:
        if count_tokens(text[a:b]) <= max_tokens:
            units.append((a, b))
        else:
            words = [(m.start() + a, m.end() + a) for m in _WORD.finditer(text[a:b])]
            units.extend(_pack(text, words, count_tokens, max_tokens, overlap=0))
    return _pack(text, units, count_tokens, max_tokens, overlap)


def _pack(
    text: str, units: Sequence[tuple[int, int]], count_tokens: Callable[[str], int], max_tokens: int, overlap: int
) -> list[tuple[int, int]]:
    """Greedily join consecutive spans while the joined text fits; consecutive groups share ``overlap``."""
    chunks: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        j = i + 1
        while j < len(units) and count_tokens(text[units[i][0] : units[j][1]]) <= max_tokens:
            j += 1
        chunks.append((units[i][0], units[j - 1][1]))
        if j >= len(units):
            break
        i = max(i + 1, j - overlap)
    return chunks
