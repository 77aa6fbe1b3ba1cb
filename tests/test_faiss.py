"""FAISS searches on one OpenMP thread in every thread that searches, not only in the one that loaded it."""

from __future__ import annotations

import os
import threading

import faiss
import numpy as np
import pytest

from qa_service.index.filters import Attributes
from qa_service.index.vectors.base import IndexPlan
from qa_service.index.vectors.faiss import FaissVectorStore


def _in_new_thread(work):
    out = {}

    def run():
        out["value"] = work()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return out["value"]


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: OpenMP starts one thread anyway")
def test_a_request_thread_searches_on_one_openmp_thread(tmp_path):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((40, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(40, dtype=np.int64)
    store = FaissVectorStore.create(IndexPlan("flat"), 8, vectors)
    store.add(ids, vectors, _attributes(40))
    store.save(tmp_path)
    loaded = FaissVectorStore.load(tmp_path, IndexPlan("flat"), ids, _attributes(40))
    # A thread the service did not start (gunicorn's) gets OpenMP's default: one thread per core.
    assert _in_new_thread(faiss.omp_get_max_threads) > 1

    def search_then_count():
        hits = loaded.search(vectors[3], 5)[1].tolist()
        return hits, faiss.omp_get_max_threads()

    hits, threads = _in_new_thread(search_then_count)
    assert hits[0] == 3
    assert threads == 1


def _attributes(n: int) -> Attributes:
    return Attributes(documents=[f"doc{i % 5}" for i in range(n)], countries=["KAZ"] * n, years=[2000] * n)
