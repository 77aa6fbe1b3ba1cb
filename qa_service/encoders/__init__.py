"""Encoders turn text into L2-normalised vectors: sentence-transformers as the reference, ONNX Runtime for speed.

Two backends stand behind one :class:`Encoder` interface, chosen by :func:`make_encoder` from
``QA_ENCODER``:

- ``torch``: :class:`SentenceTransformerEncoder`, the sentence-transformers model itself (the reference).
- ``onnx`` / ``onnx-int8``: ``onnx_backend.OnnxEncoder``, the same model's transformer
  exported to ONNX locally (see ``onnx_export``), optionally with int8 weights, run by ONNX
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

import os

from ..settings import ENCODERS, Settings
from .base import Encoder, EncoderError, QueryCache, model_fingerprint, model_label, pool_tokens

__all__ = ["Encoder", "EncoderError", "QueryCache", "make_encoder", "model_fingerprint", "model_label", "pool_tokens"]


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
        from .torch_backend import SentenceTransformerEncoder

        return SentenceTransformerEncoder(model, threads, cache)
    if settings.encoder in ("onnx", "onnx-int8"):
        from .onnx_backend import OnnxEncoder

        return OnnxEncoder(
            model,
            settings.model_cache_dir,
            quantized=settings.encoder == "onnx-int8",
            threads=1 if batch_work else threads,
            cache_size=cache,
            parallel_runs=threads if batch_work else 1,
        )
    raise EncoderError(f"unknown encoder {settings.encoder!r}; expected one of {', '.join(ENCODERS)}")
