"""Saving, loading, checking and swapping a built index: vectors, passages and a manifest.

Layout under the index folder::

    CURRENT                 name of the build in use (replaced atomically)
    builds/<build>/         one immutable build: manifest.json, passages.jsonl, arrays.npz, vectors.faiss
    .lock                   held while a build is written

A build is written into a hidden temporary folder, renamed into ``builds/`` and only then named in
``CURRENT`` (temporary file + rename), so a crash at any point leaves the previous index in use. The
manifest records a SHA-256 of every file in the build; loading verifies them.

Vectors sit behind :class:`VectorIndex`, so that FAISS is one implementation among possible others.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from .corpus import Passage

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PASSAGES = "passages.jsonl"
DOCUMENTS = "documents.json"
ARRAYS = "arrays.npz"
VECTORS = "vectors.faiss"
KEEP_BUILDS = 2


class IndexProblem(Exception):
    """Base class of everything that can be wrong with a built index."""


class IndexMissing(IndexProblem):
    """No built index exists yet."""


class IndexCorrupt(IndexProblem):
    """A built index exists but its files are damaged, incomplete or inconsistent."""


class IndexMismatch(IndexProblem):
    """A built index is intact but was built from another corpus, model or splitter."""


# ---------------------------------------------------------------------------------------------
# Vector index seam


class VectorIndex(Protocol):
    """Exact or approximate inner-product search over unit vectors."""

    @property
    def size(self) -> int:
        """Number of vectors held."""

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and row ids of the ``k`` best rows for one query vector, best first."""

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of the given row ids."""

    def save(self, path: Path) -> None:
        """Write the index to ``path``."""


class FaissFlatIndex:
    """Exact inner-product search with FAISS (``IndexFlatIP``)."""

    def __init__(self, index) -> None:  # noqa: ANN001 - a faiss.Index
        self._index = index

    @classmethod
    def from_vectors(cls, vectors: np.ndarray) -> FaissFlatIndex:
        """Index the rows of a float32 matrix of unit vectors."""
        import faiss

        index = faiss.IndexFlatIP(vectors.shape[1])
        if len(vectors):
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index)

    @classmethod
    def load(cls, path: Path) -> FaissFlatIndex:
        """Read an index written by :meth:`save`."""
        import faiss

        return cls(faiss.read_index(str(path)))

    @property
    def size(self) -> int:
        """Number of vectors held."""
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        """Dimension of the vectors."""
        return int(self._index.d)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best rows for one query vector, best first."""
        k = min(k, self.size)
        if k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        scores, ids = self._index.search(query.reshape(1, -1).astype(np.float32, copy=False), k)
        return scores[0], ids[0]

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of the given rows."""
        return self._index.reconstruct_batch(np.asarray(ids, dtype=np.int64))

    def save(self, path: Path) -> None:
        """Write the index to ``path``."""
        import faiss

        faiss.write_index(self._index, str(path))


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
    files: dict[str, str] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    @staticmethod
    def fingerprint(corpus_files: dict[str, str]) -> str:
        """One hash over every corpus file's path and hash."""
        return hashlib.sha256(json.dumps(corpus_files, sort_keys=True).encode()).hexdigest()


@dataclass
class IndexData:
    """A build in memory.

    ``window_passage[i]`` is the passage of vector row ``i`` (a long passage has several overlapping
    windows); ``sentence_vectors[j]`` embeds sentence ``sentence_number[j]`` of passage
    ``sentence_passage[j]``; ``passage_vectors`` holds one unit vector per passage (the mean of its
    windows), used to tell near-duplicates apart.
    """

    manifest: IndexManifest
    documents: list[dict]
    passages: list[Passage]
    vectors: VectorIndex
    window_passage: np.ndarray
    passage_vectors: np.ndarray
    sentence_vectors: np.ndarray
    sentence_passage: np.ndarray
    sentence_number: np.ndarray
    build: str = ""  # name of the build folder it was loaded from or saved to


def check_manifest(manifest: IndexManifest, expected: dict[str, object]) -> list[str]:
    """Reasons why a build does not match what the service expects (empty when it does).

    ``expected`` holds any of: model, corpus_fingerprint, splitter_version, build_params.
    """
    reasons = []
    if manifest.format_version != FORMAT_VERSION:
        reasons.append(f"index format {manifest.format_version} != {FORMAT_VERSION}")
    for key, want in expected.items():
        have = getattr(manifest, key)
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
                passage_vectors=data.passage_vectors.astype(np.float32),
                sentence_vectors=data.sentence_vectors.astype(np.float32),
                sentence_passage=data.sentence_passage.astype(np.int32),
                sentence_number=data.sentence_number.astype(np.int32),
            )
        data.vectors.save(tmp / VECTORS)
        data.manifest.files = {f: _file_sha256(tmp / f) for f in (DOCUMENTS, PASSAGES, ARRAYS, VECTORS)}
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


def load_index(index_dir: Path, vector_index: type = FaissFlatIndex) -> IndexData:
    """Load and verify the current build; raise IndexMissing or IndexCorrupt."""
    manifest = load_manifest(index_dir)
    build = current_build(index_dir)
    assert build is not None
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
        vectors = vector_index.load(build / VECTORS)
    except Exception as exc:  # any parse failure of a checksummed file is corruption
        raise IndexCorrupt(f"{build.name}: unreadable ({exc})") from exc
    data = IndexData(
        manifest=manifest,
        documents=documents,
        passages=passages,
        vectors=vectors,
        window_passage=loaded["window_passage"],
        passage_vectors=loaded["passage_vectors"],
        sentence_vectors=loaded["sentence_vectors"],
        sentence_passage=loaded["sentence_passage"],
        sentence_number=loaded["sentence_number"],
        build=build.name,
    )
    _check_consistent(data)
    return data


def _check_consistent(data: IndexData) -> None:
    m = data.manifest
    problems = []
    if len(data.documents) != m.documents:
        problems.append("document count")
    if len(data.passages) != m.passages or len(data.passage_vectors) != m.passages:
        problems.append("passage count")
    if data.vectors.size != m.windows or len(data.window_passage) != m.windows:
        problems.append("window count")
    if len(data.sentence_vectors) != m.sentences or len(data.sentence_passage) != m.sentences:
        problems.append("sentence count")
    if m.passages and data.passage_vectors.shape[1] != m.dim:
        problems.append("dimension")
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
