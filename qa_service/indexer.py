"""Building the index: corpus → passages → windows and sentences → vectors → store.

``ensure_index`` is what the service calls at start: load the current build, check it against the
corpus, the model and the splitter, and rebuild when it is missing, stale or damaged (unless rebuilding
is turned off, in which case the problem is raised for the caller to report).
"""

from __future__ import annotations

import hashlib
import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np

from .corpus import (
    SIDECAR_SUFFIX,
    SPLITTER_VERSION,
    Passage,
    chunk_spans,
    context_prefix,
    corpus_files,
    corpus_fingerprint,
    load_document,
    split_passages,
)
from .encoder import Encoder, make_encoder
from .settings import Settings
from .store import (
    KEY_BYTES,
    IndexCorrupt,
    IndexData,
    IndexManifest,
    IndexMismatch,
    IndexMissing,
    IndexProblem,
    StoreLoader,
    build_lock,
    check_manifest,
    load_index,
    save_index,
    window_attributes,
)
from .vector_store import FaissVectorStore, IndexPlan, MilvusVectorStore, VectorStore, WindowAttributes, index_plan

log = logging.getLogger(__name__)

#: Called with (stage, done, total) while a build runs.
Progress = Callable[[str, int, int], None]


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


def build_encoder(settings: Settings) -> Encoder:
    """The configured encoder set up for building an index: no question cache, its files prepared (an ONNX
    export is made now, not by a serving worker) and QA_BUILD_THREADS threads (one per core by default:
    embedding a corpus is batch work, unlike answering one question per worker)."""
    encoder = make_encoder(settings, cache_size=0, batch_work=True)
    encoder.prepare()
    return encoder


def build_params(settings: Settings) -> dict[str, object]:
    """The settings that change what a build contains; a change makes the index stale."""
    return {
        "max_passage_tokens": settings.max_passage_tokens,
        "embed_context": settings.embed_context,
        "sentence_vectors": settings.sentence_vectors,
    }


def expected_manifest(settings: Settings, encoder: Encoder) -> dict[str, object]:
    """What the current corpus, model and settings require of a build's manifest."""
    files = corpus_fingerprint(settings.corpus_dir)
    return {
        "model": encoder.identity,
        "corpus_fingerprint": IndexManifest.fingerprint(files),
        "splitter_version": SPLITTER_VERSION,
        "build_params": build_params(settings),
        "vector_store": vector_store_config(settings),
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


def vector_store_config(settings: Settings) -> dict[str, object]:
    """Which vector store a build must use; a change makes the index stale."""
    if settings.vector_store == "milvus":
        return {"kind": "milvus", "uri": settings.resolved_milvus_uri(), "collection": settings.milvus_collection}
    return {"kind": "faiss"}


def plan_for(settings: Settings, count: int) -> IndexPlan:
    """The vector index type for ``count`` vectors under these settings."""
    return index_plan(count, settings.faiss_index, settings.flat_max_vectors, settings.ivf_nprobe)


def store_loader(settings: Settings) -> StoreLoader:
    """Opens a build's vector store as the settings say (FAISS from the build, or the Milvus collection)."""

    def load(folder: Path, manifest: IndexManifest, ids: np.ndarray, attributes: WindowAttributes) -> VectorStore:
        config = manifest.vector_store
        plan = IndexPlan(**config["plan"]) if config.get("plan") else IndexPlan("flat")
        # The probe count is a search-time setting: it may change without a rebuild.
        if plan.kind == "ivf" and settings.ivf_nprobe:
            plan = IndexPlan("ivf", plan.nlist, min(plan.nlist, settings.ivf_nprobe))
        if config.get("kind") == "milvus":
            store = MilvusVectorStore(str(config["uri"]), str(config["collection"]), manifest.dim, plan)
            if not store.exists():
                store.close()
                raise IndexCorrupt(f"Milvus collection {config['collection']!r} is missing at {config['uri']}")
            # The collection lives outside the build: besides its size (checked by load_index), a sample
            # of the build's window ids must be there, each with its document.
            sample = np.unique(np.linspace(0, len(ids) - 1, num=min(len(ids), 32)).astype(int)) if len(ids) else []
            want = {int(ids[i]): attributes.documents[i] for i in sample}
            if want and store.documents_of(np.array(list(want))) != want:
                store.close()
                raise IndexCorrupt(f"Milvus collection {config['collection']!r} does not hold this build's vectors")
            return store
        return FaissVectorStore.load(folder, plan, ids, attributes)

    return load


def _new_store(settings: Settings, plan: IndexPlan, dim: int, training: np.ndarray) -> VectorStore:
    if settings.vector_store == "milvus":
        return MilvusVectorStore.create(settings.resolved_milvus_uri(), settings.milvus_collection, dim, plan)
    return FaissVectorStore.create(plan, dim, training)


def content_key(identity: str, text: str) -> bytes:
    """What an embedding is kept by: a hash of the model's identity and the exact text embedded."""
    return hashlib.blake2b(f"{identity}\x00{text}".encode(), digest_size=KEY_BYTES).digest()


def _keys(identity: str, texts: list[str]) -> np.ndarray:
    raw = b"".join(content_key(identity, t) for t in texts)
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(texts), KEY_BYTES).copy()


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
    documents, passages = _read_corpus(settings, encoder, files, previous if same_split else None)
    data = index_passages(passages, documents, files, settings, encoder, progress, previous)
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
    previous: IndexData | None = None,
) -> IndexData:
    """Embed ready-made passages (windows and sentences) into an index in memory, not yet saved.

    ``documents`` are dicts with at least ``id`` and ``title``; each gets its passage count.
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
    documents = [{**d, "passages": counts.get(d["id"], 0)} for d in documents]
    # Passages are numbered within their document; the list index is the passage's id in this build.
    windows = make_windows(passages, encoder.count_tokens, limit, settings.embed_context)
    sentences = [(i, n, p.text[a:b]) for i, p in enumerate(passages) for n, (a, b) in enumerate(p.sentences)]
    window_keys = _keys(encoder.identity, [w.text for w in windows])
    pooled = settings.sentence_vectors == "pooled"
    spans, where = sentence_spans(passages, windows) if pooled else ([[] for _ in windows], {})
    # A pooled sentence's vector depends on its window, so its key is the window's text and the span.
    sentence_keys = _keys(
        encoder.identity,
        [
            f"{windows[where[(i, n)][0]].text}\x00{spans[where[(i, n)][0]][where[(i, n)][1]]}"
            if (i, n) in where
            else text
            for i, n, text in sentences
        ],
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
                [bytes(sentence_keys[k]) for k in _sentence_rows(sentences, where, w, len(spans[w]))],
            )
            for w in range(len(windows))
            if spans[w]
        ],
    )
    dim = encoder.dim
    window_vectors = _stack([cache[bytes(k)] for k in window_keys], dim)
    sentence_vectors = _stack([cache[bytes(k)] for k in sentence_keys], dim)
    window_passage = np.array([w.passage for w in windows], dtype=np.int32)
    passage_vectors = _mean_by_owner(window_vectors, window_passage, len(passages), dim)
    attributes = window_attributes(documents, passages, window_passage)

    plan = plan_for(settings, len(windows))
    store_config = vector_store_config(settings)
    reuse_store = (
        same_model
        and previous.vectors is not None
        and {k: v for k, v in previous.manifest.vector_store.items() if k != "plan"} == store_config
        and IndexPlan(**previous.manifest.vector_store["plan"]).kind == plan.kind
        and IndexPlan(**previous.manifest.vector_store["plan"]).nlist == plan.nlist
    )
    if reuse_store:
        window_ids, next_id, removed, added = _assign_ids(previous, passages, window_keys, window_passage)
        store = previous.vectors
        store.remove(removed)
        store.add(window_ids[added], window_vectors[added], attributes.take(added.tolist()))
        plan = store.plan
    else:
        if previous is not None and previous.vectors is not None:
            previous.vectors.close()
        window_ids = np.arange(len(windows), dtype=np.int64)
        next_id = len(windows)
        store = _new_store(settings, plan, dim, window_vectors)
        store.add(window_ids, window_vectors, attributes)

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
        vector_store={**store_config, "plan": plan.to_dict()},
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
    settings: Settings, encoder: Encoder, files: dict[str, str], previous: IndexData | None
) -> tuple[list[dict], list[Passage]]:
    """Every document and its passages, in corpus order; a document whose files are unchanged since
    ``previous`` (built by the same splitter and settings) keeps its passages without being split."""
    limit = min(settings.max_passage_tokens, encoder.max_tokens)
    old_docs = {d["path"]: d for d in previous.documents} if previous is not None else {}
    old_passages: dict[str, list[Passage]] = {}
    for passage in previous.passages if previous is not None else ():
        old_passages.setdefault(passage.doc_id, []).append(passage)
    documents: list[dict] = []
    passages: list[Passage] = []
    for path in corpus_files(settings.corpus_dir):
        rel = path.relative_to(settings.corpus_dir).as_posix()
        old = old_docs.get(rel)
        if old is not None and _document_files(previous.manifest.corpus_files, rel) == _document_files(files, rel):
            documents.append(old)
            passages.extend(old_passages.get(old["id"], []))
            continue
        doc = load_document(path, settings.corpus_dir)
        split = split_passages(doc, encoder.count_tokens, limit)
        documents.append(
            {"id": doc.id, "title": doc.title, "path": doc.path, "metadata": doc.metadata, "passages": len(split)}
        )
        passages.extend(split)
    return documents, passages


def _sentence_rows(sentences: list[tuple[int, int, str]], where: dict, window: int, count: int) -> list[int]:
    """The rows of ``sentences`` pooled from ``window``, in the order of its span list."""
    rows = [0] * count
    for k, (i, n, _) in enumerate(sentences):
        place = where.get((i, n))
        if place is not None and place[0] == window:
            rows[place[1]] = k
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


def load_fresh_index(settings: Settings, encoder: Encoder) -> IndexData:
    """Load the current build with its vector store and check that it was built from this corpus, model
    and settings.

    Raises:
        IndexMissing, IndexCorrupt: no build, or one whose files fail their checksums (or whose vector
            store does not hold its vectors).
        IndexMismatch: an intact build made from another corpus, model, splitter or settings.
    """
    data = load_index(settings.index_dir, store_loader(settings))
    reasons = check_manifest(data.manifest, expected_manifest(settings, encoder)) + _plan_problems(
        settings, data.manifest
    )
    if reasons:
        data.vectors.close()
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
    """Load the current index if it is intact and fresh; otherwise update or rebuild it (or raise).

    A stale index (the corpus changed) is updated incrementally from the current build: only new text
    is embedded. With ``force`` the index is rebuilt from scratch whatever its state.

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
        previous = None
        if not force:
            try:
                previous = load_index(settings.index_dir, store_loader(settings))
                if not check_manifest(previous.manifest, expected_manifest(settings, encoder)) + _plan_problems(
                    settings, previous.manifest
                ):
                    return previous
            except IndexProblem:
                previous = _embeddings_only(settings)
        data = build_index(settings, encoder, progress, previous)
    log.info(
        "built index %s: %d documents, %d passages; embedded %d texts in %.1f s",
        data.build,
        data.manifest.documents,
        data.manifest.passages,
        data.manifest.embedded,
        data.manifest.build_seconds,
    )
    return data


def _plan_problems(settings: Settings, manifest: IndexManifest) -> list[str]:
    """Why the build's vector index type no longer fits its size under the settings (empty when it does)."""
    want = plan_for(settings, manifest.windows)
    have = IndexPlan(**manifest.vector_store["plan"]) if manifest.vector_store.get("plan") else IndexPlan("flat")
    if (have.kind, have.nlist) != (want.kind, want.nlist):
        return [f"vector index {have.kind}/{have.nlist} should be {want.kind}/{want.nlist}"]
    return []


def _embeddings_only(settings: Settings) -> IndexData | None:
    """The current build without its vector store (a store that cannot be opened), for its embeddings."""
    try:
        return load_index(settings.index_dir)
    except IndexProblem:
        return None


def _stack(rows: list[np.ndarray], dim: int) -> np.ndarray:
    return np.stack(rows).astype(np.float32, copy=False) if rows else np.zeros((0, dim), dtype=np.float32)


def _mean_by_owner(vectors: np.ndarray, owner: np.ndarray, count: int, dim: int) -> np.ndarray:
    """Unit-length mean of the rows that belong to each owner."""
    sums = np.zeros((count, dim), dtype=np.float32)
    if len(vectors):
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
