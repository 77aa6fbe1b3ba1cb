"""Building the index: passages → windows and sentences → vectors → store, embedding only new text.

``build_index`` reads the corpus folder (re-splitting only changed documents) and saves a new build;
``index_passages`` embeds ready-made passages into a build in memory. Loading, checking freshness and
deciding to rebuild live in ``loading.py``.
"""

from __future__ import annotations

import hashlib
import logging
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
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
    chunk_spans,
    context_prefix,
    corpus_files,
    corpus_fingerprint,
    load_document,
    split_passages,
)
from ..encoders import Encoder
from ..settings import Settings
from .builds import KEY_BYTES, IndexData, save_index
from .filters import Attributes
from .manifest import IndexManifest
from .vectors import IndexPlan, VectorStore, create_store, plan_for, store_config

log = logging.getLogger(__name__)

#: Called with (phase, done, total) while a build runs: "reading" (documents), "embedding" (texts),
#: "storing" (vectors added to the vector store).
Progress = Callable[[str, int, int], None]
#: Vectors added to the store per call, so that storing reports progress.
STORE_BATCH = 4096


@dataclass(frozen=True)
class Window:
    """A stretch of a passage that fits the model's input, as embedded (with its context prefix).

    ``text`` is the context prefix followed by ``passage_text[start:end]``, which begins at ``offset``.
    """

    passage: int  # index into the passage list
    text: str
    start: int = 0
    end: int = 0
    offset: int = 0


def build_params(settings: Settings) -> dict[str, object]:
    """The settings that change what a build contains; a change makes the index stale."""
    return {
        "max_passage_tokens": settings.max_passage_tokens,
        "embed_context": settings.embed_context,
        "sentence_vectors": settings.sentence_vectors,
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
            windows.append(Window(i, prefix + passage.text, 0, len(passage.text), len(prefix)))
            continue
        budget = max(32, max_tokens - count_tokens(prefix))
        for a, b in chunk_spans(passage.text, passage.sentences, count_tokens, budget, overlap=1):
            windows.append(Window(i, prefix + passage.text[a:b], a, b, len(prefix)))
    return windows


def sentence_spans(passages: list[Passage], windows: list[Window]) -> tuple[list[list[tuple[int, int]]], dict]:
    """Where each sentence lies in the first window that holds it whole.

    Returns, per window, the sentences' character spans in the window's text, and a map from
    (passage, sentence number) to (window, position in that window's list). A sentence that no window
    holds whole (one longer than the model's input) is absent from the map.
    """
    spans: list[list[tuple[int, int]]] = [[] for _ in windows]
    where: dict[tuple[int, int], tuple[int, int]] = {}
    for w, window in enumerate(windows):
        for n, (a, b) in enumerate(passages[window.passage].sentences):
            if (window.passage, n) not in where and window.start <= a and b <= window.end:
                where[(window.passage, n)] = (w, len(spans[w]))
                spans[w].append((window.offset + a - window.start, window.offset + b - window.start))
    return spans, where


def content_key(identity: str, text: str) -> bytes:
    """What an embedding is kept by: a hash of the model's identity and the exact text embedded."""
    return hashlib.blake2b(f"{identity}\x00{text}".encode(), digest_size=KEY_BYTES).digest()


def _keys(identity: str, texts: Iterable[str]) -> np.ndarray:
    """The content key of each text, as rows; ``texts`` may be a generator (keys of pooled sentences are
    made from their whole window's text: a list of those would hold every window once per sentence)."""
    raw = b"".join(content_key(identity, t) for t in texts)
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, KEY_BYTES).copy()


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
    windows = make_windows(passages, encoder.count_tokens, limit, settings.embed_context)
    sentences = [(i, n, p.text[a:b]) for i, p in enumerate(passages) for n, (a, b) in enumerate(p.sentences)]
    window_keys = _keys(encoder.identity, [w.text for w in windows])
    pooled = settings.sentence_vectors == "pooled"
    spans, where = sentence_spans(passages, windows) if pooled else ([[] for _ in windows], {})
    # A pooled sentence's vector depends on its window, so its key is the window's text and the span.
    sentence_keys = _keys(
        encoder.identity,
        (
            f"{windows[where[(i, n)][0]].text}\x00{spans[where[(i, n)][0]][where[(i, n)][1]]}"
            if (i, n) in where
            else text
            for i, n, text in sentences
        ),
    )
    cache, embedded = _embed_new(
        encoder,
        settings.batch_size,
        [(bytes(k), w.text) for k, w in zip(window_keys, windows)]
        + [(bytes(k), s[2]) for k, s in zip(sentence_keys, sentences) if (s[0], s[1]) not in where],
        previous if same_model else None,
        progress,
        pooled_from=[
            (
                bytes(window_keys[w]),
                windows[w].text,
                spans[w],
                [bytes(sentence_keys[k]) for k in rows],
            )
            for w, rows in enumerate(_sentence_rows(sentences, where, spans))
            if spans[w]
        ],
    )
    dim = encoder.dim
    window_vectors = _stack([cache[bytes(k)] for k in window_keys], dim)
    sentence_vectors = _stack([cache[bytes(k)] for k in sentence_keys], dim)
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
        sentences=len(sentences),
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
        sentence_passage=np.array([s[0] for s in sentences], dtype=np.int32),
        sentence_number=np.array([s[1] for s in sentences], dtype=np.int32),
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
            split = split_passages(doc, encoder.count_tokens, limit)
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


def _sentence_rows(
    sentences: list[tuple[int, int, str]], where: dict, spans: list[list[tuple[int, int]]]
) -> list[list[int]]:
    """For each window, the rows of ``sentences`` pooled from it, in the order of its span list (one pass
    over the sentences for all windows: a pass per window would grow with the square of the corpus)."""
    rows = [[0] * len(window_spans) for window_spans in spans]
    for k, (i, n, _) in enumerate(sentences):
        place = where.get((i, n))
        if place is not None:
            rows[place[0]][place[1]] = k
    return rows


def _embed_new(
    encoder: Encoder,
    batch_size: int,
    keyed_texts: list[tuple[bytes, str]],
    previous: IndexData | None,
    progress: Progress | None,
    pooled_from: list[tuple[bytes, str, list[tuple[int, int]], list[bytes]]] = (),
) -> tuple[dict[bytes, np.ndarray], int]:
    """Vectors by content key: those ``previous`` (same model) holds, and the rest embedded now, each
    distinct text once. Returns them and how many texts were embedded.

    ``pooled_from`` lists windows (key, text, sentence spans, sentence keys) whose sentences' vectors are
    pooled from the window's own run (``Encoder.encode_spans``): a window runs again when its vector or
    any of those sentences' is missing, and sentences cost no run of their own.
    """
    cache: dict[bytes, np.ndarray] = {}
    if previous is not None:
        cache.update(zip(map(bytes, previous.window_keys), previous.window_vectors))
        cache.update(zip(map(bytes, previous.sentence_keys), previous.sentence_vectors))
    runs: dict[tuple[bytes, tuple], tuple[bytes, str, list[tuple[int, int]], list[bytes]]] = {}
    for key, text, spans, sentence_keys in pooled_from:
        if key not in cache or any(k not in cache for k in sentence_keys):
            runs.setdefault((key, tuple(spans)), (key, text, spans, sentence_keys))
    run_keys = {key for key, _ in runs}
    missing: dict[bytes, str] = {}
    for key, text in keyed_texts:
        if key not in cache and key not in run_keys:
            missing.setdefault(key, text)
    done = 0
    total = len(missing) + len(runs)

    def step(count: int) -> None:
        nonlocal done
        done += count
        if progress:
            progress("embedding", done, total)

    log.info(
        "embedding %d new texts of %d (%d of them with their sentences pooled from the same run)",
        total,
        len(keyed_texts),
        len(runs),
    )
    if runs:
        order = sorted(runs.values(), key=lambda run: -len(run[1]))
        vectors, span_vectors = encoder.encode_spans([r[1] for r in order], [r[2] for r in order], batch_size, step)
        for (key, _, _, sentence_keys), vector, pooled in zip(order, vectors, span_vectors, strict=True):
            cache[key] = vector
            cache.update(zip(sentence_keys, pooled, strict=True))
    if missing:
        # Longest first, so that each batch holds texts of about one length: less padding to embed.
        order = sorted(missing, key=lambda key: -len(missing[key]))
        cache.update(zip(order, encoder.encode([missing[key] for key in order], batch_size, step)))
    if not total and progress:
        progress("embedding", 0, 0)
    return cache, total


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


def _stack(rows: list[np.ndarray], dim: int) -> np.ndarray:
    return np.stack(rows).astype(np.float32, copy=False) if rows else np.zeros((0, dim), dtype=np.float32)


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
