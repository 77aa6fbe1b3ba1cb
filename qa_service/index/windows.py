"""Windows: each passage cut into stretches that fit the model's input (with its context prefix), and where
each sentence lies in them. A build embeds windows; a sentence's vector is pooled from its window's run."""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass

from ..corpus import Passage, chunk_spans, context_prefix


@dataclass(frozen=True)
class Window:
    """A stretch of a passage that fits the model's input, as embedded (with its context prefix).

    ``text`` is the context prefix followed by ``passage_text[start:end]``, which begins at ``offset``.
    """

    passage: int  # index into the passage list
    text: str
    start: int = 0
    end: int = 0
    offset: int = 0


def make_windows(
    passages: list[Passage],
    count_tokens: Callable[[str], int],
    max_tokens: int,
    with_context: bool,
    whole: Container[tuple[str, str, tuple]] = frozenset(),
) -> list[Window]:
    """Every passage as one or more overlapping windows that fit the model's input.

    A passage that fits (with its context prefix) is one window; a longer one is covered by windows of
    whole sentences overlapping by one sentence, so that no text goes unseen. A passage whose
    ``(prefix, text, sentences)`` is in ``whole`` (a previous build with the same model and settings made it
    one window: see ``build._whole_passages``) is that one window without being counted again.
    """
    windows: list[Window] = []
    for i, passage in enumerate(passages):
        prefix = context_prefix(passage, with_context)
        if (prefix, passage.text, passage.sentences) in whole or count_tokens(prefix + passage.text) <= max_tokens:
            windows.append(Window(i, prefix + passage.text, 0, len(passage.text), len(prefix)))
            continue
        budget = max(32, max_tokens - count_tokens(prefix))
        for a, b in chunk_spans(passage.text, passage.sentences, count_tokens, budget, overlap=1):
            windows.append(Window(i, prefix + passage.text[a:b], a, b, len(prefix)))
    return windows


def sentence_spans(passages: list[Passage], windows: list[Window]) -> tuple[list[list[tuple[int, int]]], dict]:
    """Where each sentence lies in the first window that holds it whole.

    Returns, per window, the sentences' character spans in the window's text, and a map from
    (passage, sentence number) to (window, position in that window's list). A sentence that no window
    holds whole (one longer than the model's input) is absent from the map.
    """
    spans: list[list[tuple[int, int]]] = [[] for _ in windows]
    where: dict[tuple[int, int], tuple[int, int]] = {}
    for w, window in enumerate(windows):
        for n, (a, b) in enumerate(passages[window.passage].sentences):
            if (window.passage, n) not in where and window.start <= a and b <= window.end:
                where[(window.passage, n)] = (w, len(spans[w]))
                spans[w].append((window.offset + a - window.start, window.offset + b - window.start))
    return spans, where
