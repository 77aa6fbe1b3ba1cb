"""The encoder interface and what every backend shares: the question cache, token pooling, model labels.

Every backend names itself in ``identity`` (backend, model, content hash), which the index manifest
records, so an index is only ever queried with the encoder that built it. Besides whole texts, an
encoder embeds character spans of a text from the same run (:meth:`Encoder.encode_spans`): the index
gets its sentence vectors from its passages' runs instead of running the model again per sentence.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np


class EncoderError(RuntimeError):
    """The chosen encoder cannot run with the configured model."""


class Encoder(Protocol):
    """What the indexer and the retriever need from an embedding model."""

    @property
    def identity(self) -> str:
        """A string that changes whenever the vectors this encoder produces would change."""

    @property
    def dim(self) -> int:
        """The vectors' dimension."""

    @property
    def max_tokens(self) -> int:
        """The model's input limit in word pieces (longer input is truncated by the model)."""

    def encode(
        self, texts: Sequence[str], batch_size: int = 32, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Embed texts as a float32 matrix of unit rows; ``progress`` is called with each batch's size."""

    def encode_spans(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        batch_size: int = 32,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Embed texts and, from the same run, character spans of each text.

        Returns the texts' unit vectors (as :meth:`encode`) and, for text ``i``, a
        ``(len(spans[i]), dim)`` array: each span's vector is the unit mean of the token vectors inside it
        (so the rest of the text gives them context).
        """

    def warm_up(self) -> None:
        """Load the model and run it once, so that the first question is not the slow one."""

    def prepare(self) -> None:
        """Make whatever the encoder needs ahead of use (an ONNX export), so that serving never does."""

    def is_prepared(self) -> bool:
        """Whether :meth:`prepare` has nothing left to do."""

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one question as a unit float32 vector."""

    def count_tokens(self, text: str) -> int:
        """Word pieces the model sees for ``text``, special tokens included."""


class QueryCache:
    """A bounded, thread-safe LRU of question vectors (read-only arrays)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str) -> np.ndarray | None:
        """The cached vector of ``text``, or None."""
        if not self.size:
            return None
        with self._lock:
            vector = self._items.get(text)
            if vector is not None:
                self._items.move_to_end(text)
            return vector

    def put(self, text: str, vector: np.ndarray) -> np.ndarray:
        """Remember ``vector`` for ``text`` (made read-only) and return it."""
        vector.setflags(write=False)
        if self.size:
            with self._lock:
                self._items[text] = vector
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        return vector


def model_fingerprint(path: Path) -> str:
    """A hash of a model folder's file names and sizes and its configuration files' contents."""
    digest = hashlib.sha256()
    for item in sorted(path.rglob("*")):
        if item.is_file() and item.suffix in (".json", ".txt", ".safetensors", ".bin"):
            stat = item.stat()
            digest.update(f"{item.relative_to(path)}:{stat.st_size}".encode())
            if item.suffix == ".json":
                digest.update(item.read_bytes())
    return digest.hexdigest()[:16]


def model_label(path: Path) -> str:
    """A readable name for a model folder (its package's name when the folder is called ``model``)."""
    return path.parent.name if path.name == "model" else path.name


def pool_tokens(
    tokens: np.ndarray, offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]], shift: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The unit mean of all token vectors (the text's embedding: mean pooling, as the model does) and the
    unit mean of the tokens inside each character span.

    Args:
        tokens: ``(n_tokens, dim)`` token vectors of one text, special tokens included, no padding.
        offsets: each token's character range in the text as tokenised; special tokens have empty ranges.
        spans: character ranges of the original text.
        shift: characters stripped from the text's start before tokenising.
    """
    text_vector = unit_vector(tokens.mean(axis=0))
    out = np.empty((len(spans), tokens.shape[1]), dtype=np.float32)
    if not len(spans):
        return text_vector, out
    starts = np.fromiter((a for a, _ in offsets), dtype=np.int64, count=len(offsets)) + shift
    ends = np.fromiter((b for _, b in offsets), dtype=np.int64, count=len(offsets)) + shift
    real = ends > starts
    for k, (a, b) in enumerate(spans):
        inside = real & (starts >= a) & (ends <= b)
        if not inside.any():  # a span cut short by truncation keeps the tokens it still has
            inside = real & (starts < b) & (ends > a)
        out[k] = unit_vector(tokens[inside].mean(axis=0)) if inside.any() else text_vector
    return text_vector, out


def unit_vector(vector: np.ndarray) -> np.ndarray:
    """A 1-D vector scaled to length 1, as float32. Its length is what ``np.linalg.norm`` computes for one
    (the square root of its dot product with itself), without that function's checks of its argument."""
    length = float(np.sqrt(vector.dot(vector)))
    return (vector / max(length, 1e-12)).astype(np.float32, copy=False)
