"""Saving, loading, checking and swapping a built index: vectors, passages and a manifest.

Layout under the index folder::

    CURRENT                 name of the build in use (replaced atomically)
    builds/<build>/         one immutable build: manifest.json, documents.json, passages.jsonl,
                            arrays.npz (ids, content keys, passage and sentence vectors), windows.npy
                            (the window vectors) and the vector store's file (vectors.faiss, or
                            milvus.json naming the Milvus collection that holds them)
    .lock                   held while a build is written

A build is written into a hidden temporary folder, renamed into ``builds/`` and only then named in
``CURRENT`` (temporary file + rename), so a crash at any point leaves the previous index in use. The
manifest records a SHA-256 of every file in the build; loading verifies them.

Window vectors are searched through a :class:`~qa_service.vector_store.VectorStore` (FAISS or Milvus);
the build also keeps them in ``windows.npy``, with a content key (a hash of the model and the embedded
text) per window and per sentence, so that a later build re-embeds only text it has not seen
(see ``indexer.py``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .corpus import Passage
from .vector_store import VectorStore, WindowAttributes

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
PASSAGES = "passages.jsonl"
DOCUMENTS = "documents.json"
ARRAYS = "arrays.npz"
WINDOWS = "windows.npy"
KEEP_BUILDS = 2
KEY_BYTES = 16

#: Opens a build's vector store: (build folder, manifest, window ids, window attributes) -> store.
StoreLoader = Callable[[Path, "IndexManifest", np.ndarray, WindowAttributes], VectorStore]


class IndexProblem(Exception):
    """Base class of everything that can be wrong with a built index."""


class IndexMissing(IndexProblem):
    """No built index exists yet."""


class IndexCorrupt(IndexProblem):
    """A built index exists but its files are damaged, incomplete or inconsistent."""


class IndexMismatch(IndexProblem):
    """A built index is intact but was built from another corpus, model or splitter."""


# ---------------------------------------------------------------------------------------------
# Manifest and built data


@dataclass
class IndexManifest:
    """What a build contains and what it was built from."""

    model: str
    dim: int
    documents: int
    passages: int
    windows: int
    sentences: int
    corpus_files: dict[str, str]
    corpus_fingerprint: str
    splitter_version: str
    build_params: dict[str, object]
    versions: dict[str, str]
    built_at: str
    build_seconds: float
    vector_store: dict[str, object] = field(default_factory=dict)  # kind, index plan, where (Milvus)
    next_id: int = 0  # the next unused window id
    embedded: int = 0  # texts this build embedded (the rest came from the previous build)
    files: dict[str, str] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    @staticmethod
    def fingerprint(corpus_files: dict[str, str]) -> str:
        """One hash over every corpus file's path and hash."""
        return hashlib.sha256(json.dumps(corpus_files, sort_keys=True).encode()).hexdigest()


@dataclass
class IndexData:
    """A build in memory.

    Window ``i`` (a long passage has several overlapping windows) belongs to passage
    ``window_passage[i]``, has the stable id ``window_ids[i]`` in the vector store and the vector
    ``window_vectors[i]``; ``sentence_vectors[j]`` embeds sentence ``sentence_number[j]`` of passage
    ``sentence_passage[j]``; ``passage_vectors`` holds one unit vector per passage (the mean of its
    windows), used to tell near-duplicates apart. ``window_keys``/``sentence_keys`` identify the
    embedded text and model of each vector. ``vectors`` is None when a build is loaded only for its
    embeddings.
    """

    manifest: IndexManifest
    documents: list[dict]
    passages: list[Passage]
    vectors: VectorStore | None
    window_passage: np.ndarray
    window_ids: np.ndarray
    window_keys: np.ndarray
    window_vectors: np.ndarray
    passage_vectors: np.ndarray
    sentence_vectors: np.ndarray
    sentence_passage: np.ndarray
    sentence_number: np.ndarray
    sentence_keys: np.ndarray
    build: str = ""  # name of the build folder it was loaded from or saved to

    def window_attributes(self) -> WindowAttributes:
        """Each window's document, country and year, for filtered search."""
        return window_attributes(self.documents, self.passages, self.window_passage)


def window_attributes(documents: list[dict], passages: list[Passage], window_passage: np.ndarray) -> WindowAttributes:
    """Each window's document id, country (upper case, "" when unknown) and year (0 when unknown)."""
    meta = {d["id"]: d.get("metadata", {}) for d in documents}
    attrs = WindowAttributes()
    for pid in window_passage.tolist():
        doc_id = passages[pid].doc_id
        m = meta.get(doc_id, {})
        attrs.documents.append(doc_id)
        attrs.countries.append(str(m.get("country", "") or "").upper())
        year = m.get("year")
        attrs.years.append(int(year) if isinstance(year, int) or (isinstance(year, str) and year.isdigit()) else 0)
    return attrs


def check_manifest(manifest: IndexManifest, expected: dict[str, object]) -> list[str]:
    """Reasons why a build does not match what the service expects (empty when it does).

    ``expected`` holds any of: model, corpus_fingerprint, splitter_version, build_params, vector_store
    (its ``plan``, which depends on the build's size, is compared separately by the caller).
    """
    reasons = []
    if manifest.format_version != FORMAT_VERSION:
        reasons.append(f"index format {manifest.format_version} != {FORMAT_VERSION}")
    for key, want in expected.items():
        have = getattr(manifest, key)
        if key == "vector_store" and isinstance(have, dict):
            have = {k: v for k, v in have.items() if k != "plan"}
        if have != want:
            reasons.append(f"{key} differs (index: {_short(have)}, expected: {_short(want)})")
    return reasons


def _short(value: object) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------------------------------------
# Saving and loading


def current_build(index_dir: Path) -> Path | None:
    """The build folder named in ``CURRENT``, or None when there is none."""
    pointer = index_dir / "CURRENT"
    if not pointer.is_file():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    if not name or "/" in name or name.startswith("."):
        return None
    return index_dir / "builds" / name


def save_index(index_dir: Path, data: IndexData) -> Path:
    """Write a build and make it the current one, atomically. Returns the build folder."""
    builds = index_dir / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    name = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}-{time.monotonic_ns() % 10**6:06d}"
    tmp = builds / f".tmp-{name}"
    tmp.mkdir()
    try:
        with open(tmp / PASSAGES, "w", encoding="utf-8") as fh:
            for passage in data.passages:
                fh.write(json.dumps(passage.to_dict(), ensure_ascii=False) + "\n")
        with open(tmp / DOCUMENTS, "w", encoding="utf-8") as fh:
            json.dump(data.documents, fh, ensure_ascii=False, indent=1)
        with open(tmp / ARRAYS, "wb") as fh:
            np.savez(
                fh,
                window_passage=data.window_passage.astype(np.int32),
                window_ids=data.window_ids.astype(np.int64),
                window_keys=data.window_keys.astype(np.uint8).reshape(-1, KEY_BYTES),
                passage_vectors=data.passage_vectors.astype(np.float32),
                sentence_vectors=data.sentence_vectors.astype(np.float32),
                sentence_passage=data.sentence_passage.astype(np.int32),
                sentence_number=data.sentence_number.astype(np.int32),
                sentence_keys=data.sentence_keys.astype(np.uint8).reshape(-1, KEY_BYTES),
            )
        np.save(tmp / WINDOWS, np.ascontiguousarray(data.window_vectors, dtype=np.float32))
        written = data.vectors.save(tmp) if data.vectors is not None else []
        data.manifest.files = {f: _file_sha256(tmp / f) for f in (DOCUMENTS, PASSAGES, ARRAYS, WINDOWS, *written)}
        _write_atomic(tmp / MANIFEST, json.dumps(asdict(data.manifest), indent=2, sort_keys=True))
        for item in tmp.iterdir():
            _fsync(item)
        final = builds / name
        os.replace(tmp, final)
        _fsync(builds)
        _write_atomic(index_dir / "CURRENT", name + "\n")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(builds, keep=name)
    return final


def load_manifest(index_dir: Path) -> IndexManifest:
    """Read the current build's manifest; raise IndexMissing or IndexCorrupt."""
    build = current_build(index_dir)
    if build is None:
        raise IndexMissing(f"no index in {index_dir}")
    try:
        raw = json.loads((build / MANIFEST).read_text(encoding="utf-8"))
        return IndexManifest(**raw)
    except FileNotFoundError as exc:
        raise IndexCorrupt(f"{build.name}: {exc.filename} is missing") from exc
    except (ValueError, TypeError) as exc:
        raise IndexCorrupt(f"{build.name}: manifest is unreadable ({exc})") from exc


def load_index(index_dir: Path, store_loader: StoreLoader | None = None) -> IndexData:
    """Load and verify the current build; raise IndexMissing or IndexCorrupt.

    ``store_loader`` opens the build's vector store; without it the build is loaded for its data and
    embeddings only (``vectors`` is None).
    """
    manifest = load_manifest(index_dir)
    build = current_build(index_dir)
    assert build is not None
    if manifest.format_version != FORMAT_VERSION:
        raise IndexCorrupt(f"{build.name}: index format {manifest.format_version}, expected {FORMAT_VERSION}")
    for name, want in manifest.files.items():
        path = build / name
        if not path.is_file():
            raise IndexCorrupt(f"{build.name}: {name} is missing")
        if _file_sha256(path) != want:
            raise IndexCorrupt(f"{build.name}: {name} does not match its checksum")
    try:
        with open(build / PASSAGES, encoding="utf-8") as fh:
            passages = [Passage.from_dict(json.loads(line)) for line in fh if line.strip()]
        documents = json.loads((build / DOCUMENTS).read_text(encoding="utf-8"))
        with np.load(build / ARRAYS) as arrays:
            loaded = {key: arrays[key] for key in arrays.files}
        window_vectors = np.load(build / WINDOWS, mmap_mode="r")
    except Exception as exc:  # any parse failure of a checksummed file is corruption
        raise IndexCorrupt(f"{build.name}: unreadable ({exc})") from exc
    data = IndexData(
        manifest=manifest,
        documents=documents,
        passages=passages,
        vectors=None,
        window_passage=loaded["window_passage"],
        window_ids=loaded["window_ids"],
        window_keys=loaded["window_keys"],
        window_vectors=window_vectors,
        passage_vectors=loaded["passage_vectors"],
        sentence_vectors=loaded["sentence_vectors"],
        sentence_passage=loaded["sentence_passage"],
        sentence_number=loaded["sentence_number"],
        sentence_keys=loaded["sentence_keys"],
        build=build.name,
    )
    _check_consistent(data)
    if store_loader is not None:
        try:
            data.vectors = store_loader(build, manifest, data.window_ids, data.window_attributes())
        except IndexProblem:
            raise
        except Exception as exc:
            raise IndexCorrupt(f"{build.name}: the vector store cannot be opened ({exc})") from exc
        if data.vectors.size != manifest.windows:
            size = data.vectors.size
            data.vectors.close()
            raise IndexCorrupt(f"{build.name}: the vector store holds {size} vectors, the manifest {manifest.windows}")
    return data


def _check_consistent(data: IndexData) -> None:
    m = data.manifest
    problems = []
    if len(data.documents) != m.documents:
        problems.append("document count")
    if len(data.passages) != m.passages or len(data.passage_vectors) != m.passages:
        problems.append("passage count")
    if len(data.window_vectors) != m.windows or len(data.window_passage) != m.windows:
        problems.append("window count")
    if len(data.window_ids) != m.windows or len(data.window_keys) != m.windows:
        problems.append("window ids")
    if len(np.unique(data.window_ids)) != len(data.window_ids) or (
        m.windows and int(data.window_ids.max()) >= m.next_id
    ):
        problems.append("window ids not unique")
    if len(data.sentence_keys) != m.sentences:
        problems.append("sentence keys")
    if len(data.sentence_vectors) != m.sentences or len(data.sentence_passage) != m.sentences:
        problems.append("sentence count")
    if m.passages and data.passage_vectors.shape[1] != m.dim:
        problems.append("dimension")
    if m.windows and data.window_vectors.shape[1] != m.dim:
        problems.append("window dimension")
    if len(data.window_passage) and (data.window_passage.min() < 0 or data.window_passage.max() >= m.passages):
        problems.append("window owners")
    if problems:
        raise IndexCorrupt("index disagrees with its manifest: " + ", ".join(problems))


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the index folder while a build is written (blocks until free)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _prune(builds: Path, keep: str) -> None:
    """Remove abandoned temporary builds and all but the newest finished ones."""
    finished = sorted(p for p in builds.iterdir() if p.is_dir() and not p.name.startswith("."))
    for old in finished[:-KEEP_BUILDS]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in builds.glob(".tmp-*"):
        if tmp.name != f".tmp-{keep}":
            shutil.rmtree(tmp, ignore_errors=True)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
