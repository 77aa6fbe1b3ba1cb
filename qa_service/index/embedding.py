"""What a build embeds and what it reuses: content keys, where sentences lie, and the embedding of new text.

Every window and sentence is known by a content key (a hash of the model's identity and the exact text
embedded; a pooled sentence's key is its window's text and its span). A build looks each key up among
the previous build's vectors and runs the model only on texts it has not seen, each distinct text once,
pooling a window's sentences from the window's own run.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from ..corpus import Passage
from ..encoders import Encoder
from .builds import KEY_BYTES, IndexData
from .progress import Progress
from .windows import Window

log = logging.getLogger(__name__)


def content_key(identity: str, text: str) -> bytes:
    """What an embedding is kept by: a hash of the model's identity and the exact text embedded."""
    return hashlib.blake2b(f"{identity}\x00{text}".encode(), digest_size=KEY_BYTES).digest()


def content_keys(identity: str, texts: Iterable[str]) -> np.ndarray:
    """The content key of each text, as rows; ``texts`` may be a generator (keys of pooled sentences are
    made from their whole window's text: a list of those would hold every window once per sentence)."""
    raw = b"".join(content_key(identity, t) for t in texts)
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, KEY_BYTES).copy()


#: The spans of a window that pools no sentence.
NO_SPANS = np.zeros((0, 2), dtype=np.int64)


class _Spans(Sequence):
    """A window's ``(k, 2)`` span array as the encoders take it: a sequence of ``(start, end)`` tuples,
    made only while the window is encoded."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, k: int | slice) -> tuple[int, int] | list[tuple[int, int]]:
        if isinstance(k, slice):
            return [tuple(row) for row in self.array[k].tolist()]
        return tuple(self.array[k].tolist())

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return (tuple(row) for row in self.array.tolist())


def sentence_table(passages: list[Passage]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every sentence of the passages as rows of arrays: its passage, its number in the passage and its
    (start, end) in the passage's text (arrays, not a tuple per sentence: a huge file has millions)."""
    counts = np.fromiter((len(p.sentences) for p in passages), dtype=np.int64, count=len(passages))
    total = int(counts.sum())
    passage = np.repeat(np.arange(len(passages), dtype=np.int32), counts)
    number = (np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)).astype(np.int32)
    flat = itertools.chain.from_iterable(itertools.chain.from_iterable(p.sentences for p in passages))
    bounds = np.fromiter(flat, dtype=np.int64, count=2 * total).reshape(total, 2)
    return passage, number, bounds


def sentence_places(
    windows: list[Window], passage_count: int, sentence_passage: np.ndarray, bounds: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray]]:
    """As :func:`~qa_service.index.windows.sentence_spans`, in arrays: the window that pools each sentence
    (the first that holds it whole; -1 for none) and, per window, the ``(k, 2)`` spans of its pooled
    sentences in its text, in sentence order (which is the order of those sentences' rows)."""
    owner = np.full(len(bounds), -1, dtype=np.int32)
    firsts = np.searchsorted(sentence_passage, np.arange(passage_count + 1))
    spans: list[np.ndarray] = []
    for w, window in enumerate(windows):
        lo, hi = int(firsts[window.passage]), int(firsts[window.passage + 1])
        rows = lo + np.flatnonzero(
            (owner[lo:hi] < 0) & (bounds[lo:hi, 0] >= window.start) & (bounds[lo:hi, 1] <= window.end)
        )
        owner[rows] = w
        spans.append(bounds[rows] + (window.offset - window.start) if len(rows) else NO_SPANS)
    return owner, spans


def sentence_content_keys(
    identity: str,
    passages: list[Passage],
    windows: list[Window],
    sentence_passage: np.ndarray,
    bounds: np.ndarray,
    owner: np.ndarray,
    spans: list[np.ndarray],
) -> np.ndarray:
    """The content key of each sentence, as rows. A pooled sentence's vector depends on its window, so its
    key is that of the window's text and the span, ``f"{text}\\x00{(start, end)}"``, hashed from one
    copy of the window's hash state (the window's text is never copied per sentence); any other
    sentence's key is that of its own text."""
    keys = np.empty((len(bounds), KEY_BYTES), dtype=np.uint8)
    rows_of = np.argsort(owner, kind="stable")
    cuts = np.searchsorted(owner[rows_of], np.arange(-1, len(windows) + 1))
    for k in rows_of[cuts[0] : cuts[1]].tolist():  # sentences no window holds whole
        i, (a, b) = int(sentence_passage[k]), bounds[k].tolist()
        keys[k] = np.frombuffer(content_key(identity, passages[i].text[a:b]), dtype=np.uint8)
    for w, window in enumerate(windows):
        rows = rows_of[cuts[w + 1] : cuts[w + 2]]
        if not len(rows):
            continue
        state = hashlib.blake2b(f"{identity}\x00{window.text}\x00".encode(), digest_size=KEY_BYTES)
        digests = []
        for a, b in spans[w].tolist():
            h = state.copy()
            h.update(f"({a}, {b})".encode())
            digests.append(h.digest())
        keys[rows] = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(-1, KEY_BYTES)
    return keys


def _lookup(keys: np.ndarray, table: np.ndarray) -> np.ndarray:
    """For each row of ``keys``, the last row of ``table`` with the same key, or -1."""
    found = np.full(len(keys), -1, dtype=np.int64)
    if not len(keys) or not len(table):
        return found
    void = np.dtype((np.void, KEY_BYTES))
    table_v = np.ascontiguousarray(table).view(void).ravel()
    keys_v = np.ascontiguousarray(keys).view(void).ravel()
    order = np.argsort(table_v, kind="stable")
    ordered = table_v[order]
    at = np.searchsorted(ordered, keys_v, side="right") - 1
    hit = (at >= 0) & (ordered[np.maximum(at, 0)] == keys_v)
    found[hit] = order[at[hit]]
    return found


def embed_new(
    encoder: Encoder,
    batch_size: int,
    windows: list[Window],
    window_keys: np.ndarray,
    sentence_text: Callable[[int], str],
    sentence_keys: np.ndarray,
    owner: np.ndarray,
    spans: list[np.ndarray],
    previous: IndexData | None,
    progress: Progress | None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """The vectors of the windows and of the sentences (rows of float32 matrices): those ``previous``
    (same model) holds by content key, and the rest embedded now, each distinct text once. Returns them
    and how many texts were embedded.

    A sentence with an ``owner`` window is pooled from that window's run (``Encoder.encode_spans``, with
    the window's ``spans``): a window runs again when its vector or any of those sentences' is missing,
    and sentences cost no run of their own. Vectors are kept in one matrix, never as an array per
    row.
    """
    void = np.dtype((np.void, KEY_BYTES))
    all_keys = np.concatenate([window_keys, sentence_keys]).reshape(-1, KEY_BYTES)
    unique, first, inverse = np.unique(all_keys.view(void).ravel(), return_index=True, return_inverse=True)
    del all_keys
    inverse = inverse.ravel()
    unique = unique.view(np.uint8).reshape(-1, KEY_BYTES)
    of_window, of_sentence = inverse[: len(window_keys)], inverse[len(window_keys) :]
    dim = encoder.dim
    # Windows' rows, then sentences'; a key's vector is kept in the first row that has it, then copied.
    matrix = np.zeros((len(inverse), dim), dtype=np.float32)
    have = np.zeros(len(unique), dtype=bool)
    if previous is not None:
        for keys, vectors in (
            (previous.window_keys, previous.window_vectors),
            (previous.sentence_keys, previous.sentence_vectors),
        ):
            found = _lookup(unique, keys)
            matrix[first[found >= 0]] = vectors[found[found >= 0]]
            have |= found >= 0
    del unique
    pooled = owner >= 0
    # Windows whose vector or any pooled sentence's is missing run again, once per (key, spans).
    short = np.bincount(owner[pooled & ~have[of_sentence]], minlength=len(windows)) > 0
    runs: dict[tuple[int, bytes], int] = {}
    for w in np.flatnonzero((short | ~have[of_window]) & np.array([len(s) > 0 for s in spans], dtype=bool)).tolist():
        runs.setdefault((int(of_window[w]), spans[w].tobytes()), w)
    in_run = np.zeros(len(have), dtype=bool)
    in_run[[key for key, _ in runs]] = True
    # The other texts to embed: windows, then sentences no window pools; the first text of each key.
    candidates = np.concatenate([np.arange(len(windows)), len(windows) + np.flatnonzero(~pooled)])
    candidate_keys = inverse[candidates]
    wanted = ~have[candidate_keys] & ~in_run[candidate_keys]
    candidates, candidate_keys = candidates[wanted], candidate_keys[wanted]
    _, earliest = np.unique(candidate_keys, return_index=True)
    missing = candidates[np.sort(earliest)]
    done = 0
    total = len(missing) + len(runs)

    def step(count: int) -> None:
        nonlocal done
        done += count
        if progress:
            progress("embedding", done, total)

    log.info(
        "embedding %d new texts of %d (%d of them with their sentences pooled from the same run)",
        total,
        len(windows) + int((~pooled).sum()),
        len(runs),
    )
    if runs:
        # Longest first, so that each batch holds texts of about one length: less padding to embed.
        order = sorted(runs.values(), key=lambda w: -len(windows[w].text))
        rows_of = np.argsort(owner, kind="stable")
        cuts = np.searchsorted(owner[rows_of], np.arange(len(windows) + 1))
        vectors, span_vectors = encoder.encode_spans(
            [windows[w].text for w in order], [_Spans(spans[w]) for w in order], batch_size, step
        )
        for w, vector, pooled_vectors in zip(order, vectors, span_vectors, strict=True):
            matrix[first[of_window[w]]] = vector
            matrix[first[of_sentence[rows_of[cuts[w] : cuts[w + 1]]]]] = pooled_vectors
        del vectors, span_vectors
    if len(missing):

        def text(row: int) -> str:
            return windows[row].text if row < len(windows) else sentence_text(row - len(windows))

        lengths = np.fromiter((len(text(r)) for r in missing.tolist()), dtype=np.int64, count=len(missing))
        order = missing[np.argsort(-lengths, kind="stable")]
        matrix[first[inverse[order]]] = encoder.encode([text(r) for r in order.tolist()], batch_size, step)
    if not total and progress:
        progress("embedding", 0, 0)
    copies = np.flatnonzero(first[inverse] != np.arange(len(inverse)))
    matrix[copies] = matrix[first[inverse[copies]]]
    return matrix[: len(windows)], matrix[len(windows) :], total
