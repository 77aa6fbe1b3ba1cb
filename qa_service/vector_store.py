"""Where the passage-window vectors live and are searched: FAISS in the process, or a Milvus server.

Both implement :class:`VectorStore`: vectors are added and removed by stable 64-bit ids (so one
document's vectors can be removed without rebuilding the rest), searched by inner product (the vectors
are unit length, so it is the cosine), and filtered by each window's document, country and year. The
store is picked by :func:`open_vector_store` from the settings (``QA_VECTOR_STORE``); nothing else in the
service knows which one it talks to.

The index type follows the number of vectors (:func:`index_plan`): exact search while it is fast
enough, then an inverted-file index (IVF) whose list count and probe count were chosen by measurement
(``benchmarks/scale.py``, figures in BENCHMARKS.md). IVF rather than HNSW because it supports removal
by id, which incremental updates need.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

#: Below this many vectors a filter's matches are scored exactly, whatever the index type.
EXACT_SUBSET = 8192
#: IVF centroids are trained on at most this many vectors per list: k-means time grows with the sample,
#: and FAISS asks for at least 39 per list.
TRAIN_PER_LIST = 64


@dataclass(frozen=True)
class WindowFilter:
    """Which windows a search may return: any of ``documents`` (ids), any of ``countries``, a year range.

    A field left as None does not restrict. Windows of documents without a year never match a year range.
    """

    documents: frozenset[str] | None = None
    countries: frozenset[str] | None = None
    year_min: int | None = None
    year_max: int | None = None

    def is_empty(self) -> bool:
        """True when the filter lets everything through."""
        return self.documents is None and self.countries is None and self.year_min is None and self.year_max is None


@dataclass
class WindowAttributes:
    """The fields a window is filtered by, one entry per window (aligned with its id)."""

    documents: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    years: list[int] = field(default_factory=list)  # 0 when the document has no year

    def take(self, rows: Sequence[int]) -> WindowAttributes:
        """The attributes of some rows, in that order."""
        return WindowAttributes(
            [self.documents[i] for i in rows], [self.countries[i] for i in rows], [self.years[i] for i in rows]
        )


@dataclass(frozen=True)
class IndexPlan:
    """The index type for a number of vectors, with its parameters."""

    kind: str  # "flat" or "ivf"
    nlist: int = 0
    nprobe: int = 0

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form for the manifest."""
        return {"kind": self.kind, "nlist": self.nlist, "nprobe": self.nprobe}


def index_plan(count: int, kind: str = "auto", flat_max: int = 30_000, nprobe: int = 0) -> IndexPlan:
    """The index for ``count`` vectors: exact up to ``flat_max``, then IVF with ~4·√n lists.

    ``kind`` forces "flat" or "ivf"; ``nprobe`` 0 means the measured default: 1/64 of the lists and at
    least 64, which held recall@10 at or above 0.95 in ``benchmarks/scale.py`` at 100k (0.957) and 1M
    vectors (0.9995, 3.2 ms on one core); 16 probes at 100k gave only 0.93.
    """
    if kind == "flat" or (kind == "auto" and count <= flat_max):
        return IndexPlan("flat")
    nlist = 1 << round(math.log2(4 * math.sqrt(max(count, 1))))
    nlist = max(1, min(nlist, 65536, count // 39))  # k-means wants ~39 training points per list
    probes = nprobe or max(64, nlist // 64)
    return IndexPlan("ivf", nlist, min(probes, nlist))


class VectorStore(Protocol):
    """Inner-product search over unit vectors with stable ids and filterable attributes."""

    kind: str

    @property
    def size(self) -> int:
        """Number of vectors held."""

    @property
    def plan(self) -> IndexPlan:
        """The index type in use."""

    def add(self, ids: np.ndarray, vectors: np.ndarray, attributes: WindowAttributes) -> None:
        """Add vectors under the given ids (ids not yet in the store)."""

    def remove(self, ids: np.ndarray) -> None:
        """Remove the vectors with these ids."""

    def search(self, query: np.ndarray, k: int, where: WindowFilter | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Scores and ids of the ``k`` best vectors for one query (matching ``where``), best first."""

    def save(self, folder: Path) -> list[str]:
        """Persist what the build folder must hold; returns the names of the files written."""

    def close(self) -> None:
        """Release connections and files."""


# ---------------------------------------------------------------------------------------------
# FAISS


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


class FaissVectorStore:
    """FAISS in the process: ``IndexIDMap2(IndexFlatIP)`` or ``IndexIVFFlat`` with ids; saved in the build."""

    kind = "faiss"
    FILE = "vectors.faiss"

    def __init__(self, index, plan: IndexPlan, ids: np.ndarray, attributes: WindowAttributes) -> None:
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
        return cls(index, plan, np.zeros(0, np.int64), WindowAttributes())

    @classmethod
    def load(cls, folder: Path, plan: IndexPlan, ids: np.ndarray, attributes: WindowAttributes) -> FaissVectorStore:
        """Read the index saved by :meth:`save`; ``ids`` and ``attributes`` come from the build's arrays."""
        import faiss

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

    def add(self, ids: np.ndarray, vectors: np.ndarray, attributes: WindowAttributes) -> None:
        """Add vectors under new ids."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return
        with _faiss_threads(os.cpu_count() or 1):
            self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        self._ids = np.concatenate([self._ids, ids])
        self._attrs = WindowAttributes(
            self._attrs.documents + attributes.documents,
            self._attrs.countries + attributes.countries,
            self._attrs.years + attributes.years,
        )
        self._order = None

    def remove(self, ids: np.ndarray) -> None:
        """Remove vectors by id (FAISS's id mapping; nothing else is rebuilt)."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return
        self._index.remove_ids(ids)
        keep = ~np.isin(self._ids, ids)
        rows = np.flatnonzero(keep).tolist()
        self._ids = self._ids[keep]
        self._attrs = self._attrs.take(rows)
        self._order = None

    def search(self, query: np.ndarray, k: int, where: WindowFilter | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best ids for one query; a filter is applied inside FAISS (or exactly, when it is narrow)."""
        import faiss

        query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        if where is None or where.is_empty():
            k = min(k, self.size)
            if k <= 0:
                return _empty()
            scores, ids = self._index.search(query, k)
            return _valid(scores[0], ids[0])
        allowed = self._ids[self._mask(where)]
        k = min(k, len(allowed))
        if k <= 0:
            return _empty()
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

    def _mask(self, where: WindowFilter) -> np.ndarray:
        n = len(self._ids)
        mask = np.ones(n, dtype=bool)
        if where.documents is not None:
            mask &= np.fromiter((d in where.documents for d in self._attrs.documents), bool, n)
        if where.countries is not None:
            mask &= np.fromiter((c in where.countries for c in self._attrs.countries), bool, n)
        if where.year_min is not None or where.year_max is not None:
            years = np.asarray(self._attrs.years, dtype=np.int64)
            mask &= years > 0
            if where.year_min is not None:
                mask &= years >= where.year_min
            if where.year_max is not None:
                mask &= years <= where.year_max
        return mask

    def save(self, folder: Path) -> list[str]:
        """Write the FAISS index into the build folder."""
        import faiss

        faiss.write_index(self._index, str(folder / self.FILE))
        return [self.FILE]

    def close(self) -> None:
        """Nothing to release."""


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)


def _valid(scores: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = ids >= 0
    return scores[keep].astype(np.float32), ids[keep].astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Milvus


class MilvusVectorStore:
    """A Milvus collection through ``pymilvus``: a Milvus server or cluster URI, or a local Milvus Lite file.

    The collection holds one row per window: id, vector, document, country and year; filters become a
    Milvus boolean expression. The collection is shared state outside the build folder: the build's
    manifest records its name and row count, and loading checks the count.
    """

    kind = "milvus"
    FILE = "milvus.json"

    def __init__(self, uri: str, collection: str, dim: int, plan: IndexPlan, token: str = "") -> None:
        from pymilvus import MilvusClient

        self.uri = uri
        self.collection = collection
        self.dim = dim
        self._plan = plan
        if "://" not in uri:
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
        self._client = MilvusClient(uri, token=token) if token else MilvusClient(uri)

    @classmethod
    def create(cls, uri: str, collection: str, dim: int, plan: IndexPlan, token: str = "") -> MilvusVectorStore:
        """A new, empty collection (an existing one of that name is dropped)."""
        from pymilvus import DataType, MilvusClient

        store = cls(uri, collection, dim, plan, token)
        client = store._client
        if client.has_collection(collection):
            client.drop_collection(collection)
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("doc", DataType.VARCHAR, max_length=1024)
        schema.add_field("country", DataType.VARCHAR, max_length=64)
        schema.add_field("year", DataType.INT64)
        params = client.prepare_index_params()
        if plan.kind == "flat":
            params.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
        else:
            params.add_index(field_name="vector", index_type="IVF_FLAT", metric_type="IP", params={"nlist": plan.nlist})
        client.create_collection(collection, schema=schema, index_params=params)
        return store

    @property
    def size(self) -> int:
        """Rows in the collection."""
        rows = self._client.query(self.collection, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    @property
    def plan(self) -> IndexPlan:
        """The index type in use."""
        return self._plan

    def exists(self) -> bool:
        """Whether the collection exists."""
        return bool(self._client.has_collection(self.collection))

    def documents_of(self, ids: np.ndarray) -> dict[int, str]:
        """The document of each of these ids that the collection holds (for consistency checks)."""
        rows = self._client.get(self.collection, ids=[int(i) for i in ids], output_fields=["doc"])
        return {int(r["id"]): str(r["doc"]) for r in rows}

    def add(self, ids: np.ndarray, vectors: np.ndarray, attributes: WindowAttributes, batch: int = 2000) -> None:
        """Insert rows (in batches) and flush, so that a search right after sees them at full speed."""
        ids = np.asarray(ids, dtype=np.int64)
        for start in range(0, len(ids), batch):
            stop = min(start + batch, len(ids))
            rows = [
                {
                    "id": int(ids[i]),
                    "vector": vectors[i].astype(np.float32).tolist(),
                    "doc": attributes.documents[i],
                    "country": attributes.countries[i],
                    "year": int(attributes.years[i]),
                }
                for i in range(start, stop)
            ]
            self._client.insert(self.collection, rows)
        if len(ids):
            self._client.flush(self.collection)

    def remove(self, ids: np.ndarray) -> None:
        """Delete rows by id."""
        ids = [int(i) for i in np.asarray(ids, dtype=np.int64)]
        for start in range(0, len(ids), 10_000):
            self._client.delete(self.collection, ids=ids[start : start + 10_000])
        if ids:
            self._client.flush(self.collection)

    def search(self, query: np.ndarray, k: int, where: WindowFilter | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best ids for one query, filtered by a Milvus expression."""
        if k <= 0:
            return _empty()
        params: dict[str, object] = {"metric_type": "IP"}
        if self._plan.kind == "ivf":
            params["params"] = {"nprobe": self._plan.nprobe}
        hits = self._client.search(
            self.collection,
            data=[np.asarray(query, dtype=np.float32).tolist()],
            limit=min(k, 16384),
            filter=milvus_expression(where),
            output_fields=["id"],
            search_params=params,
        )[0]
        scores = np.array([h["distance"] for h in hits], dtype=np.float32)
        ids = np.array([h["id"] for h in hits], dtype=np.int64)
        return scores, ids

    def save(self, folder: Path) -> list[str]:
        """Record where the vectors are (the URI and collection) in the build folder."""
        (folder / self.FILE).write_text(
            json.dumps({"uri": self.uri, "collection": self.collection, "plan": self._plan.to_dict()}, indent=1),
            encoding="utf-8",
        )
        return [self.FILE]

    def close(self) -> None:
        """Close the client (Milvus Lite releases its file lock)."""
        self._client.close()


def milvus_expression(where: WindowFilter | None) -> str:
    """A Milvus boolean expression for a filter ("" for none); values are quoted as JSON strings."""
    if where is None or where.is_empty():
        return ""
    parts = []
    if where.documents is not None:
        parts.append(f"doc in {json.dumps(sorted(where.documents), ensure_ascii=False)}")
    if where.countries is not None:
        parts.append(f"country in {json.dumps(sorted(where.countries), ensure_ascii=False)}")
    if where.year_min is not None or where.year_max is not None:
        parts.append("year > 0")
    if where.year_min is not None:
        parts.append(f"year >= {int(where.year_min)}")
    if where.year_max is not None:
        parts.append(f"year <= {int(where.year_max)}")
    return " and ".join(parts)
