"""Turning text into L2-normalised vectors with a sentence-transformers model.

The model is loaded lazily and once per process. A model given as a folder is loaded offline (the hub is
never contacted); a hub name works only where a hub is reachable. Question embeddings are cached in a
bounded LRU so that a repeated question costs microseconds.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np


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

    def warm_up(self) -> None:
        """Load the model and run it once, so that the first question is not the slow one."""

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one question as a unit float32 vector."""

    def count_tokens(self, text: str) -> int:
        """Word pieces the model sees for ``text``, special tokens included."""


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
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._model = None
        self._identity: str | None = None

    @property
    def model(self):  # noqa: ANN201 - sentence_transformers is imported lazily
        """The loaded sentence-transformers model (loaded on first use)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self):  # noqa: ANN202
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
        """Model folder name plus a hash of its configuration and weights' size and name."""
        if self._identity is None:
            path = Path(self.model_name)
            if path.is_dir():
                digest = hashlib.sha256()
                for item in sorted(path.rglob("*")):
                    if item.is_file() and item.suffix in (".json", ".txt", ".safetensors", ".bin"):
                        stat = item.stat()
                        digest.update(f"{item.relative_to(path)}:{stat.st_size}".encode())
                        if item.suffix == ".json":
                            digest.update(item.read_bytes())
                label = path.parent.name if path.name == "model" else path.name
                self._identity = f"sentence-transformers:{label}:{digest.hexdigest()[:16]}"
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

    def warm_up(self) -> None:
        """Load the model and run it once, so that the first question is not the slow one."""
        self._encode_batch(["warm up"], 1)

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one question, from the LRU cache when it was asked before."""
        if self._cache_size:
            with self._lock:
                cached = self._cache.get(text)
                if cached is not None:
                    self._cache.move_to_end(text)
                    return cached
        vector = self._encode_batch([text], 1)[0]
        vector.setflags(write=False)
        if self._cache_size:
            with self._lock:
                self._cache[text] = vector
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return vector

