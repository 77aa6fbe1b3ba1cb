"""The vector stores: one interface (``base.VectorStore``), one file per backend, and the factory below,
which holds the only choice between them.

- ``faiss``: FAISS in each process, saved in the build folder (the default).
- ``milvus``: a Milvus server or cluster, or a Milvus Lite file; the build records which collection.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ...settings import Settings
from ..filters import Attributes
from ..manifest import IndexCorrupt, IndexUnavailable
from .base import IndexPlan, VectorStore, index_plan

__all__ = ["IndexPlan", "VectorStore", "create_store", "index_plan", "open_store", "plan_for", "store_config"]


def store_config(settings: Settings) -> dict[str, object]:
    """Which vector store a build must use (recorded in its manifest); a change makes the index stale."""
    if settings.vector_store == "milvus":
        return {"kind": "milvus", "uri": settings.resolved_milvus_uri(), "collection": settings.milvus_collection}
    return {"kind": "faiss"}


def plan_for(settings: Settings, count: int) -> IndexPlan:
    """The vector index type for ``count`` vectors under these settings."""
    return index_plan(count, settings.faiss_index, settings.flat_max_vectors, settings.ivf_nprobe)


def create_store(settings: Settings, plan: IndexPlan, dim: int, training: np.ndarray) -> VectorStore:
    """A new, empty store of the configured kind (an IVF index is trained on ``training``)."""
    if settings.vector_store == "milvus":
        from .milvus import MilvusVectorStore

        return MilvusVectorStore.create(settings.resolved_milvus_uri(), settings.milvus_collection, dim, plan)
    from .faiss import FaissVectorStore

    return FaissVectorStore.create(plan, dim, training)


def open_store(
    settings: Settings,
    folder: Path,
    config: dict,
    dim: int,
    ids: np.ndarray,
    attributes: Attributes,
    files: Mapping[str, bytes] | None = None,
) -> VectorStore:
    """Open a build's store as its manifest records it (``config``: kind, plan, where).

    ``files`` holds the build's files as read and verified; a FAISS index is read from them (from the
    folder when they are not given).

    Raises:
        IndexCorrupt: the store does not hold the build's vectors.
        IndexUnavailable: the store cannot be reached now (the data may well be intact: never rebuild).
    """
    plan = IndexPlan.of_build(config)
    # The probe count is a search-time setting: it may change without a rebuild.
    if plan.kind == "ivf" and settings.ivf_nprobe:
        plan = IndexPlan("ivf", plan.nlist, min(plan.nlist, settings.ivf_nprobe))
    if config.get("kind") == "milvus":
        from .milvus import MilvusVectorStore

        store = MilvusVectorStore.open(str(config["uri"]), str(config["collection"]), dim, plan)
        if store is None:
            raise IndexCorrupt(f"Milvus collection {config['collection']!r} is missing at {config['uri']}")
        # The collection lives outside the build: besides its size, a sample of the build's window ids
        # must be there, each with its document.
        sample = np.unique(np.linspace(0, len(ids) - 1, num=min(len(ids), 32)).astype(int)) if len(ids) else []
        want = {int(ids[i]): str(attributes.documents[i]) for i in sample}
        try:
            held = store.documents_of(np.array(list(want))) if want else want
        except Exception as exc:
            store.close()
            raise IndexUnavailable(f"Milvus collection {config['collection']!r} cannot be read ({exc})") from exc
        if held != want:
            store.close()
            raise IndexCorrupt(f"Milvus collection {config['collection']!r} does not hold this build's vectors")
        return store
    from .faiss import FaissVectorStore

    if files is not None and FaissVectorStore.FILE not in files:
        raise IndexCorrupt(f"the manifest has no checksum for {FaissVectorStore.FILE}")
    raw = files.get(FaissVectorStore.FILE) if files is not None else None
    return FaissVectorStore.load(folder, plan, ids, attributes, raw)
