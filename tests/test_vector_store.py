"""The vector-store seam: FAISS, Milvus Lite and a real Milvus server (``milvus-server``) pass the same tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa_service.index.filters import Attributes as WindowAttributes
from qa_service.index.filters import Filter as WindowFilter
from qa_service.index.vectors.base import EXACT_SUBSET, IndexPlan, index_plan
from qa_service.index.vectors.faiss import FaissVectorStore
from qa_service.index.vectors.milvus import MilvusVectorStore, milvus_expression

from .milvus_server import milvus_server  # noqa: F401 - a fixture

STORES = ["faiss", "milvus", "milvus-server"]
DIM = 16


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _attrs(n: int, offset: int = 0) -> WindowAttributes:
    return WindowAttributes(
        documents=[f"doc{(i + offset) % 5}" for i in range(n)],
        countries=["KAZ" if (i + offset) % 2 else "USA" for i in range(n)],
        years=[1990 + (i + offset) % 30 for i in range(n)],
    )


def _milvus_target(kind: str, tmp_path: Path) -> tuple[str, str]:
    """The URI and collection a Milvus test uses: a Lite file of its own, or a collection of its own on the
    session's server (``kind`` is then the server's URI)."""
    if kind.startswith("http"):
        return kind, "t_" + "".join(ch if ch.isalnum() else "_" for ch in tmp_path.name)[-60:]
    return str(tmp_path / "milvus.db"), "test_windows"


def _open(kind: str, tmp_path: Path, plan: IndexPlan, training: np.ndarray):
    if kind == "faiss":
        return FaissVectorStore.create(plan, DIM, training)
    return MilvusVectorStore.create(*_milvus_target(kind, tmp_path), DIM, plan)


def _exact(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int, mask=None):
    scores = vectors @ query
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    order = np.argsort(-scores, kind="stable")[:k]
    order = order[np.isfinite(scores[order])]
    return ids[order]


@pytest.fixture(params=STORES)
def kind(request) -> str:
    """ "faiss", "milvus" (Lite) or the URI of the session's Milvus server."""
    if request.param == "milvus-server":
        return request.getfixturevalue("milvus_server")
    return request.param


@pytest.fixture(params=["milvus", "milvus-server"])
def milvus_kind(request) -> str:
    """Milvus Lite ("milvus") or the URI of the session's Milvus server."""
    if request.param == "milvus-server":
        return request.getfixturevalue("milvus_server")
    return request.param


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    vectors = _unit(rng, 300)
    ids = np.arange(1000, 1300, dtype=np.int64)
    return vectors, ids, _attrs(300), _unit(rng, 5)


def test_search_is_exact_with_a_flat_plan(kind, tmp_path, data):
    vectors, ids, attrs, queries = data
    store = _open(kind, tmp_path, IndexPlan("flat"), vectors)
    store.add(ids, vectors, attrs)
    assert store.size == 300
    for q in queries:
        scores, got = store.search(q, 10)
        assert got.tolist() == _exact(vectors, ids, q, 10).tolist()
        np.testing.assert_allclose(scores, vectors[got - 1000] @ q, atol=1e-5)
    store.close()


def test_filters_by_document_country_and_year(kind, tmp_path, data):
    vectors, ids, attrs, queries = data
    store = _open(kind, tmp_path, IndexPlan("flat"), vectors)
    store.add(ids, vectors, attrs)
    docs = np.array(attrs.documents)
    countries = np.array(attrs.countries)
    years = np.array(attrs.years)
    cases = [
        (WindowFilter(documents=frozenset({"doc1", "doc3"})), np.isin(docs, ["doc1", "doc3"])),
        (WindowFilter(countries=frozenset({"KAZ"})), countries == "KAZ"),
        (WindowFilter(year_from=2000, year_to=2005), (years >= 2000) & (years <= 2005)),
        (
            WindowFilter(documents=frozenset({"doc2"}), countries=frozenset({"USA"}), year_from=1995),
            (docs == "doc2") & (countries == "USA") & (years >= 1995),
        ),
        (WindowFilter(documents=frozenset({"nothing"})), np.zeros(300, bool)),
    ]
    for where, mask in cases:
        for q in queries[:2]:
            _, got = store.search(q, 10, where)
            assert got.tolist() == _exact(vectors, ids, q, 10, mask).tolist(), where
    store.close()


def test_remove_by_id_without_rebuilding(kind, tmp_path, data):
    vectors, ids, attrs, queries = data
    store = _open(kind, tmp_path, IndexPlan("flat"), vectors)
    store.add(ids, vectors, attrs)
    gone = ids[::3]
    store.remove(gone)
    keep = ~np.isin(ids, gone)
    assert store.size == int(keep.sum())
    for q in queries:
        _, got = store.search(q, 10)
        assert got.tolist() == _exact(vectors[keep], ids[keep], q, 10).tolist()
        assert not set(got.tolist()) & set(gone.tolist())
    # A filter still matches the right rows after removal.
    where = WindowFilter(countries=frozenset({"KAZ"}))
    _, got = store.search(queries[0], 10, where)
    mask = np.array(attrs.countries)[keep] == "KAZ"
    assert got.tolist() == _exact(vectors[keep], ids[keep], queries[0], 10, mask).tolist()
    store.close()


def test_add_more_later(kind, tmp_path, data):
    vectors, ids, attrs, queries = data
    store = _open(kind, tmp_path, IndexPlan("flat"), vectors)
    store.add(ids[:200], vectors[:200], attrs.take(range(200)))
    store.add(ids[200:], vectors[200:], attrs.take(range(200, 300)))
    assert store.size == 300
    _, got = store.search(queries[0], 10, WindowFilter(documents=frozenset({"doc4"})))
    assert got.tolist() == _exact(vectors, ids, queries[0], 10, np.array(attrs.documents) == "doc4").tolist()
    store.close()


def test_ivf_plan_finds_near_neighbours(kind, tmp_path):
    rng = np.random.default_rng(3)
    centres = _unit(rng, 20)
    vectors = centres[rng.integers(0, 20, 2000)] + 0.15 * rng.standard_normal((2000, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(2000, dtype=np.int64)
    plan = index_plan(2000, "ivf", nprobe=8)
    assert plan.kind == "ivf" and plan.nlist >= 16
    store = _open(kind, tmp_path, plan, vectors)
    store.add(ids, vectors, _attrs(2000))
    recall = []
    for q in vectors[:20]:
        _, got = store.search(q, 10)
        recall.append(len(set(got.tolist()) & set(_exact(vectors, ids, q, 10).tolist())) / 10)
    assert np.mean(recall) >= 0.9
    store.remove(ids[:5])
    assert store.size == 1995
    _, got = store.search(vectors[0], 10)
    assert 0 not in got.tolist()
    store.close()


def test_faiss_store_saves_and_loads(tmp_path, data):
    vectors, ids, attrs, queries = data
    store = FaissVectorStore.create(IndexPlan("flat"), DIM, vectors)
    store.add(ids, vectors, attrs)
    store.remove(ids[:10])
    assert store.save(tmp_path) == ["vectors.faiss"]
    loaded = FaissVectorStore.load(tmp_path, IndexPlan("flat"), ids[10:], attrs.take(range(10, 300)))
    assert loaded.size == 290
    for q in queries:
        assert loaded.search(q, 5)[1].tolist() == store.search(q, 5)[1].tolist()
        where = WindowFilter(documents=frozenset({"doc0"}))
        assert loaded.search(q, 5, where)[1].tolist() == store.search(q, 5, where)[1].tolist()


def test_milvus_collection_survives_reopening_in_a_new_process(milvus_kind, tmp_path, data):
    vectors, ids, attrs, queries = data
    uri, collection = _milvus_target(milvus_kind, tmp_path)
    store = MilvusVectorStore.create(uri, collection, DIM, IndexPlan("flat"))
    store.add(ids, vectors, attrs)
    before = store.search(queries[0], 5)[1].tolist()
    store.close()
    # A new process finds the collection released (not loaded for search); opening it must load it.
    np.save(tmp_path / "query.npy", queries[0])
    script = (
        "import sys, numpy as np\n"
        "from qa_service.index.vectors.base import IndexPlan\n"
        "from qa_service.index.vectors.milvus import MilvusVectorStore\n"
        "store = MilvusVectorStore.open(sys.argv[1], sys.argv[2], 16, IndexPlan('flat'))\n"
        "print(store.size, *store.search(np.load(sys.argv[3]), 5)[1].tolist())\n"
        "store.close()\n"
    )
    if milvus_kind.startswith("http"):  # a server keeps it loaded: release it, as a restart would
        from pymilvus import MilvusClient

        client = MilvusClient(uri)
        client.release_collection(collection)
        client.close()
    out = subprocess.run(
        [sys.executable, "-c", script, uri, collection, str(tmp_path / "query.npy")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [str(300), *map(str, before)]


def test_an_unreachable_milvus_server_is_unavailable_not_damaged():
    from qa_service.index import IndexUnavailable

    from .helpers import free_port

    with pytest.raises(IndexUnavailable):
        MilvusVectorStore.open(f"http://127.0.0.1:{free_port()}", "anything", DIM, IndexPlan("flat"))


def test_narrow_filter_over_a_large_faiss_ivf_index_is_exact():
    rng = np.random.default_rng(5)
    n = EXACT_SUBSET + 2000
    vectors = _unit(rng, n)
    ids = np.arange(n, dtype=np.int64)
    attrs = WindowAttributes([f"d{i % 1000}" for i in range(n)], ["KAZ"] * n, [2000] * n)
    store = FaissVectorStore.create(index_plan(n, "ivf", nprobe=1), DIM, vectors)
    store.add(ids, vectors, attrs)
    q = vectors[42]
    _, got = store.search(q, 5, WindowFilter(documents=frozenset({"d42"})))
    assert got.tolist() == _exact(vectors, ids, q, 5, np.array(attrs.documents) == "d42").tolist()


def test_index_plan_by_size():
    assert index_plan(10_000, flat_max=50_000).kind == "flat"
    big = index_plan(1_000_000, flat_max=50_000)
    assert big.kind == "ivf" and big.nlist == 4096 and big.nprobe == 64
    assert index_plan(1_000_000, "flat").kind == "flat"
    assert index_plan(1_000_000, nprobe=16, flat_max=50_000).nprobe == 16
    assert index_plan(60_000, flat_max=50_000).nlist <= 60_000 // 39


def test_milvus_expression_quotes_values():
    where = WindowFilter(documents=frozenset({'a"b', "c"}), countries=frozenset({"KAZ"}), year_from=1992, year_to=2000)
    assert milvus_expression(where) == (
        'doc in ["a\\"b", "c"] and country in ["KAZ"] and year > 0 and year >= 1992 and year <= 2000'
    )
    assert milvus_expression(None) == "" and milvus_expression(WindowFilter()) == ""


@pytest.mark.slow
def test_milvus_and_faiss_give_the_same_answers_on_the_evaluation_questions(
    milvus_kind, tmp_path, settings, encoder, retriever
):
    from qa_service.index import ensure_index
    from qa_service.ranking import Retriever

    from .helpers import DATA, read_jsonl

    uri, collection = _milvus_target(milvus_kind, tmp_path)
    milvus_settings = settings.replace(
        index_dir=tmp_path / "index", vector_store="milvus", milvus_uri=uri, milvus_collection=collection
    )
    data = ensure_index(milvus_settings, encoder)
    assert data.manifest.vector_store["kind"] == "milvus"
    milvus = Retriever(data, encoder, retriever.params)
    questions = [row["question"] for row in read_jsonl(DATA / "statement_questions.jsonl")]
    questions += [row["question"] for row in read_jsonl(DATA / "statement_out_of_scope.jsonl")]
    for question in questions:
        a, b = retriever.ask(question, 5), milvus.ask(question, 5)
        assert [x.passage.number for x in a.answers] == [x.passage.number for x in b.answers], question
        np.testing.assert_allclose([x.score for x in a.answers], [x.score for x in b.answers], atol=1e-3)
        assert a.no_answer == b.no_answer
    data.vectors.close()
