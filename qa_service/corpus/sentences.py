"""Sentences and token-bounded chunks of a text."""

from __future__ import annotations

import bisect
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


#: A chunk holds at most this many characters per word piece of its limit. Real text has 3 to 6
#: characters per word piece, so only text the tokenizer cannot cut (a word longer than its longest
#: piece becomes one unknown token, whatever its length) meets this limit before the token limit.
MAX_CHARS_PER_TOKEN = 10


def max_chars(max_tokens: int) -> int:
    """The most characters a chunk of at most ``max_tokens`` word pieces may hold."""
    return max_tokens * MAX_CHARS_PER_TOKEN


def fits(text: str, count_tokens: Callable[[str], int], max_tokens: int) -> bool:
    """Whether ``text`` fits ``max_tokens`` word pieces and :func:`max_chars`; a text over the character
    limit is never given to the tokenizer, so no text is ever counted whole however long it is."""
    return len(text) <= max_chars(max_tokens) and count_tokens(text) <= max_tokens


def chunk_spans(
    text: str,
    spans: Sequence[tuple[int, int]],
    count_tokens: Callable[[str], int],
    max_tokens: int,
    overlap: int = 1,
) -> list[tuple[int, int]]:
    """Group consecutive sentence spans into chunks of at most ``max_tokens`` word pieces (and
    :func:`max_chars` characters).

    Consecutive chunks share ``overlap`` sentences, so that a fact stated across a boundary is seen
    whole by at least one chunk. A single sentence over the limit is cut at word boundaries, and a word
    over it (text without whitespace) by length.
    """
    units: list[tuple[int, int]] = []
    counts: list[int | None] = []  # each unit's word pieces, when already counted
    for span in spans:
        a, b = span
        count = _count(text[a:b], count_tokens, max_tokens)
        if count <= max_tokens:
            units.append(span)  # the caller's own pair, not a copy: a huge text has millions of them
            counts.append(count)
            continue
        words: list[tuple[int, int]] = []
        for m in _WORD.finditer(text, a, b):
            if fits(m.group(), count_tokens, max_tokens):
                words.append(m.span())
            else:
                words.extend(_cut_by_length(text, m.start(), m.end(), count_tokens, max_tokens))
        pieces = _pack(text, words, count_tokens, max_tokens, overlap=0)
        units.extend(pieces)
        counts.extend([None] * len(pieces))
    return _pack(text, units, count_tokens, max_tokens, overlap, counts)


def _count(text: str, count_tokens: Callable[[str], int], max_tokens: int) -> int:
    """The word pieces of ``text``, or ``max_tokens + 1`` for a text over the character limit (not counted)."""
    return count_tokens(text) if len(text) <= max_chars(max_tokens) else max_tokens + 1


def _cut_by_length(
    text: str, a: int, b: int, count_tokens: Callable[[str], int], max_tokens: int
) -> list[tuple[int, int]]:
    """Cut ``text[a:b]`` (no whitespace in it) into consecutive pieces that each fit the limits."""
    pieces: list[tuple[int, int]] = []
    size = max_chars(max_tokens)
    while a < b:
        end = min(b, a + size)
        while end - a > 1 and count_tokens(text[a:end]) > max_tokens:
            end = a + (end - a) // 2
        pieces.append((a, end))
        a = end
    return pieces


def _pack(
    text: str,
    units: Sequence[tuple[int, int]],
    count_tokens: Callable[[str], int],
    max_tokens: int,
    overlap: int,
    counts: Sequence[int | None] | None = None,
) -> list[tuple[int, int]]:
    """Greedily join consecutive spans while the joined text fits; consecutive groups share ``overlap``.

    Each span is counted once (``counts`` holds those already counted); the longest run that fits is
    first guessed from the sum of its spans' counts (exact for word-piece tokenizers, which cut at
    whitespace), then checked, and searched by doubling and bisection from there when the guess is wrong.
    A chunk costs a couple of counts of its own length instead of one per span: counting was most of the
    time of splitting a long text.
    """
    if not units:
        return []
    special = count_tokens("")  # [CLS] and [SEP]: counted once per text, not once per span
    sums = [0]
    for k, (a, b) in enumerate(units):
        known = counts[k] if counts is not None else None
        sums.append(sums[-1] + (known if known is not None else _count(text[a:b], count_tokens, max_tokens)) - special)
    chunks: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        guess = max(i, bisect.bisect_right(sums, sums[i] + max_tokens - special) - 2)
        j = _last_fitting(text, units, i, min(guess, len(units) - 1), count_tokens, max_tokens) + 1
        chunks.append((units[i][0], units[j - 1][1]))
        if j >= len(units):
            break
        i = max(i + 1, j - overlap)
    return chunks


def _last_fitting(
    text: str,
    units: Sequence[tuple[int, int]],
    i: int,
    guess: int,
    count_tokens: Callable[[str], int],
    max_tokens: int,
) -> int:
    """The last ``j >= i`` such that ``units[i..j]`` joined fit (``i`` itself when none beyond it does),
    searched from ``guess`` (a text's token count grows with it)."""

    def ok(j: int) -> bool:
        return fits(text[units[i][0] : units[j][1]], count_tokens, max_tokens)

    if guess > i and not ok(guess):
        good, bad = i, guess
    else:
        good, step = guess, 1
        while good + step < len(units) and ok(good + step):
            good += step
            step *= 2
        bad = min(good + step, len(units))  # units[i..bad] does not fit, or bad is past the end
    while bad - good > 1:
        middle = (good + bad) // 2
        if ok(middle):
            good = middle
        else:
            bad = middle
    return good
