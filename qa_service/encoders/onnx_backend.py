"""The fast encoder: the model's transformer run by ONNX Runtime, with the folder's tokenizer and pooling.

The ONNX file is exported from the model folder (and quantised for int8) on first use, or ahead of time by
the index build, into a cache folder (see :mod:`qa_service.encoders.onnx_export`). Serving then needs only
``onnxruntime``, ``tokenizers`` and numpy: neither torch nor sentence-transformers is imported.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .base import EncoderError, QueryCache, model_fingerprint, model_label, pool_tokens, unit_vector

#: Short float32 texts share a run up to this many texts and this many padded characters (~110 word pieces).
RUN_TEXTS = 8
RUN_CHARS = 512


class OnnxEncoder:
    """all-MiniLM-L6-v2 (or another mean- or CLS-pooled sentence-transformers model) on ONNX Runtime."""

    def __init__(
        self,
        model: str,
        cache_dir: Path,
        quantized: bool = True,
        threads: int = 1,
        cache_size: int = 1024,
        parallel_runs: int = 1,
    ) -> None:
        """Args:
        model: a sentence-transformers model folder (mean or CLS pooling).
        cache_dir: folder for the exported ONNX files (created when missing).
        quantized: run the int8 (dynamically quantised, per channel) model instead of float32.
        threads: intra-op threads ONNX Runtime may use for one run (0 leaves its default).
        cache_size: question embeddings kept in the LRU cache (0 disables it).
        parallel_runs: runs :meth:`encode` and :meth:`encode_spans` make at once, each on its own thread
            (an index build: one single-threaded run per core embeds more texts a second than one run
            spread over the cores: in `make bench` on 2 cores, 90 passages a second against 68).
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
        self._parallel_runs = max(1, parallel_runs)
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
            raise EncoderError(f"{model}: CLS pooling is not supported on ONNX; set QA_ENCODER=torch")
        if not pooling.get("pooling_mode_mean_tokens", True):
            raise EncoderError(f"{model}: only mean pooling runs on ONNX; set QA_ENCODER=torch")

    # -- what it is ------------------------------------------------------------------------------

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

    # -- loading -----------------------------------------------------------------------------------

    @property
    def onnx_path(self) -> Path:
        """The ONNX file this encoder runs, exported (and quantised) first when missing."""
        from .onnx_export import ensure_onnx_model

        return ensure_onnx_model(self.model_dir, self._export_folder(), self.quantized)

    def _export_folder(self) -> Path:
        from .onnx_export import export_folder

        return export_folder(self._cache_dir, self.model_dir, self._fingerprint)

    def prepare(self) -> None:
        """Export the model now if it is not cached yet (the index build calls this)."""
        _ = self.onnx_path

    def is_prepared(self) -> bool:
        """Whether the ONNX file is already exported, so that using it will not need torch."""
        from .onnx_export import model_file

        return (self._export_folder() / model_file(self.quantized)).is_file()

    @property
    def session(self):
        """The ONNX Runtime session (created on first use)."""
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = self._load()
        return self._session

    def _load(self):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if self._threads:
            options.intra_op_num_threads = self._threads
        if self._threads != 1:
            # Idle pool threads would spin, taking cores that other processes need (measured here: on a busy
            # machine, two spinning threads run at half the speed of one; without spinning, at its speed).
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        return ort.InferenceSession(str(self.onnx_path), options, providers=["CPUExecutionProvider"])

    def _tokenizer_for(self, counting: bool):
        """The folder's tokenizer, truncating at the model's limit, or (``counting``) not truncating.

        Loaded on first use; serving never counts, so a worker loads only the first.
        """
        if (self._counter if counting else self._tokenizer) is None:
            with self._lock:
                if (self._counter if counting else self._tokenizer) is None:
                    from tokenizers import Tokenizer

                    tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
                    tokenizer.no_padding()
                    if counting:
                        tokenizer.no_truncation()
                        self._counter = tokenizer
                    else:
                        tokenizer.enable_truncation(max_length=self._max_tokens)
                        self._tokenizer = tokenizer
        return self._counter if counting else self._tokenizer

    # -- embedding ---------------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        """Word pieces including [CLS] and [SEP], without truncation."""
        return len(self._tokenizer_for(counting=True).encode(text, add_special_tokens=True).ids)

    def encode(
        self, texts: Sequence[str], batch_size: int = 32, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Embed texts; rows are unit vectors (float32). ``progress`` hears every ``batch_size`` texts."""
        vectors, _ = self.encode_spans(texts, [()] * len(texts), batch_size, progress)
        return vectors

    def encode_spans(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        batch_size: int = 32,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Embed texts and spans of them from one run each (see :class:`~qa_service.encoders.base.Encoder`).

        Long texts run one at a time (several at once on ``parallel_runs`` threads): measured here,
        batching them only adds work (float32, 32 passages: 18 a second in one batch, 40 one by one; int8
        alike). Short float32 texts (sentences) are grouped
        by length, a few to a run, which saves a sixth of their time: a run of a dozen word pieces costs
        almost as much as one of fifty. int8 texts never share a run: its activations are quantised with
        one scale per run, so inside a batch a text's vector would depend on its neighbours.
        """
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        span_vectors: list[np.ndarray] = [np.zeros((0, self.dim), dtype=np.float32)] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        with self._executor() as pool:
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                chunks = self._runs(rows, texts)
                # Tokenised here, run on the pool: ONNX Runtime lets go of the GIL while it runs.
                inputs = [self._inputs([texts[i] for i in chunk]) for chunk in chunks]
                feeds = [feed for feed, _ in inputs]
                outputs = pool.map(self._infer, feeds) if pool else map(self._infer, feeds)
                for chunk, (_, encodings), tokens in zip(chunks, inputs, outputs, strict=True):
                    for k, i in enumerate(chunk):
                        shift = len(texts[i]) - len(texts[i].lstrip())
                        count = len(encodings[k].ids)
                        vectors[i], span_vectors[i] = pool_tokens(
                            tokens[k, :count], encodings[k].offsets, spans[i], shift
                        )
                if progress:
                    progress(len(rows))
        return vectors, span_vectors

    def _executor(self) -> contextlib.AbstractContextManager[ThreadPoolExecutor | None]:
        """A pool of ``parallel_runs`` threads for one call, or nothing when runs go one at a time."""
        if self._parallel_runs == 1:
            return contextlib.nullcontext()
        return ThreadPoolExecutor(self._parallel_runs, thread_name_prefix="onnx-run")

    def _runs(self, rows: list[int], texts: Sequence[str]) -> list[list[int]]:
        """Rows (longest first) cut into runs: short float32 texts share a run while it stays small."""
        if self.quantized:
            return [[i] for i in rows]
        runs: list[list[int]] = []
        for i in rows:
            run = runs[-1] if runs else None
            # Sorted longest first, so the run's first text sets its padded width.
            if run and len(run) < RUN_TEXTS and (len(run) + 1) * len(texts[run[0]]) <= RUN_CHARS:
                run.append(i)
            else:
                runs.append([i])
        return runs

    def _run(self, batch: list[str]) -> tuple[np.ndarray, list]:
        """Token vectors ``(len(batch), longest, dim)`` of a batch, and its tokenizer encodings."""
        feed, encodings = self._inputs(batch)
        return self._infer(feed), encodings

    def _inputs(self, batch: list[str]) -> tuple[dict[str, np.ndarray], list]:
        """The model's inputs for a batch (padded to its longest text) and the tokenizer's encodings."""
        tokenizer = self._tokenizer_for(counting=False)
        stripped = [text.strip() for text in batch]  # as sentence-transformers does
        encodings = tokenizer.encode_batch(stripped) if len(batch) > 1 else [tokenizer.encode(stripped[0])]
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            token_ids = encoding.ids  # a new list at each reading
            ids[row, : len(token_ids)] = token_ids
            mask[row, : len(token_ids)] = 1
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}, encodings

    def _infer(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        """One run of the session (safe to call from several threads at once)."""
        (hidden,) = self.session.run(None, feed)
        return hidden

    def _encode_one(self, text: str) -> np.ndarray:
        tokens, _ = self._run([text])
        return unit_vector(tokens[0].mean(axis=0))

    def warm_up(self) -> None:
        """Load the tokenizer and the session and run them once."""
        self._encode_one("warm up")

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one question, from the LRU cache when it was asked before."""
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        return self._cache.put(text, self._encode_one(text))


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
