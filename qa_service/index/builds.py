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
import errno
import io
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..corpus import DocumentRecord, Passage
from ..files import exclusive_lock, file_sha256, fsync_path, sha256_hex, write_atomic
from ..settings import Settings
from .filters import Attributes
from .manifest import (
    FORMAT_VERSION,
    IndexCorrupt,
    IndexManifest,
    IndexMissing,
    IndexNotSaved,
    IndexProblem,
    IndexUnavailable,
)
from .vectors import VectorStore, open_store

MANIFEST = "manifest.json"
PASSAGES = "passages.jsonl"
DOCUMENTS = "documents.json"
ARRAYS = "arrays.npz"
WINDOWS = "windows.npy"
#: The files every build holds besides its manifest (and the vector store's own file).
REQUIRED_FILES = (DOCUMENTS, PASSAGES, ARRAYS, WINDOWS)
KEY_BYTES = 16

log = logging.getLogger(__name__)


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
    """The build folder named in ``CURRENT``, or None when there is no ``CURRENT``.

    Raises:
        IndexCorrupt: ``CURRENT`` is there but is not a file naming a build (a folder, bytes that are
            not a name), or ``builds`` is not a folder.
    """
    pointer = index_dir / "CURRENT"
    if not pointer.exists() and not pointer.is_symlink():
        return None
    if not pointer.is_file():
        raise IndexCorrupt("CURRENT is not a file")
    try:
        raw = pointer.read_bytes()
        name = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise IndexCorrupt("CURRENT does not hold a build name (it is not text)") from None
    except OSError as exc:
        raise IndexCorrupt(f"CURRENT cannot be read ({exc.strerror})") from None
    if not name or len(name) > 255 or any(c in name for c in "/\\\x00\n") or name.startswith("."):
        raise IndexCorrupt(f"CURRENT does not hold a build name ({_short_repr(raw)})")
    builds = index_dir / "builds"
    if not builds.is_dir():
        raise IndexCorrupt("builds is not a folder" if builds.exists() else f"CURRENT names {name}, which is missing")
    return builds / name


def _short_repr(raw: bytes) -> str:
    return repr(raw[:40]) + ("..." if len(raw) > 40 else "")


def save_index(index_dir: Path, data: IndexData, keep_previous: int = 1) -> Path:
    """Write a build and make it the current one, atomically; then delete all finished builds but the new
    one and the ``keep_previous`` newest others. Returns the build folder.

    A save that fails leaves nothing behind (neither its folder nor a temporary file) and the previous
    build current. Leftovers of saves whose process died are removed first, so that a disk they filled
    is freed.

    Raises:
        IndexNotSaved: the build could not be written (a full disk, a folder that cannot be written).
    """
    builds = index_dir / "builds"
    name = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}-{time.monotonic_ns() % 10**6:06d}"
    tmp = builds / f".tmp-{name}"
    final = builds / name
    previous = None
    try:
        _repair_folders(index_dir)
        _remove_leftovers(index_dir)
        with contextlib.suppress(IndexProblem):
            previous = current_build(index_dir)
        tmp.mkdir()
        _write_build(tmp, data)
        os.replace(tmp, final)
        fsync_path(builds)
        with _writing(index_dir / "CURRENT"):
            write_atomic(index_dir / "CURRENT", name + "\n")
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if final.exists() and _named_in_current(index_dir) != name:
            shutil.rmtree(final, ignore_errors=True)
        if isinstance(exc, OSError):
            raise IndexNotSaved(_write_failure(exc, index_dir)) from exc
        raise
    _prune(builds, name, previous.name if previous is not None else None, keep_previous)
    return final


def _write_build(folder: Path, data: IndexData) -> None:
    """Every file of a build, then its manifest with their checksums, all flushed to disk."""
    with _writing(folder / PASSAGES), open(folder / PASSAGES, "w", encoding="utf-8") as fh:
        for passage in data.passages:
            fh.write(json.dumps(passage.to_dict(), ensure_ascii=False) + "\n")
    with _writing(folder / DOCUMENTS), open(folder / DOCUMENTS, "w", encoding="utf-8") as fh:
        json.dump([d.to_dict() for d in data.documents], fh, ensure_ascii=False, indent=1)
    with _writing(folder / ARRAYS), open(folder / ARRAYS, "wb") as fh:
        np.savez(
            fh,
            window_passage=data.window_passage.astype(np.int32, copy=False),
            window_ids=data.window_ids.astype(np.int64, copy=False),
            window_keys=data.window_keys.astype(np.uint8, copy=False).reshape(-1, KEY_BYTES),
            passage_vectors=data.passage_vectors.astype(np.float32, copy=False),
            sentence_vectors=data.sentence_vectors.astype(np.float32, copy=False),
            sentence_passage=data.sentence_passage.astype(np.int32, copy=False),
            sentence_number=data.sentence_number.astype(np.int32, copy=False),
            sentence_keys=data.sentence_keys.astype(np.uint8, copy=False).reshape(-1, KEY_BYTES),
        )
    with _writing(folder / WINDOWS), open(folder / WINDOWS, "wb") as fh:
        np.save(fh, np.ascontiguousarray(data.window_vectors, dtype=np.float32))
    with _writing(folder / "the vector store's files"):
        written = data.vectors.save(folder) if data.vectors is not None else []
    data.manifest.files = {f: file_sha256(folder / f) for f in (DOCUMENTS, PASSAGES, ARRAYS, WINDOWS, *written)}
    with _writing(folder / MANIFEST):
        write_atomic(folder / MANIFEST, json.dumps(asdict(data.manifest), indent=2, sort_keys=True))
    for item in folder.iterdir():
        fsync_path(item)


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Name ``path`` in an OSError raised inside the block that names no file (a failed write or close)."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


def _repair_folders(index_dir: Path) -> None:
    """Make ``builds`` a folder and clear the way for ``CURRENT``: a file at ``builds`` or a folder at
    ``CURRENT`` is damage that no build can be read through (a build is only saved when one is allowed)."""
    builds = index_dir / "builds"
    if (builds.exists() or builds.is_symlink()) and not builds.is_dir():
        log.warning("removing %s, a file where the folder of builds belongs", builds)
        builds.unlink()
    pointer = index_dir / "CURRENT"
    if pointer.is_dir() and not pointer.is_symlink():
        log.warning("removing %s, a folder where the name of the current build belongs", pointer)
        shutil.rmtree(pointer)
    builds.mkdir(parents=True, exist_ok=True)


def _remove_leftovers(index_dir: Path) -> None:
    """Remove the temporary build folders and ``CURRENT`` files of saves whose process is gone."""
    leftovers = [*(index_dir / "builds").glob(".tmp-*"), *index_dir.glob(".CURRENT.*.tmp")]
    for path in leftovers:
        match = re.search(r"-(\d+)-\d+$" if path.name.startswith(".tmp-") else r"\.(\d+)\.tmp$", path.name)
        if match and not _process_alive(int(match.group(1))):
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process saves one build at a time: anything of its own is left over
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _named_in_current(index_dir: Path) -> str | None:
    try:
        build = current_build(index_dir)
    except IndexProblem:
        return None
    return build.name if build is not None else None


def _write_failure(exc: OSError, index_dir: Path) -> str:
    """One line saying why a build could not be written and what to do."""
    at = f" (at {Path(exc.filename).name})" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"no space left on device while writing the index to {index_dir}{at}: free space and run `qa-service build`"
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (
            f"the index cannot be written to {index_dir}{at} ({exc.strerror}): "
            "make it writable and run `qa-service build`"
        )
    return f"the index could not be written to {index_dir}{at} ({exc.strerror or exc}): run `qa-service build` again"


def load_manifest(index_dir: Path) -> IndexManifest:
    """Read the current build's manifest; raise IndexMissing or IndexCorrupt."""
    build = current_build(index_dir)
    if build is None:
        raise IndexMissing(f"no index in {index_dir}")
    try:
        text = (build / MANIFEST).read_text(encoding="utf-8")
    except FileNotFoundError:
        gone = "" if build.is_dir() else " (the build CURRENT names is gone)"
        raise IndexCorrupt(f"{build.name}: {MANIFEST} is missing{gone}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorrupt(f"{build.name}: manifest is unreadable ({exc})") from None
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise IndexCorrupt(f"{build.name}: manifest is unreadable ({exc})") from None
    try:
        return IndexManifest.from_json(raw)
    except IndexCorrupt as exc:
        raise IndexCorrupt(f"{build.name}: {exc}") from None


def _read_verified(build: Path, manifest: IndexManifest) -> dict[str, bytes]:
    """Every file the manifest lists, read whole into memory and checked against its checksum.

    What is served is these bytes: a file changed or truncated on disk afterwards changes nothing.
    """
    for name in REQUIRED_FILES:
        if name not in manifest.files:
            raise IndexCorrupt(f"{build.name}: the manifest has no checksum for {name}")
    verified: dict[str, bytes] = {}
    for name, want in manifest.files.items():
        try:
            raw = (build / name).read_bytes()
        except FileNotFoundError:
            raise IndexCorrupt(f"{build.name}: {name} is missing") from None
        except OSError as exc:
            raise IndexCorrupt(f"{build.name}: {name} cannot be read ({exc.strerror})") from None
        if sha256_hex(raw) != want:
            raise IndexCorrupt(f"{build.name}: {name} does not match its checksum")
        verified[name] = raw
    return verified


def _array_from_npy(raw: bytes) -> np.ndarray:
    """A read-only 2-D float32 array over the bytes of a ``.npy`` file, without copying them."""
    stream = io.BytesIO(raw)
    version = np.lib.format.read_magic(stream)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran_order, dtype = read_header(stream)
    if fortran_order or dtype != np.float32 or len(shape) != 2:
        raise ValueError(f"expected a 2-D float32 array, found {dtype} of shape {shape}")
    return np.frombuffer(raw, dtype=np.float32, count=shape[0] * shape[1], offset=stream.tell()).reshape(shape)


def load_index(index_dir: Path, settings: Settings | None = None) -> IndexData:
    """Load and verify the current build; raise IndexMissing or IndexCorrupt.

    Every file is read whole into memory and checked against the manifest's checksum before it is
    parsed, so the index served is exactly the one verified, whatever happens to the files later.
    With ``settings`` the build's vector store is opened as they say; without them the build is loaded
    for its data and embeddings only (``vectors`` is None).
    """
    manifest = load_manifest(index_dir)
    build = current_build(index_dir)
    assert build is not None
    if manifest.format_version != FORMAT_VERSION:
        raise IndexCorrupt(f"{build.name}: index format {manifest.format_version}, expected {FORMAT_VERSION}")
    verified = _read_verified(build, manifest)
    try:
        lines = verified.pop(PASSAGES).decode("utf-8").splitlines()
        passages = [Passage.from_dict(json.loads(line)) for line in lines if line.strip()]
        del lines
        documents = [DocumentRecord.from_dict(d) for d in json.loads(verified.pop(DOCUMENTS).decode("utf-8"))]
        with np.load(io.BytesIO(verified.pop(ARRAYS))) as arrays:
            loaded = {key: arrays[key] for key in arrays.files}
        window_vectors = _array_from_npy(verified.pop(WINDOWS))
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
        data.vectors = _open_vectors(settings, build, data, verified)
    return data


def _open_vectors(settings: Settings, build: Path, data: IndexData, verified: dict[str, bytes]) -> VectorStore:
    """The build's vector store, opened and checked to hold as many vectors as the manifest says.

    A store that cannot be reached (IndexUnavailable) is not damage; any other failure to open it is. The
    store is closed again whenever it is not handed back, so that no lock outlives a failed load.
    """
    manifest = data.manifest
    try:
        store = open_store(
            settings, build, manifest.vector_store, manifest.dim, data.window_ids, data.window_attributes(), verified
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


def _prune(builds: Path, keep: str, previous: str | None, keep_previous: int) -> None:
    """Remove every finished build but ``keep`` and ``keep_previous`` others: the one it replaced first (a
    worker may still be loading it), then the newest."""
    others = sorted(p.name for p in builds.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != keep)
    kept = ([previous] if previous in others else [])[:keep_previous]
    kept += [name for name in reversed(others) if name not in kept][: max(0, keep_previous - len(kept))]
    for name in others:
        if name not in kept:
            shutil.rmtree(builds / name, ignore_errors=True)
