"""Building the index: corpus → passages → windows and sentences → vectors → store.

``ensure_index`` is what the service calls at start: load the current build, check it against the
corpus, the model and the splitter, and rebuild when it is missing, stale or damaged (unless rebuilding
is turned off, in which case the problem is raised for the caller to report).
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata as importlib_metadata

import numpy as np

from .corpus import (
    SPLITTER_VERSION,
    Passage,
    chunk_spans,
    context_prefix,
    corpus_fingerprint,
    load_corpus,
    split_passages,
)
from .encoder import Encoder
from .settings import Settings
from .store import (
    FaissFlatIndex,
    IndexCorrupt,
    IndexData,
    IndexManifest,
    IndexMismatch,
    IndexMissing,
    IndexProblem,
    build_lock,
    check_manifest,
    load_index,
    save_index,
)

log = logging.getLogger(__name__)

#: Called with (stage, done, total) while a build runs.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Window:
    """A stretch of a passage that fits the model's input, as embedded (with its context prefix)."""

    passage: int  # index into the passage list
    text: str


def build_params(settings: Settings) -> dict[str, object]:
    """The settings that change what a build contains; a change makes the index stale."""
    return {"max_passage_tokens": settings.max_passage_tokens, "embed_context": settings.embed_context}


def expected_manifest(settings: Settings, encoder: Encoder) -> dict[str, object]:
    """What the current corpus, model and settings require of a build's manifest."""
    files = corpus_fingerprint(settings.corpus_dir)
    return {
        "model": encoder.identity,
        "corpus_fingerprint": IndexManifest.fingerprint(files),
        "splitter_version": SPLITTER_VERSION,
        "build_params": build_params(settings),
    }


def make_windows(
    passages: list[Passage], count_tokens: Callable[[str], int], max_tokens: int, with_context: bool
) -> list[Window]:
    """Every passage as one or more overlapping windows that fit the model's input.

    A passage that fits (with its context prefix) is one window; a longer one is covered by windows of
    whole sentences overlapping by one sentence, so that no text goes unseen.
    """
    windows: list[Window] = []
    for i, passage in enumerate(passages):
        prefix = context_prefix(passage, with_context)
        if count_tokens(prefix + passage.text) <= max_tokens:
            windows.append(Window(i, prefix + passage.text))
            continue
        budget = max(32, max_tokens - count_tokens(prefix))
        for a, b in chunk_spans(passage.text, passage.sentences, count_tokens, budget, overlap=1):
            windows.append(Window(i, prefix + passage.text[a:b]))
    return windows


def build_index(settings: Settings, encoder: Encoder, progress: Progress | None = None) -> IndexData:
    """Read the corpus, embed it and save a new build as the current index."""
    started = time.perf_counter()
    files = corpus_fingerprint(settings.corpus_dir)
    documents = load_corpus(settings.corpus_dir)
    limit = min(settings.max_passage_tokens, encoder.max_tokens)
    passages: list[Passage] = []
    for doc in documents:
        passages.extend(split_passages(doc, encoder.count_tokens, limit))
    described = [{"id": d.id, "title": d.title, "path": d.path, "metadata": d.metadata} for d in documents]
    data = index_passages(passages, described, files, settings, encoder, progress)
    data.manifest.build_seconds = round(time.perf_counter() - started, 3)
    data.build = save_index(settings.index_dir, data).name
    return data


def index_passages(
    passages: list[Passage],
    documents: list[dict],
    corpus_files: dict[str, str],
    settings: Settings,
    encoder: Encoder,
    progress: Progress | None = None,
) -> IndexData:
    """Embed ready-made passages (windows and sentences) into an index in memory, not yet saved.

    ``documents`` are dicts with at least ``id`` and ``title``; each gets its passage count.
    ``corpus_files`` maps source names to hashes and becomes the build's corpus fingerprint.
    The evaluation harness calls this with the passages of a public dataset.
    """
    started = time.perf_counter()
    limit = min(settings.max_passage_tokens, encoder.max_tokens)
    windows = make_windows(passages, encoder.count_tokens, limit, settings.embed_context)
    sentences = [(i, n, p.text[a:b]) for i, p in enumerate(passages) for n, (a, b) in enumerate(p.sentences)]

    total = len(windows) + len(sentences)
    done = 0

    def step(count: int) -> None:
        nonlocal done
        done += count
        if progress:
            progress("embedding", done, total)

    log.info("embedding %d windows and %d sentences of %d passages", len(windows), len(sentences), len(passages))
    window_vectors = encoder.encode([w.text for w in windows], settings.batch_size, step)
    sentence_vectors = encoder.encode([s[2] for s in sentences], settings.batch_size, step)
    window_passage = np.array([w.passage for w in windows], dtype=np.int32)
    passage_vectors = _mean_by_owner(window_vectors, window_passage, len(passages), encoder.dim)

    manifest = IndexManifest(
        model=encoder.identity,
        dim=encoder.dim,
        documents=len(documents),
        passages=len(passages),
        windows=len(windows),
        sentences=len(sentences),
        corpus_files=corpus_files,
        corpus_fingerprint=IndexManifest.fingerprint(corpus_files),
        splitter_version=SPLITTER_VERSION,
        build_params=build_params(settings),
        versions=_versions(),
        built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        build_seconds=0.0,
    )
    counts: dict[str, int] = {}
    for p in passages:
        counts[p.doc_id] = counts.get(p.doc_id, 0) + 1
    data = IndexData(
        manifest=manifest,
        documents=[{**d, "passages": counts.get(d["id"], 0)} for d in documents],
        passages=passages,
        vectors=FaissFlatIndex.from_vectors(window_vectors),
        window_passage=window_passage,
        passage_vectors=passage_vectors,
        sentence_vectors=sentence_vectors,
        sentence_passage=np.array([s[0] for s in sentences], dtype=np.int32),
        sentence_number=np.array([s[1] for s in sentences], dtype=np.int32),
    )
    manifest.build_seconds = round(time.perf_counter() - started, 3)
    return data


def load_fresh_index(settings: Settings, encoder: Encoder) -> IndexData:
    """Load the current build and check that it was built from this corpus, model and settings.

    Raises:
        IndexMissing, IndexCorrupt: no build, or one whose files fail their checksums.
        IndexMismatch: an intact build made from another corpus, model, splitter or settings.
    """
    data = load_index(settings.index_dir)
    reasons = check_manifest(data.manifest, expected_manifest(settings, encoder))
    if reasons:
        raise IndexMismatch("built from something else: " + "; ".join(reasons))
    return data


def describe_problem(problem: Exception, index_dir: object) -> str:
    """One sentence for the log saying what is wrong with the index and where."""
    if isinstance(problem, IndexMissing):
        return f"there is no index in {index_dir}"
    if isinstance(problem, IndexCorrupt):
        return f"the index in {index_dir} is damaged ({problem})"
    if isinstance(problem, IndexMismatch):
        return f"the index in {index_dir} is stale ({problem})"
    return f"the index in {index_dir} cannot be used ({problem})"


def ensure_index(
    settings: Settings, encoder: Encoder, progress: Progress | None = None, force: bool = False
) -> IndexData:
    """Load the current index if it is intact and fresh; otherwise rebuild it (or raise).

    With ``force`` the index is rebuilt whatever its state.

    Raises:
        IndexMissing, IndexCorrupt, IndexMismatch: when the index cannot be used and
            ``settings.rebuild`` is ``"never"``; the message says what is wrong and what to do.
    """
    if not force:
        try:
            return load_fresh_index(settings, encoder)
        except IndexProblem as exc:
            problem = exc
        what = describe_problem(problem, settings.index_dir)
        if settings.rebuild == "never":
            raise type(problem)(
                f"{what}; QA_REBUILD=never forbids rebuilding it: run `qa-service build` or set QA_REBUILD=auto"
            ) from problem
        log.warning("%s: rebuilding it", what)
    with build_lock(settings.index_dir):
        # Another process may have rebuilt it while this one waited for the lock.
        if not force:
            try:
                return load_fresh_index(settings, encoder)
            except IndexProblem:
                pass
        data = build_index(settings, encoder, progress)
    log.info(
        "built index %s: %d documents, %d passages in %.1f s",
        data.build,
        data.manifest.documents,
        data.manifest.passages,
        data.manifest.build_seconds,
    )
    return data


def _mean_by_owner(vectors: np.ndarray, owner: np.ndarray, count: int, dim: int) -> np.ndarray:
    """Unit-length mean of the rows that belong to each owner."""
    sums = np.zeros((count, dim), dtype=np.float32)
    if len(vectors):
        np.add.at(sums, owner, vectors)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return sums / np.where(norms == 0, 1, norms)


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("qa-service", "faiss-cpu", "sentence-transformers", "torch", "transformers", "numpy", "bm25s"):
        try:
            versions[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions
