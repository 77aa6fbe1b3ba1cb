"""Turning text into L2-normalised vectors: sentence-transformers as the reference, ONNX Runtime for speed.

Two backends stand behind one :class:`Encoder` interface, chosen by :func:`make_encoder` from
``QA_ENCODER``:

- ``torch``: :class:`SentenceTransformerEncoder`, the sentence-transformers model itself (the reference).
- ``onnx`` / ``onnx-int8``: :class:`OnnxEncoder`, the same model's transformer exported to ONNX locally
  (see :mod:`qa_service.onnx_export`), optionally with int8 weights, run by ONNX Runtime with the model
  folder's own tokenizer, mean pooling and L2 normalisation. It imports neither torch nor
  sentence-transformers once the export exists, which keeps start-up short.

Every backend names itself in ``identity`` (backend, model, content hash), which the index manifest
records, so an index is only ever queried with the encoder that built it. Models are loaded lazily and
once per process; a model given as a folder is loaded offline. Question embeddings are cached in a
bounded LRU so that a repeated question costs microseconds.
"""

from __future__ import annotations

import hashlib
import json
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

    def warm_up(self) -> None:
        """Load the model and run it once, so that the first question is not the slow one."""

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one question as a unit float32 vector."""

    def count_tokens(self, text: str) -> int:
        """Word pieces the model sees for ``text``, special tokens included."""


def make_encoder(settings: Settings, cache_size: int | None = None) -> Encoder:
    """The encoder ``settings.encoder`` names, for ``settings.model``.

    Args:
        settings: the configuration (backend, model, threads, cache folder).
        cache_size: question embeddings to cache; ``settings.query_cache_size`` when omitted (an index
            build passes 0: it asks no questions).
    """
    cache = settings.query_cache_size if cache_size is None else cache_size
    model = settings.resolved_model()
    if settings.encoder == "torch":
        return SentenceTransformerEncoder(model, settings.torch_threads, cache)
    if settings.encoder in ("onnx", "onnx-int8"):
        return OnnxEncoder(
            model, settings.model_cache_dir, quantized=settings.encoder == "onnx-int8",
            threads=settings.torch_threads, cache_size=cache,
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
    def model(self):  # noqa: ANN201 - sentence_transformers is imported lazily
        """The loaded sentence-transformers model (loaded on first use)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def prepare(self) -> None:
        """Nothing to prepare: the model folder is used as it is."""

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

    def warm_up(self) -> None:
        """Load the model and run it once, so that the first question is not the slow one."""
        self._encode_batch(["warm up"], 1)

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one question, from the LRU cache when it was asked before."""
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        return self._cache.put(text, self._encode_batch([text], 1)[0])


# ---------------------------------------------------------------------------------------------
# ONNX Runtime


class OnnxEncoder:
    """The same model's transformer run by ONNX Runtime, with the folder's tokenizer and pooling.

    The ONNX file is exported from the model folder (and quantised for int8) on first use, or ahead of
    time by the index build, into ``cache_dir``; see :mod:`qa_service.onnx_export`.
    """

    def __init__(
        self, model: str, cache_dir: Path, quantized: bool = True, threads: int = 1, cache_size: int = 1024
    ) -> None:
        """Args:
        model: a sentence-transformers model folder (mean or CLS pooling).
        cache_dir: folder for the exported ONNX files (created when missing).
        quantized: run the int8 (dynamically quantised, per channel) model instead of float32.
        threads: intra-op threads ONNX Runtime may use in this process (0 leaves its default).
        cache_size: question embeddings kept in the LRU cache (0 disables it).
        """
        self.model_dir = Path(model)
        if not self.model_dir.is_dir():
            raise EncoderError(
                f"the ONNX encoder needs a model folder, not {model!r}; set QA_ENCODER=torch to use a hub name"
            )
        self.quantized = quantized
        self.backend = "onnx-int8" if quantized else "onnx"
        self._cache_dir = Path(cache_dir)
        self._threads = threads
        self._cache = QueryCache(cache_size)
        self._lock = threading.Lock()
        self._session = None
        self._tokenizer = None
        self._counter = None
        self._fingerprint = model_fingerprint(self.model_dir)
        config = _read_json(self.model_dir / "config.json")
        st_config = _read_json(self.model_dir / "sentence_bert_config.json")
        pooling = _read_json(self.model_dir / "1_Pooling" / "config.json")
        self._dim = int(pooling.get("word_embedding_dimension") or config["hidden_size"])
        self._max_tokens = int(st_config.get("max_seq_length") or config.get("max_position_embeddings", 512))
        if pooling.get("pooling_mode_cls_token"):
            self._pooling = "cls"
        elif pooling.get("pooling_mode_mean_tokens", True):
            self._pooling = "mean"
        else:
            raise EncoderError(f"{model}: only mean or CLS pooling runs on ONNX; set QA_ENCODER=torch")

    @property
    def identity(self) -> str:
        """``<backend>:<model>:<hash of the folder>:r<export recipe>``."""
        from .onnx_export import RECIPE

        return f"{self.backend}:{model_label(self.model_dir)}:{self._fingerprint}:r{RECIPE}"

    @property
    def dim(self) -> int:
        """The embedding dimension (from the model folder's configuration)."""
        return self._dim

    @property
    def max_tokens(self) -> int:
        """The model's maximum sequence length in word pieces (sentence-transformers' setting)."""
        return self._max_tokens

    @property
    def onnx_path(self) -> Path:
        """The ONNX file this encoder runs, exported (and quantised) first when missing."""
        from .onnx_export import ensure_onnx_model, export_folder

        folder = export_folder(self._cache_dir, self.model_dir, self._fingerprint)
        return ensure_onnx_model(self.model_dir, folder, self.quantized)

    def prepare(self) -> None:
        """Export the model now if it is not cached yet (the index build calls this)."""
        _ = self.onnx_path

    @property
    def session(self):  # noqa: ANN201 - onnxruntime is imported lazily
        """The ONNX Runtime session (created on first use)."""
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = self._load()
        return self._session

    def _load(self):  # noqa: ANN202
        import onnxruntime as ort

        options = ort.SessionOptions()
        if self._threads:
            options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        return ort.InferenceSession(str(self.onnx_path), options, providers=["CPUExecutionProvider"])

    def _tokenizers(self):  # noqa: ANN202
        """(truncating tokenizer, counting tokenizer), loaded on first use."""
        if self._tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    from tokenizers import Tokenizer

                    path = str(self.model_dir / "tokenizer.json")
                    counter = Tokenizer.from_file(path)
                    counter.no_padding()
                    counter.no_truncation()
                    tokenizer = Tokenizer.from_file(path)
                    tokenizer.no_padding()
                    tokenizer.enable_truncation(max_length=self._max_tokens)
                    self._counter = counter
                    self._tokenizer = tokenizer
        return self._tokenizer, self._counter

    def count_tokens(self, text: str) -> int:
        """Word pieces including [CLS] and [SEP], without truncation."""
        return len(self._tokenizers()[1].encode(text, add_special_tokens=True).ids)

    def encode(
        self, texts: Sequence[str], batch_size: int = 32, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Embed texts; rows are unit vectors (float32). ``progress`` hears every ``batch_size`` texts.

        The float32 model runs batches of similar length (little padding). The int8 model runs one text
        at a time: its activations are quantised with one scale per run, so inside a batch a text's
        vector would depend on its neighbours (and measured here, single runs are no slower).
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        run = 1 if self.quantized else batch_size
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            for at in range(0, len(rows), run):
                chunk = rows[at : at + run]
                out[chunk] = self._encode_batch([texts[i] for i in chunk])
            if progress:
                progress(len(rows))
        return out

    def _encode_batch(self, batch: list[str]) -> np.ndarray:
        tokenizer, _ = self._tokenizers()
        encodings = tokenizer.encode_batch([text.strip() for text in batch]) if len(batch) > 1 else [
            tokenizer.encode(batch[0].strip())
        ]
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        (hidden,) = self.session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )
        if self._pooling == "cls":
            pooled = hidden[:, 0, :]
        else:
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.ascontiguousarray(pooled / np.maximum(norms, 1e-12), dtype=np.float32)

    def warm_up(self) -> None:
        """Load the tokenizer and the session and run them once."""
        self._encode_batch(["warm up"])

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one question, from the LRU cache when it was asked before."""
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        return self._cache.put(text, self._encode_batch([text])[0])


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
