"""The vector store interface and the choice of index type; FAISS and Milvus implement it.

Both implement :class:`VectorStore`: vectors are added and removed by stable 64-bit ids (so one
document's vectors can be removed without rebuilding the rest), searched by inner product (the vectors
are unit length, so it is the cosine), and filtered by each window's document, country and year. The
store is made or opened by the factory in this package's ``__init__`` from the settings
(``QA_VECTOR_STORE``); nothing else in the service knows which one it talks to.

The index type follows the number of vectors (:func:`index_plan`): exact search while it is fast
enough, then an inverted-file index (IVF) whose list count and probe count were chosen by measurement
(``benchmarks/scale.py``, figures in BENCHMARKS.md). IVF rather than HNSW because it supports removal
by id, which incremental updates need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ..filters import Attributes, Filter

#: Below this many vectors a filter's matches are scored exactly, whatever the index type.
EXACT_SUBSET = 8192
#: IVF centroids are trained on at most this many vectors per list: k-means time grows with the sample,
#: and FAISS asks for at least 39 per list.
TRAIN_PER_LIST = 64


@dataclass(frozen=True)
class IndexPlan:
    """The index type for a number of vectors, with its parameters."""

    kind: str  # "flat" or "ivf"
    nlist: int = 0
    nprobe: int = 0

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form for the manifest."""
        return {"kind": self.kind, "nlist": self.nlist, "nprobe": self.nprobe}

    @classmethod
    def of_build(cls, store_config: dict) -> IndexPlan:
        """The plan a build's manifest records in its ``vector_store`` entry (flat when it records none)."""
        plan = store_config.get("plan")
        return cls(**plan) if plan else cls("flat")


def index_plan(count: int, kind: str = "auto", flat_max: int = 30_000, nprobe: int = 0) -> IndexPlan:
    """The index for ``count`` vectors: exact up to ``flat_max``, then IVF with ~4·√n lists.

    ``kind`` forces "flat" or "ivf"; ``nprobe`` 0 means the measured default: 1/64 of the lists and at
    least 64, chosen with ``benchmarks/scale.py`` for recall@10 of at least 0.95 (figures in BENCHMARKS.md).
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

    def add(self, ids: np.ndarray, vectors: np.ndarray, attributes: Attributes) -> None:
        """Add vectors under the given ids (ids not yet in the store)."""

    def remove(self, ids: np.ndarray) -> None:
        """Remove the vectors with these ids."""

    def search(self, query: np.ndarray, k: int, where: Filter | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Scores and ids of the ``k`` best vectors for one query (matching ``where``), best first."""

    def save(self, folder: Path) -> list[str]:
        """Persist what the build folder must hold; returns the names of the files written."""

    def close(self) -> None:
        """Release connections and files."""


def empty_hits() -> tuple[np.ndarray, np.ndarray]:
    """No scores and no ids."""
    return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
