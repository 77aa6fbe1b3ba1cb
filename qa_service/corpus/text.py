"""Whitespace and case normalisation, decided once for every module that compares text."""

from __future__ import annotations

import bisect
import re

_SPACE = re.compile(r"\s+")


def collapse_space(text: str) -> str:
    """``text`` with every run of whitespace made one space, and no space at either end."""
    return _SPACE.sub(" ", text).strip()


def fold(text: str) -> str:
    """``text`` as compared by content: whitespace collapsed and case folded."""
    return collapse_space(text).casefold()


# Markdown that a reader should not see in a passage: a quote marker at the start of a line, runs of two or
# more asterisks (bold, or a stray half of a pair), and a single asterisk that opens or closes emphasis
# (a word on one side only: "*Pact for the Future*"). A bullet ("* item"), an asterisk between spaces
# ("5 * 3") or inside a word is text. Underscores are left alone: in the statements they are blanks and rules.
_MARKUP = re.compile(r"^[ \t]*(?:>[ \t]?)+|\*{2,}|(?<![\w*])\*(?=[^\s*])|(?<=[^\s*])\*(?![\w*])")


def strip_markup(line: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    """``line`` without Markdown emphasis or quote markers and without whitespace at either end, with where
    its characters stand in ``line``.

    Returns ``(text, shifts)``: ``shifts`` are pairs ``(i, shift)``, sorted, the first with ``i == 0``, saying
    that from character ``i`` of ``text`` on (up to the next pair) a character stands ``shift`` characters
    further on in ``line``; :func:`source_index` reads them.
    """
    if "*" not in line and ">" not in line:
        stripped = line.strip()
        return stripped, ((0, len(line) - len(line.lstrip())),)
    kept: list[tuple[int, int]] = []  # ranges of ``line`` that stay, in order
    position = 0
    for match in _MARKUP.finditer(line):
        start, end = match.span()
        if line[start] == "*" and (start == 0 or line[start - 1].isspace()):
            while end < len(line) and line[end].isspace():  # " ** " leaves one space, not two
                end += 1
        kept.append((position, start))
        position = end
    kept.append((position, len(line)))
    joined = "".join(line[a:b] for a, b in kept)
    lead = len(joined) - len(joined.lstrip())
    shifts: list[tuple[int, int]] = []
    offset = 0  # where the current range starts in ``joined``
    for a, b in kept:
        if b > a and offset + (b - a) > lead:  # not empty, not all leading whitespace
            shifts.append((max(0, offset - lead), a - offset + lead))
        offset += b - a
    return joined.strip(), tuple(shifts) or ((0, 0),)


def source_index(shifts: tuple[tuple[int, int], ...], i: int) -> int:
    """Where character ``i`` of a text that :func:`strip_markup` made stands in the line it was made from."""
    k = bisect.bisect_right(shifts, i, key=lambda pair: pair[0]) - 1
    return i + shifts[max(0, k)][1]
