"""The reference encoder: the sentence-transformers model itself, on torch, on the CPU."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .base import QueryCache, model_fingerprint, model_label, pool_tokens


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
