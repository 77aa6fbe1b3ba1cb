"""Building the index: passages → windows and sentences → vectors → store, embedding only new text.

``build_index`` reads the corpus folder (re-splitting only changed documents) and saves a new build;
``index_passages`` embeds ready-made passages into a build in memory. What is embedded and what reused
lives in ``embedding.py``; loading, checking freshness and deciding to rebuild in ``loading.py``.
"""

from __future__ import annotations

import logging
import platform
import time
from functools import lru_cache
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np

from ..corpus import (
    MAX_COUNTRY_CHARS,
    MAX_ID_CHARS,
    SIDECAR_SUFFIX,
    SPLITTER_VERSION,
    DocumentRecord,
    Passage,
    context_prefix,
    corpus_files,
    corpus_fingerprint,
    document_passages,
    load_document,
)
from ..encoders import Encoder
from ..settings import Settings
from .builds import IndexData, save_index
from .embedding import (
    NO_SPANS,
    content_key,
    content_keys,
    embed_new,
    sentence_content_keys,
    sentence_places,
    sentence_table,
)
from .filters import Attributes
from .manifest import IndexManifest
from .progress import Progress
from .vectors import IndexPlan, VectorStore, create_store, plan_for, store_config
from .windows import make_windows

log = logging.getLogger(__name__)

#: Vectors added to the store per call, so that storing reports progress.
STORE_BATCH = 4096


def build_params(settings: Settings) -> dict[str, object]:
    """The settings that change what a build contains; a change makes the index stale."""
    return {
        "max_passage_tokens": settings.max_passage_tokens,
        "embed_context": settings.embed_context,
        "sentence_vectors": settings.sentence_vectors,
        "attribution_passages": settings.attribution_passages,
    }


def _whole_passages(previous: IndexData, identity: str, with_context: bool) -> set[tuple[str, str, tuple]]:
    """The ``(prefix, text, sentences)`` of each passage of ``previous`` embedded whole, as its one window.

    Given the same model and build settings, :func:`make_windows` makes that same one window of the same
    passage again (its window's key, that of the prefix and the whole text, says that the window held the
    whole text). An update then counts the tokens of new passages only.
    """
    owners = previous.window_passage.tolist()
    counts = np.bincount(previous.window_passage, minlength=len(previous.passages))
    whole: set[tuple[str, str, tuple]] = set()
    for w, p in enumerate(owners):
        if counts[p] == 1:
            passage = previous.passages[p]
            prefix = context_prefix(passage, with_context)
            if content_key(identity, prefix + passage.text) == previous.window_keys[w].tobytes():
                whole.add((prefix, passage.text, passage.sentences))
    return whole


def _document_files(corpus_files: dict[str, str], path: str) -> dict[str, str]:
    """The fingerprint entries of one document: its file and its sidecar, if any."""
    sidecar = path[: -len(Path(path).suffix)] + SIDECAR_SUFFIX
    return {k: v for k, v in corpus_files.items() if k in (path, sidecar)}


def build_index(
    settings: Settings,
    encoder: Encoder,
    progress: Progress | None = None,
    previous: IndexData | None = None,
) -> IndexData:
    """Read the corpus, embed what is new and save a new build as the current index.

    With ``previous`` (the current build, loaded), the update is incremental: documents whose files did
    not change keep their passages, every text whose content key (model + text) was embedded before
    keeps its vector, and the vector store drops the windows that went away and adds the new ones by
    id, without being rebuilt. ``previous`` is consumed: its vector store is changed in place. Without
    it, everything is built from scratch.
    """
    started = time.perf_counter()
    files = corpus_fingerprint(settings.corpus_dir)
    same_split = (
        previous is not None
        and previous.manifest.model == encoder.identity
        and previous.manifest.splitter_version == SPLITTER_VERSION
        and previous.manifest.build_params == build_params(settings)
    )
    documents, passages = _read_corpus(settings, encoder, files, previous if same_split else None, progress)
    _warn_unfilterable(documents)
    data = index_passages(passages, documents, files, settings, encoder, progress, previous)
    data.manifest.build_seconds = round(time.perf_counter() - started, 3)
    data.build = save_index(settings.index_dir, data, settings.keep_builds).name
    return data


def index_passages(
    passages: list[Passage],
    documents: list[DocumentRecord],
    corpus_files: dict[str, str],
    settings: Settings,
    encoder: Encoder,
    progress: Progress | None = None,
    previous: IndexData | None = None,
) -> IndexData:
    """Embed ready-made passages (windows and sentences) into an index in memory, not yet saved.

    ``documents`` are the passages' documents; each gets its passage count.
    ``corpus_files`` maps source names to hashes and becomes the build's corpus fingerprint. With
    ``previous`` (same model), its embeddings are reused and its vector store updated in place (see
    :func:`build_index`). The evaluation harness calls this with the passages of a public dataset.
    """
    started = time.perf_counter()
    limit = min(settings.max_passage_tokens, encoder.max_tokens)
    same_model = (
        previous is not None and previous.manifest.model == encoder.identity and previous.manifest.dim == encoder.dim
    )
    counts: dict[str, int] = {}
    for p in passages:
        counts[p.doc_id] = counts.get(p.doc_id, 0) + 1
    documents = [d.with_passages(counts.get(d.id, 0)) for d in documents]
    # Passages are numbered within their document; the list index is the passage's id in this build.
    same_windows = same_model and previous.manifest.build_params == build_params(settings)
    whole = _whole_passages(previous, encoder.identity, settings.embed_context) if same_windows else frozenset()
    windows = make_windows(passages, encoder.count_tokens, limit, settings.embed_context, whole)
    del whole
    sentence_passage, sentence_number, bounds = sentence_table(passages)
    window_keys = content_keys(encoder.identity, (w.text for w in windows))
    pooled = settings.sentence_vectors == "pooled"
    owner, spans = (
        sentence_places(windows, len(passages), sentence_passage, bounds)
        if pooled
        else (np.full(len(bounds), -1, dtype=np.int32), [NO_SPANS] * len(windows))
    )
    sentence_keys = sentence_content_keys(encoder.identity, passages, windows, sentence_passage, bounds, owner, spans)
    window_vectors, sentence_vectors, embedded = embed_new(
        encoder,
        settings.batch_size,
        windows,
        window_keys,
        lambda k: passages[sentence_passage[k]].text[bounds[k, 0] : bounds[k, 1]],
        sentence_keys,
        owner,
        spans,
        previous if same_model else None,
        progress,
    )
    dim = encoder.dim
    window_passage = np.array([w.passage for w in windows], dtype=np.int32)
    passage_vectors = _mean_by_owner(window_vectors, window_passage, len(passages), dim)
    attributes = Attributes.of_rows(documents, [passages[i].doc_id for i in window_passage.tolist()])

    plan = plan_for(settings, len(windows))
    config = store_config(settings)
    reuse_store = (
        same_model
        and previous.vectors is not None
        and {k: v for k, v in previous.manifest.vector_store.items() if k != "plan"} == config
        and IndexPlan.of_build(previous.manifest.vector_store).kind == plan.kind
        and IndexPlan.of_build(previous.manifest.vector_store).nlist == plan.nlist
    )
    if reuse_store:
        window_ids, next_id, removed, added = _assign_ids(previous, passages, window_keys, window_passage)
        store = previous.vectors
        store.remove(removed)
        _add_to_store(store, window_ids, window_vectors, attributes, added, progress)
        plan = store.plan
    else:
        if previous is not None and previous.vectors is not None:
            previous.vectors.close()
        window_ids = np.arange(len(windows), dtype=np.int64)
        next_id = len(windows)
        store = create_store(settings, plan, dim, window_vectors)
        _add_to_store(store, window_ids, window_vectors, attributes, np.arange(len(windows)), progress)

    manifest = IndexManifest(
        model=encoder.identity,
        dim=dim,
        documents=len(documents),
        passages=len(passages),
        windows=len(windows),
        sentences=len(sentence_keys),
        corpus_files=corpus_files,
        corpus_fingerprint=IndexManifest.fingerprint(corpus_files),
        splitter_version=SPLITTER_VERSION,
        build_params=build_params(settings),
        versions=_versions(),
        built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        build_seconds=0.0,
        vector_store={**config, "plan": plan.to_dict()},
        next_id=next_id,
        embedded=embedded,
    )
    data = IndexData(
        manifest=manifest,
        documents=documents,
        passages=passages,
        vectors=store,
        window_passage=window_passage,
        window_ids=window_ids,
        window_keys=window_keys,
        window_vectors=window_vectors,
        passage_vectors=passage_vectors,
        sentence_vectors=sentence_vectors,
        sentence_passage=sentence_passage,
        sentence_number=sentence_number,
        sentence_keys=sentence_keys,
    )
    manifest.build_seconds = round(time.perf_counter() - started, 3)
    return data


def _read_corpus(
    settings: Settings,
    encoder: Encoder,
    files: dict[str, str],
    previous: IndexData | None,
    progress: Progress | None = None,
) -> tuple[list[DocumentRecord], list[Passage]]:
    """Every document and its passages, in corpus order; a document whose files are unchanged since
    ``previous`` (built by the same splitter and settings) keeps its passages without being split."""
    limit = min(settings.max_passage_tokens, encoder.max_tokens)
    old_docs = {d.path: d for d in previous.documents} if previous is not None else {}
    old_passages: dict[str, list[Passage]] = {}
    for passage in previous.passages if previous is not None else ():
        old_passages.setdefault(passage.doc_id, []).append(passage)
    documents: list[DocumentRecord] = []
    passages: list[Passage] = []
    paths = list(corpus_files(settings.corpus_dir))
    for done, path in enumerate(paths, 1):
        rel = path.relative_to(settings.corpus_dir).as_posix()
        old = old_docs.get(rel)
        if old is not None and _document_files(previous.manifest.corpus_files, rel) == _document_files(files, rel):
            documents.append(old)
            passages.extend(old_passages.get(old.id, []))
        else:
            doc = load_document(path, settings.corpus_dir)
            split = document_passages(doc, encoder.count_tokens, limit, settings.attribution_passages)
            documents.append(doc.record(len(split)))
            passages.extend(split)
        if progress:
            progress("reading", done, len(paths))
    return documents, passages


def _warn_unfilterable(documents: list[DocumentRecord]) -> None:
    """Log the documents the filters cannot name (their answers are found all the same)."""
    for doc in documents:
        if len(doc.id) > MAX_ID_CHARS or "," in doc.id:
            log.warning(
                "document %r cannot be named in a document filter (over %d characters, or a comma)",
                doc.id[:80],
                MAX_ID_CHARS,
            )
        if len(doc.country) > MAX_COUNTRY_CHARS:
            log.warning(
                "document %r: its country is over %d characters: no country filter names it",
                doc.id[:80],
                MAX_COUNTRY_CHARS,
            )


def _add_to_store(
    store: VectorStore,
    ids: np.ndarray,
    vectors: np.ndarray,
    attributes: Attributes,
    rows: np.ndarray,
    progress: Progress | None,
) -> None:
    """Add ``rows`` of the windows to the store in batches, reporting progress."""
    for start in range(0, len(rows), STORE_BATCH):
        batch = rows[start : start + STORE_BATCH]
        store.add(ids[batch], vectors[batch], attributes.take(batch.tolist()))
        if progress:
            progress("storing", start + len(batch), len(rows))
    if not len(rows) and progress:
        progress("storing", 0, 0)


def _assign_ids(
    previous: IndexData, passages: list[Passage], window_keys: np.ndarray, window_passage: np.ndarray
) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """Stable window ids: a window keeps the id of an old window of the same document and content.

    Returns the ids of the new windows, the next unused id, the old ids to remove from the store and
    the rows of the new windows to add to it.
    """
    pool: dict[tuple[str, bytes], list[int]] = {}
    for pid, key, wid in zip(
        previous.window_passage.tolist(), map(bytes, previous.window_keys), previous.window_ids.tolist()
    ):
        pool.setdefault((previous.passages[pid].doc_id, key), []).append(wid)
    for ids in pool.values():
        ids.reverse()  # pop() hands them out in their old order
    next_id = previous.manifest.next_id
    new_ids = np.empty(len(window_keys), dtype=np.int64)
    added: list[int] = []
    for row, (pid, key) in enumerate(zip(window_passage.tolist(), map(bytes, window_keys))):
        kept = pool.get((passages[pid].doc_id, key))
        if kept:
            new_ids[row] = kept.pop()
        else:
            new_ids[row] = next_id
            next_id += 1
            added.append(row)
    removed = np.array(sorted(i for ids in pool.values() for i in ids), dtype=np.int64)
    return new_ids, next_id, removed, np.array(added, dtype=np.int64)


def _mean_by_owner(vectors: np.ndarray, owner: np.ndarray, count: int, dim: int) -> np.ndarray:
    """Unit-length mean of the rows that belong to each owner."""
    sums = np.zeros((count, dim), dtype=np.float32)
    if len(vectors) and np.all(owner[1:] >= owner[:-1]):  # windows come in passage order: sum runs at once
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        sums[owner[starts]] = np.add.reduceat(vectors, starts, axis=0)
    elif len(vectors):
        np.add.at(sums, owner, vectors)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return sums / np.where(norms == 0, 1, norms)


@lru_cache(maxsize=1)
def _library_versions() -> tuple[tuple[str, str], ...]:
    """Installed versions of the libraries that shape a build (looked up once per process: it is slow)."""
    versions = {"python": platform.python_version()}
    packages = (
        "qa-service",
        "faiss-cpu",
        "sentence-transformers",
        "torch",
        "transformers",
        "onnxruntime",
        "numpy",
        "bm25s",
    )
    for package in packages:
        try:
            versions[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            continue
    return tuple(versions.items())


def _versions() -> dict[str, str]:
    return dict(_library_versions())
