"""Turning text into L2-normalised vectors: sentence-transformers as the reference, ONNX Runtime for speed.

Two backends stand behind one :class:`Encoder` interface, chosen by :func:`make_encoder` from
``QA_ENCODER``:

- ``torch``: :class:`SentenceTransformerEncoder`, the sentence-transformers model itself (the reference).
- ``onnx`` / ``onnx-int8``: :class:`~qa_service.onnx_encoder.OnnxEncoder`, the same model's transformer
  exported to ONNX locally (see :mod:`qa_service.onnx_export`), optionally with int8 weights, run by ONNX
  Runtime with the model folder's own tokenizer, mean pooling and L2 normalisation. It imports neither
  torch nor sentence-transformers once the export exists, which keeps start-up short.

Every backend names itself in ``identity`` (backend, model, content hash), which the index manifest
records, so an index is only ever queried with the encoder that built it. Besides whole texts, an
encoder embeds character spans of a text from the same run (:meth:`Encoder.encode_spans`): the index
gets its sentence vectors from its passages' runs instead of running the model again per sentence.
Models are loaded lazily and once per process; a model given as a folder is loaded offline. Question
embeddings are cached in a bounded LRU so that a repeated question costs microseconds.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .settings import ENCODERS

if TYPE_CHECKING:
    from .settings import Settings


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


def make_encoder(settings: Settings, cache_size: int | None = None, batch_work: bool = False) -> Encoder:
    """The encoder ``settings.encoder`` names, for ``settings.model``.

    Args:
        settings: the configuration (backend, model, threads, cache folder).
        cache_size: question embeddings to cache; ``settings.query_cache_size`` when omitted (an index
            build passes 0: it asks no questions).
        batch_work: set up for embedding many texts (an index build, an evaluation) on
            ``QA_BUILD_THREADS`` cores rather than for one question at a time on ``QA_TORCH_THREADS``:
            torch spreads each batch over them, ONNX Runtime makes one single-threaded run per core.
    """
    cache = settings.query_cache_size if cache_size is None else cache_size
    model = settings.resolved_model()
    threads = (settings.build_threads or os.cpu_count() or 1) if batch_work else settings.torch_threads
    if settings.encoder == "torch":
        return SentenceTransformerEncoder(model, threads, cache)
    if settings.encoder in ("onnx", "onnx-int8"):
        from .onnx_encoder import OnnxEncoder

        return OnnxEncoder(
            model,
            settings.model_cache_dir,
            quantized=settings.encoder == "onnx-int8",
            threads=1 if batch_work else threads,
            cache_size=cache,
            parallel_runs=threads if batch_work else 1,
        )
    raise EncoderError(f"unknown encoder {settings.encoder!r}; expected one of {', '.join(ENCODERS)}")


# ---------------------------------------------------------------------------------------------
# Shared pieces


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
    text_vector = _unit(tokens.mean(axis=0))
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
        out[k] = _unit(tokens[inside].mean(axis=0)) if inside.any() else text_vector
    return text_vector, out


def _unit(vector: np.ndarray) -> np.ndarray:
    return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The reference: sentence-transformers on torch


class SentenceTransformerEncoder:
    """The reference encoder: a sentence-transformers model on the CPU."""

    def __init__(self, model: str, torch_threads: int = 1, cache_size: int = 1024) -> None:
        """Args:
        model: a model folder, or a hub name where a hub is reachable.
        torch_threads: CPU threads torch may use in this process (0 leaves torch's default).
        cache_size: question embeddings kept in the LRU cache (0 disables it).
        """
        self.model_name = model
        self._torch_threads = torch_threads
        self._cache = QueryCache(cache_size)
        self._lock = threading.Lock()
        self._model = None
        self._identity: str | None = None

    @property
    def model(self):
        """The loaded sentence-transformers model (loaded on first use)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def prepare(self) -> None:
        """Nothing to prepare: the model folder is used as it is."""

    def is_prepared(self) -> bool:
        """Always true: nothing is made ahead of use."""
        return True

    def _load(self):
        if Path(self.model_name).is_dir():
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.disable_progress_bar()

        if self._torch_threads:
            torch.set_num_threads(self._torch_threads)
        model = SentenceTransformer(self.model_name, device="cpu")
        model.eval()
        return model

    @property
    def identity(self) -> str:
        """``sentence-transformers:<model>:<hash of the folder>`` (or the hub name)."""
        if self._identity is None:
            path = Path(self.model_name)
            if path.is_dir():
                self._identity = f"sentence-transformers:{model_label(path)}:{model_fingerprint(path)}"
            else:
                self._identity = f"sentence-transformers:{self.model_name}"
        return self._identity

    @property
    def dim(self) -> int:
        """The embedding dimension reported by the model."""
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())

    @property
    def max_tokens(self) -> int:
        """The model's maximum sequence length in word pieces."""
        return int(self.model.max_seq_length)

    def count_tokens(self, text: str) -> int:
        """Word pieces including [CLS] and [SEP], without truncation."""
        return len(self.model.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    def encode(
        self, texts: Sequence[str], batch_size: int = 32, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Embed texts in batches; the rows are unit vectors (float32)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            out.append(self._encode_batch(batch, batch_size))
            if progress:
                progress(len(batch))
        return np.vstack(out)

    def _encode_batch(self, batch: list[str], batch_size: int) -> np.ndarray:
        import torch

        with torch.inference_mode():
            vectors = self.model.encode(
                batch,
                batch_size=batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_spans(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        batch_size: int = 32,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Embed texts and spans of them from one run of the model per batch (see :class:`Encoder`)."""
        import torch

        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        span_vectors: list[np.ndarray] = []
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            with torch.inference_mode():
                tokens = self.model.encode(
                    batch, batch_size=batch_size, output_value="token_embeddings", show_progress_bar=False
                )
            stripped = [text.strip() for text in batch]  # sentence-transformers strips what it embeds
            offsets = self.model.tokenizer(
                stripped, return_offsets_mapping=True, truncation=True, max_length=self.max_tokens
            )["offset_mapping"]
            for row, text in enumerate(batch):
                matrix = tokens[row].float().numpy()
                if len(matrix) != len(offsets[row]):
                    raise RuntimeError("token embeddings and offsets disagree; cannot pool spans")
                shift = len(text) - len(text.lstrip())
                vectors[start + row], pooled = pool_tokens(matrix, offsets[row], spans[start + row], shift)
                span_vectors.append(pooled)
            if progress:
                progress(len(batch))
        return vectors, span_vectors

    def warm_up(self) -> None:
        """Load the model and run it once, so that the first question is not the slow one."""
        self._encode_batch(["warm up"], 1)

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one question, from the LRU cache when it was asked before."""
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        return self._cache.put(text, self._encode_batch([text], 1)[0])
