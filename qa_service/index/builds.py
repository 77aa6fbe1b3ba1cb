"""The build-folder store: saving, loading and verifying a built index (vectors, passages, manifest).

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

Window vectors are searched through a vector store (FAISS or Milvus, see ``vectors/``); the build also
keeps them in ``windows.npy``, with a content key (a hash of the model and the embedded text) per window
and per sentence, so that a later build re-embeds only text it has not seen (see ``build.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..corpus import DocumentRecord, Passage
from ..files import exclusive_lock, file_sha256, fsync_path, write_atomic
from ..settings import Settings
from .filters import Attributes
from .manifest import FORMAT_VERSION, IndexCorrupt, IndexManifest, IndexMissing, IndexProblem, IndexUnavailable
from .vectors import VectorStore, open_store

MANIFEST = "manifest.json"
PASSAGES = "passages.jsonl"
DOCUMENTS = "documents.json"
ARRAYS = "arrays.npz"
WINDOWS = "windows.npy"
KEY_BYTES = 16


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
    documents: list[DocumentRecord]
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

    def window_attributes(self) -> Attributes:
        """Each window's document, country and year, for filtered search."""
        return Attributes.of_rows(self.documents, [self.passages[i].doc_id for i in self.window_passage.tolist()])

    def passage_attributes(self) -> Attributes:
        """Each passage's document, country and year, for filtered ranking."""
        return Attributes.of_rows(self.documents, [p.doc_id for p in self.passages])


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


def save_index(index_dir: Path, data: IndexData, keep_previous: int = 1) -> Path:
    """Write a build and make it the current one, atomically, then delete all but the ``keep_previous``
    newest older builds. Returns the build folder."""
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
            json.dump([d.to_dict() for d in data.documents], fh, ensure_ascii=False, indent=1)
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
        data.manifest.files = {f: file_sha256(tmp / f) for f in (DOCUMENTS, PASSAGES, ARRAYS, WINDOWS, *written)}
        write_atomic(tmp / MANIFEST, json.dumps(asdict(data.manifest), indent=2, sort_keys=True))
        for item in tmp.iterdir():
            fsync_path(item)
        final = builds / name
        os.replace(tmp, final)
        fsync_path(builds)
        write_atomic(index_dir / "CURRENT", name + "\n")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(builds, name, keep_previous)
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


def load_index(index_dir: Path, settings: Settings | None = None) -> IndexData:
    """Load and verify the current build; raise IndexMissing or IndexCorrupt.

    With ``settings`` the build's vector store is opened as they say; without them the build is loaded
    for its data and embeddings only (``vectors`` is None).
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
        if file_sha256(path) != want:
            raise IndexCorrupt(f"{build.name}: {name} does not match its checksum")
    try:
        with open(build / PASSAGES, encoding="utf-8") as fh:
            passages = [Passage.from_dict(json.loads(line)) for line in fh if line.strip()]
        documents = [DocumentRecord.from_dict(d) for d in json.loads((build / DOCUMENTS).read_text(encoding="utf-8"))]
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
    if settings is not None:
        data.vectors = _open_vectors(settings, build, data)
    return data


def _open_vectors(settings: Settings, build: Path, data: IndexData) -> VectorStore:
    """The build's vector store, opened and checked to hold as many vectors as the manifest says.

    A store that cannot be reached (IndexUnavailable) is not damage; any other failure to open it is. The
    store is closed again whenever it is not handed back, so that no lock outlives a failed load.
    """
    manifest = data.manifest
    try:
        store = open_store(
            settings, build, manifest.vector_store, manifest.dim, data.window_ids, data.window_attributes()
        )
    except IndexProblem:
        raise
    except Exception as exc:
        raise IndexCorrupt(f"{build.name}: the vector store cannot be opened ({exc})") from exc
    try:
        size = store.size
    except Exception as exc:
        store.close()
        raise IndexUnavailable(f"{build.name}: the vector store cannot be read ({exc})") from exc
    if size != manifest.windows:
        store.close()
        raise IndexCorrupt(f"{build.name}: the vector store holds {size} vectors, the manifest {manifest.windows}")
    return store


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


def build_lock(index_dir: Path) -> contextlib.AbstractContextManager[None]:
    """Hold an exclusive lock on the index folder while a build is written (blocks until free)."""
    return exclusive_lock(index_dir)


def _prune(builds: Path, keep: str, keep_previous: int) -> None:
    """Remove abandoned temporary builds and all finished ones but ``keep`` and the ``keep_previous`` newest
    others."""
    finished = sorted(p for p in builds.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != keep)
    for old in finished[: max(0, len(finished) - keep_previous)]:
        shutil.rmtree(old, ignore_errors=True)
    for tmp in builds.glob(".tmp-*"):
        if tmp.name != f".tmp-{keep}":
            shutil.rmtree(tmp, ignore_errors=True)
