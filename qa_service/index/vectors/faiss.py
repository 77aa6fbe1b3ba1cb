"""FAISS in the process: an exact (flat) or IVF index with stable ids, saved in the build folder."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..filters import Attributes, Filter
from .base import EXACT_SUBSET, TRAIN_PER_LIST, IndexPlan, empty_hits

# FAISS's loader logs, at INFO, a "ModuleNotFoundError" for every CPU-specific build it tries before the one
# it can load: alarming noise on every command, not a problem.
logging.getLogger("faiss.loader").setLevel(logging.WARNING)


@contextmanager
def _faiss_threads(count: int) -> Iterator[None]:
    """Let FAISS use ``count`` OpenMP threads inside the block (building), and one thread after it.

    One question is too small to split across threads, and OpenMP's threads wait for busy cores: on the
    shared two-core machine, searching the 415 statements' 13k vectors was several times slower with
    two threads than with one (``benchmarks/scale.py search-threads``, BENCHMARKS.md). The service runs
    questions in parallel in its own threads instead.
    """
    import faiss

    faiss.omp_set_num_threads(max(1, count))
    try:
        yield
    finally:
        faiss.omp_set_num_threads(1)


#: Whether this thread has limited FAISS to one OpenMP thread (see :func:`_one_thread_here`).
_limited = threading.local()


def _one_thread_here() -> None:
    """Limit FAISS to one OpenMP thread in the calling thread, once per thread.

    OpenMP's thread count belongs to each thread: the one set where the index was loaded does not reach
    the server's request threads, where FAISS would start a team of one thread per core for every
    question, and wait for a busy core (hundreds of microseconds per search on two shared cores).
    """
    if not getattr(_limited, "done", False):
        import faiss

        faiss.omp_set_num_threads(1)
        _limited.done = True


class FaissVectorStore:
    """FAISS in the process: ``IndexIDMap2(IndexFlatIP)`` or ``IndexIVFFlat`` with ids; saved in the build."""

    kind = "faiss"
    FILE = "vectors.faiss"

    def __init__(self, index, plan: IndexPlan, ids: np.ndarray, attributes: Attributes) -> None:
        self._index = index
        self._plan = plan
        self._ids = np.asarray(ids, dtype=np.int64)
        self._attrs = attributes
        self._order: np.ndarray | None = None

    @classmethod
    def create(cls, plan: IndexPlan, dim: int, training: np.ndarray | None = None) -> FaissVectorStore:
        """An empty store of the planned type (IVF is trained on ``training``)."""
        import faiss

        if plan.kind == "flat":
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        else:
            quantizer = faiss.IndexFlatIP(dim)
            index = faiss.IndexIVFFlat(quantizer, dim, plan.nlist, faiss.METRIC_INNER_PRODUCT)
            sample = np.ascontiguousarray(training, dtype=np.float32)
            if len(sample) > plan.nlist * TRAIN_PER_LIST:
                pick = np.random.default_rng(0).choice(len(sample), plan.nlist * TRAIN_PER_LIST, replace=False)
                sample = sample[np.sort(pick)]
            with _faiss_threads(os.cpu_count() or 1):
                index.train(sample)
            index.set_direct_map_type(faiss.DirectMap.Hashtable)
            index.nprobe = plan.nprobe
        return cls(index, plan, np.zeros(0, np.int64), Attributes())

    @classmethod
    def load(
        cls, folder: Path, plan: IndexPlan, ids: np.ndarray, attributes: Attributes, raw: bytes | None = None
    ) -> FaissVectorStore:
        """Read the index saved by :meth:`save` (from ``raw``, its file's verified bytes, when given);
        ``ids`` and ``attributes`` come from the build's arrays."""
        import faiss

        if raw is not None:
            index = faiss.deserialize_index(np.frombuffer(raw, dtype=np.uint8))
        else:
            index = faiss.read_index(str(folder / cls.FILE))
        faiss.omp_set_num_threads(1)  # see _faiss_threads
        if plan.kind == "ivf":
            index.nprobe = plan.nprobe
        return cls(index, plan, ids, attributes)

    @property
    def size(self) -> int:
        """Number of vectors held."""
        return int(self._index.ntotal)

    @property
    def plan(self) -> IndexPlan:
        """The index type in use."""
        return self._plan

    def add(self, ids: np.ndarray, vectors: np.ndarray, attributes: Attributes) -> None:
        """Add vectors under new ids."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return
        with _faiss_threads(os.cpu_count() or 1):
            self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        self._ids = np.concatenate([self._ids, ids])
        self._attrs = self._attrs.concat(attributes)
        self._order = None

    def remove(self, ids: np.ndarray) -> None:
        """Remove vectors by id (FAISS's id mapping; nothing else is rebuilt)."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return
        self._index.remove_ids(ids)
        keep = ~np.isin(self._ids, ids)
        rows = np.flatnonzero(keep)
        self._ids = self._ids[keep]
        self._attrs = self._attrs.take(rows)
        self._order = None

    def search(self, query: np.ndarray, k: int, where: Filter | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best ids for one query; a filter is applied inside FAISS (or exactly, when it is narrow)."""
        import faiss

        _one_thread_here()
        query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        if where is None or where.is_empty():
            k = min(k, self.size)
            if k <= 0:
                return empty_hits()
            scores, ids = self._index.search(query, k)
            return _valid(scores[0], ids[0])
        allowed = self._ids[self._attrs.mask(where)]
        k = min(k, len(allowed))
        if k <= 0:
            return empty_hits()
        if len(allowed) <= EXACT_SUBSET:
            scores = self._index.reconstruct_batch(allowed) @ query[0]
            best = np.lexsort((allowed, -scores))[:k]
            return scores[best].astype(np.float32), allowed[best]
        selector = faiss.IDSelectorBatch(allowed)
        if self._plan.kind == "ivf":
            params = faiss.SearchParametersIVF(sel=selector, nprobe=self._plan.nprobe)
        else:
            params = faiss.SearchParameters(sel=selector)
        scores, ids = self._index.search(query, k, params=params)
        return _valid(scores[0], ids[0])

    def save(self, folder: Path) -> list[str]:
        """Write the FAISS index into the build folder.

        Serialised in memory and written by Python, which raises on a failed write: FAISS's own writer
        only prints an error when closing its file fails (a full disk) and leaves a truncated file.
        """
        import faiss

        with open(folder / self.FILE, "wb") as fh:
            fh.write(memoryview(faiss.serialize_index(self._index)))
        return [self.FILE]

    def close(self) -> None:
        """Nothing to release."""


def _valid(scores: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = ids >= 0
    return scores[keep].astype(np.float32), ids[keep].astype(np.int64)
