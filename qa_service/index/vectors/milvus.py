"""Milvus through pymilvus: a Milvus server or cluster URI, or a local Milvus Lite file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..filters import Attributes, Filter
from ..manifest import IndexUnavailable
from .base import IndexPlan, empty_hits

#: Searches read whatever the collection holds now: a build flushes what it wrote before it is saved, so
#: waiting for the newest timestamps ("Strong", "Bounded") buys nothing and costs time on every question.
CONSISTENCY = "Eventually"
#: Seconds to wait for a server before it counts as unreachable.
CONNECT_TIMEOUT = 10.0
#: Open stores per Milvus Lite file in this process: the file's embedded server stops with the last.
_lite_users: dict[str, int] = {}


class MilvusVectorStore:
    """A Milvus collection through ``pymilvus``: a Milvus server or cluster URI, or a local Milvus Lite file.

    The collection holds one row per window: id, vector, document, country and year; filters become a
    Milvus boolean expression. The collection is shared state outside the build folder: the build's
    manifest records its name and row count, and loading checks the count.
    """

    kind = "milvus"
    FILE = "milvus.json"

    def __init__(self, uri: str, collection: str, dim: int, plan: IndexPlan, token: str = "") -> None:
        """Connect to the Milvus at ``uri``.

        Raises:
            IndexUnavailable: the server cannot be reached, or the Milvus Lite file cannot be opened (another
                process holds it).
        """
        from pymilvus import MilvusClient

        self.uri = uri
        self.collection = collection
        self.dim = dim
        self._plan = plan
        if "://" not in uri:
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._client = MilvusClient(uri, token=token, timeout=CONNECT_TIMEOUT)
        except Exception as exc:
            raise IndexUnavailable(f"Milvus at {uri} cannot be reached ({_reason(exc)})") from exc
        self._lite = None if "://" in uri else os.path.abspath(uri)
        if self._lite:
            _lite_users[self._lite] = _lite_users.get(self._lite, 0) + 1

    @classmethod
    def open(cls, uri: str, collection: str, dim: int, plan: IndexPlan, token: str = "") -> MilvusVectorStore | None:
        """Connect to an existing collection and load it for search (a new process finds it released);
        None when the collection does not exist.

        Raises:
            IndexUnavailable: Milvus cannot be reached or fails to load the collection.
        """
        store = cls(uri, collection, dim, plan, token)
        try:
            if not store.exists():
                store.close()
                return None
            store._client.load_collection(collection)
        except Exception as exc:
            store.close()
            raise IndexUnavailable(f"Milvus at {uri} cannot load collection {collection!r} ({_reason(exc)})") from exc
        return store

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
        client.create_collection(collection, schema=schema, consistency_level=CONSISTENCY)
        # Not waited for: the wait asks Milvus for a timestamp (AllocTimestamp), which Milvus Lite lacks (it
        # logged an ERROR traceback); an index over an empty collection is ready at once anyway.
        client.create_index(collection, params, sync=False)
        client.load_collection(collection)
        return store

    @property
    def size(self) -> int:
        """Rows in the collection."""
        rows = self._client.query(self.collection, filter="", output_fields=["count(*)"], consistency_level="Strong")
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
        rows = self._client.get(
            self.collection, ids=[int(i) for i in ids], output_fields=["doc"], consistency_level="Strong"
        )
        return {int(r["id"]): str(r["doc"]) for r in rows}

    def add(self, ids: np.ndarray, vectors: np.ndarray, attributes: Attributes, batch: int = 2000) -> None:
        """Insert rows (in batches) and flush, so that a search right after sees them, at full speed."""
        ids = np.asarray(ids, dtype=np.int64)
        for start in range(0, len(ids), batch):
            stop = min(start + batch, len(ids))
            rows = [
                {
                    "id": int(ids[i]),
                    "vector": vectors[i].astype(np.float32).tolist(),
                    "doc": str(attributes.documents[i]),
                    "country": str(attributes.countries[i]),
                    "year": int(attributes.years[i]),
                }
                for i in range(start, stop)
            ]
            self._client.insert(self.collection, rows)
        if len(ids):
            self._settle()

    def remove(self, ids: np.ndarray) -> None:
        """Delete rows by id."""
        ids = [int(i) for i in np.asarray(ids, dtype=np.int64)]
        for start in range(0, len(ids), 10_000):
            self._client.delete(self.collection, ids=ids[start : start + 10_000])
        if ids:
            self._settle()

    def _settle(self) -> None:
        """Flush the writes and wait until searches see them: searches read at "Eventually" consistency and do
        not wait for new writes themselves."""
        self._client.flush(self.collection)
        _ = self.size  # a query at "Strong" consistency returns once every write before it is visible

    def search(self, query: np.ndarray, k: int, where: Filter | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best ids for one query, filtered by a Milvus expression."""
        if k <= 0:
            return empty_hits()
        params: dict[str, object] = {"metric_type": "IP"}
        if self._plan.kind == "ivf":
            params["params"] = {"nprobe": self._plan.nprobe}
        hits = self._client.search(
            self.collection,
            data=[np.asarray(query, dtype=np.float32).tolist()],
            limit=min(k, 16384),
            filter=milvus_expression(where),
            search_params=params,
            consistency_level=CONSISTENCY,
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
        """Close the client; the last store of a Milvus Lite file in the process stops its embedded server,
        which releases the file's lock (closing the client alone keeps it)."""
        self._client.close()
        if self._lite and _lite_users.get(self._lite):
            _lite_users[self._lite] -= 1
            if not _lite_users[self._lite]:
                del _lite_users[self._lite]
                from milvus_lite.server_manager import server_manager_instance

                server_manager_instance.release_server(self._lite)
            self._lite = None


def _reason(exc: Exception) -> str:
    """The message of a pymilvus error without its class name and code."""
    return str(getattr(exc, "message", None) or exc)


def milvus_expression(where: Filter | None) -> str:
    """A Milvus boolean expression for a filter ("" for none); values are quoted as JSON strings."""
    if where is None or where.is_empty():
        return ""
    parts = []
    if where.documents is not None:
        parts.append(f"doc in {json.dumps(sorted(where.documents), ensure_ascii=False)}")
    if where.countries is not None:
        parts.append(f"country in {json.dumps(sorted(where.countries), ensure_ascii=False)}")
    if where.year_from is not None or where.year_to is not None:
        parts.append("year > 0")
    if where.year_from is not None:
        parts.append(f"year >= {int(where.year_from)}")
    if where.year_to is not None:
        parts.append(f"year <= {int(where.year_to)}")
    return " and ".join(parts)
