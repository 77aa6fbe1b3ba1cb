"""Whitespace and case normalisation, decided once for every module that compares text."""

from __future__ import annotations

import re

_SPACE = re.compile(r"\s+")


def collapse_space(text: str) -> str:
    """``text`` with every run of whitespace made one space, and no space at either end."""
    return _SPACE.sub(" ", text).strip()


def fold(text: str) -> str:
    """``text`` as compared by content: whitespace collapsed and case folded."""
    return collapse_space(text).casefold()
