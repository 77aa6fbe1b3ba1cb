"""Scale benchmarks: the real 415-statement corpus, and synthetic vectors at 100k and 1M.

    # The real corpus: import, full build from scratch, incremental add, query latency with filters.
    python benchmarks/scale.py real --source ../shared/datasets/un_general_debate_subset \
        --out /tmp/ungd --index /tmp/ungd-index --threads 2

    # Synthetic vectors: flat vs IVF (nprobe sweep), build time, memory, latency on one core, recall@10.
    python benchmarks/scale.py synthetic --sizes 100000 1000000 --centres /tmp/ungd-index

    # FAISS search over the built index: one OpenMP thread vs two.
    python benchmarks/scale.py search-threads --index /tmp/ungd-index

    # Embedding speed: a build's texts in corpus order vs longest first.
    python benchmarks/scale.py embed-order --corpus /tmp/ungd --documents 10 --threads 2

Figures are printed as JSON lines and as a Markdown table; BENCHMARKS.md holds the ones we recorded.
Timings on a shared 2-core machine are noisy: each latency is the median (and p99) of many queries in
one run, and ratios are measured within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "What does Kazakhstan say about nuclear disarmament?",
    "Which countries call for reform of the Security Council?",
    "How is climate change threatening small island states?",
    "What is said about the war in Ukraine?",
    "Who calls for a ceasefire in Gaza?",
    "What did Kazakhstan propose about the Semipalatinsk test site?",
    "How should developing countries be financed?",
    "What is said about artificial intelligence?",
    "Which speakers mention food security in Africa?",
    "What role should the United Nations play in peacekeeping?",
    "How do countries view the Sustainable Development Goals?",
    "What did Kazakhstan say about the Conference on Interaction and Confidence-Building Measures in Asia?",
    "Who spoke about debt relief?",
    "What is said about terrorism in the Sahel?",
    "How do landlocked countries describe their trade problems?",
    "What about migration and refugees?",
    "Which speeches mention the Aral Sea?",
    "What is the position on the International Court of Justice?",
    "How is the pandemic's recovery described?",
    "What do speakers say about human rights and democracy?",
]


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def emit(row: dict) -> None:
    print(json.dumps(row), flush=True)


# ---------------------------------------------------------------------------------------------
# The real corpus


def real(args: argparse.Namespace) -> None:
    from qa_service.corpus.importers import add_documents, import_ungd, remove_documents
    from qa_service.encoders.torch_backend import SentenceTransformerEncoder
    from qa_service.index import Filter as Filters
    from qa_service.index import current_build, ensure_index
    from qa_service.ranking import RankingParams, Retriever
    from qa_service.settings import Settings

    out, index = Path(args.out), Path(args.index)
    started = time.perf_counter()
    report = import_ungd(Path(args.source), out)
    emit(
        {
            "stage": "import",
            "documents": len(report.written) + len(report.unchanged),
            "seconds": round(time.perf_counter() - started, 2),
        }
    )

    settings = Settings.from_env(corpus_dir=out, index_dir=index, torch_threads=args.threads)
    encoder = SentenceTransformerEncoder(settings.resolved_model(), settings.torch_threads, 0)
    encoder.warm_up()
    if args.fresh and index.exists():
        shutil.rmtree(index)
    started, cpu0 = time.perf_counter(), time.process_time()
    data = ensure_index(settings, encoder, force=args.fresh)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu0
    m = data.manifest
    build = current_build(index)
    emit(
        {
            "stage": "full build" if args.fresh else "load (embedded_texts: by the build loaded)",
            "threads": args.threads,
            "documents": m.documents,
            "passages": m.passages,
            "windows": m.windows,
            "sentences": m.sentences,
            "embedded_texts": m.embedded,
            "seconds": round(seconds, 1),
            "cpu_seconds": round(cpu, 1),
            "passages_per_s": round(m.passages / seconds, 1),
            "texts_per_s": round(m.embedded / seconds, 1) if m.embedded else None,
            "index_mb": round(_dir_mb(build), 1),
            "plan": m.vector_store.get("plan"),
        }
    )

    # Incremental: remove one statement, then add it back (only its text is embedded).
    moved = Path(args.out).parent / (Path(args.out).name + "-held-out")
    moved.mkdir(exist_ok=True)
    for suffix in (".txt", ".meta.json"):
        shutil.copy2(out / f"KAZ_79_2024{suffix}", moved / f"KAZ_79_2024{suffix}")
    data.vectors.close()
    remove_documents(["KAZ_79_2024"], out)
    started = time.perf_counter()
    data = ensure_index(settings, encoder)
    emit(
        {
            "stage": "remove one statement",
            "embedded_texts": data.manifest.embedded,
            "seconds": round(time.perf_counter() - started, 2),
        }
    )
    data.vectors.close()
    add_documents([moved / "KAZ_79_2024.txt"], out)
    started = time.perf_counter()
    data = ensure_index(settings, encoder)
    emit(
        {
            "stage": "add one statement",
            "embedded_texts": data.manifest.embedded,
            "passages_added": sum(1 for p in data.passages if p.doc_id == "KAZ_79_2024"),
            "seconds": round(time.perf_counter() - started, 2),
        }
    )

    # Query latency, end to end in the retriever (question embedding included; cache off).
    started = time.perf_counter()
    retriever = Retriever(
        data,
        encoder,
        RankingParams.from_settings(settings),
    )
    emit({"stage": "retriever load", "seconds": round(time.perf_counter() - started, 2), "rss_mb": round(_rss_mb())})
    cases = {
        "no filter": None,
        "country=KAZ": Filters(countries=frozenset({"KAZ"})),
        "years 2023-2024": Filters(year_from=2023, year_to=2024),
        "one document": Filters(documents=frozenset({"KAZ_79_2024"})),
    }
    for label, filters in cases.items():
        for group in (False, True):
            wall, cpu = [], []
            for _ in range(args.repeat):
                for q in QUESTIONS:
                    c0 = time.process_time()
                    result = retriever.ask(q, 5, filters=filters, group_by_document=group)
                    cpu.append((time.process_time() - c0) * 1000)
                    wall.append(result.took_ms)
            emit(
                {
                    "stage": "query",
                    "filter": label,
                    "grouped": group,
                    "queries": len(wall),
                    "torch_threads": settings.torch_threads,
                    **_timing(wall, cpu),
                }
            )
    data.vectors.close()


# ---------------------------------------------------------------------------------------------
# Synthetic vectors


def synthetic_vectors(n: int, dim: int, centres: np.ndarray, rng: np.random.Generator, spread: float) -> np.ndarray:
    """Unit vectors scattered around the given centres (real passage embeddings, or random ones)."""
    out = np.empty((n, dim), dtype=np.float32)
    step = 100_000
    for start in range(0, n, step):
        m = min(step, n - start)
        x = centres[rng.integers(0, len(centres), m)] + spread * rng.standard_normal((m, dim)).astype(
            np.float32
        ) / np.sqrt(dim)
        out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def synthetic(args: argparse.Namespace) -> None:
    import faiss

    from qa_service.index import Attributes
    from qa_service.index.vectors import IndexPlan, index_plan
    from qa_service.index.vectors.faiss import FaissVectorStore

    rng = np.random.default_rng(0)
    dim = 384
    if args.centres:
        from qa_service.index import load_index

        centres = np.asarray(load_index(Path(args.centres)).window_vectors, dtype=np.float32)
        source = f"{len(centres)} real window embeddings of the 415 statements"
    else:
        centres = rng.standard_normal((10_000, dim)).astype(np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        source = "10,000 random centres"
    for n in args.flat_sizes:
        vectors = synthetic_vectors(n, dim, centres, rng, args.spread)
        queries = synthetic_vectors(args.queries, dim, centres, rng, args.spread)
        flat = FaissVectorStore.create(IndexPlan("flat"), dim)
        flat.add(np.arange(n, dtype=np.int64), vectors, Attributes(["d"] * n, [""] * n, [0] * n))
        faiss.omp_set_num_threads(1)
        emit({"n": n, "index": "flat", "source": source, **_timing(*_latencies(flat, queries))})
        del flat, vectors
    for n in args.sizes:
        faiss.omp_set_num_threads(args.build_threads)
        vectors = synthetic_vectors(n, dim, centres, rng, args.spread)
        queries = synthetic_vectors(args.queries, dim, centres, rng, args.spread)
        ids = np.arange(n, dtype=np.int64)
        attrs = Attributes(["d"] * n, [""] * n, [0] * n)

        rss0 = _rss_mb()
        started = time.perf_counter()
        flat = FaissVectorStore.create(IndexPlan("flat"), dim)
        flat.add(ids, vectors, attrs)
        flat_build = time.perf_counter() - started
        faiss.omp_set_num_threads(args.build_threads)
        truth = []
        for q in queries:
            truth.append(set(flat.search(q, 10)[1].tolist()))
        faiss.omp_set_num_threads(1)
        flat_times = _latencies(flat, queries)
        emit(
            {
                "n": n,
                "index": "flat",
                "source": source,
                "build_s": round(flat_build, 2),
                "index_mb": round(flat._index.ntotal * dim * 4 / 2**20),
                **_timing(*flat_times),
                "recall@10": 1.0,
            }
        )
        del flat

        faiss.omp_set_num_threads(args.build_threads)
        plan = index_plan(n, "ivf")
        started = time.perf_counter()
        ivf = FaissVectorStore.create(plan, dim, vectors)
        trained = time.perf_counter() - started
        ivf.add(ids, vectors, attrs)
        ivf_build = time.perf_counter() - started
        ivf_mb = faiss.serialize_index(ivf._index).nbytes / 2**20
        faiss.omp_set_num_threads(1)
        for nprobe in args.nprobes:
            if nprobe > plan.nlist:
                continue
            ivf._index.nprobe = nprobe
            ivf._plan = IndexPlan("ivf", plan.nlist, nprobe)
            times = _latencies(ivf, queries)
            recall = statistics.mean(len(set(ivf.search(q, 10)[1].tolist()) & t) / 10 for q, t in zip(queries, truth))
            emit(
                {
                    "n": n,
                    "index": f"ivf nlist={plan.nlist}",
                    "nprobe": nprobe,
                    "default": nprobe == plan.nprobe,
                    "train_s": round(trained, 1),
                    "build_s": round(ivf_build, 1),
                    "index_mb": round(ivf_mb),
                    **_timing(*times),
                    "recall@10": round(recall, 4),
                }
            )
        emit({"n": n, "rss_mb_peak": round(_rss_mb()), "rss_mb_before": round(rss0)})
        del ivf, vectors


def _latencies(store, queries: np.ndarray, repeat: int = 1) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds of each search (FAISS on one thread).

    On a machine shared with other work the wall clock counts time spent waiting for a core; the CPU
    time of a single-threaded search is what it costs on one core of its own.
    """
    wall, cpu = [], []
    for _ in range(repeat):
        for q in queries:
            c0, w0 = time.process_time(), time.perf_counter()
            store.search(q, 10)
            wall.append((time.perf_counter() - w0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
    return wall, cpu


def _timing(wall: list[float], cpu: list[float]) -> dict:
    return {
        "cpu_median_ms": round(statistics.median(cpu), 3),
        "cpu_p99_ms": round(_pct(cpu, 99), 3),
        "wall_median_ms": round(statistics.median(wall), 3),
        "wall_p99_ms": round(_pct(wall, 99), 3),
    }


def embed_order(args: argparse.Namespace) -> None:
    """Texts/s embedding a build's texts in corpus order vs longest first (what the indexer does), in one run."""
    from qa_service.corpus import load_corpus, split_passages
    from qa_service.encoders.torch_backend import SentenceTransformerEncoder
    from qa_service.index.windows import make_windows
    from qa_service.settings import Settings

    settings = Settings.from_env(torch_threads=args.threads)
    encoder = SentenceTransformerEncoder(settings.resolved_model(), settings.torch_threads, 0)
    encoder.warm_up()
    docs = load_corpus(Path(args.corpus))[: args.documents]
    passages = [p for d in docs for p in split_passages(d, encoder.count_tokens, encoder.max_tokens)]
    texts = [w.text for w in make_windows(passages, encoder.count_tokens, encoder.max_tokens, False)]
    texts += [p.text[a:b] for p in passages for a, b in p.sentences]
    for label, batch in (
        ("corpus order", texts),
        ("longest first", sorted(texts, key=len, reverse=True)),
    ) * args.repeat:
        c0, w0 = time.process_time(), time.perf_counter()
        encoder.encode(batch, settings.batch_size)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        emit(
            {
                "order": label,
                "texts": len(batch),
                "threads": args.threads,
                "wall_s": round(wall, 1),
                "cpu_s": round(cpu, 1),
                "texts_per_wall_s": round(len(batch) / wall, 1),
                "texts_per_cpu_s": round(len(batch) / cpu, 1),
            }
        )


def search_threads(args: argparse.Namespace) -> None:
    """FAISS search time over a built index with one OpenMP thread and with several, alternating, in one run."""
    import faiss

    from qa_service.index import load_index
    from qa_service.settings import Settings

    settings = Settings.from_env(index_dir=Path(args.index))
    data = load_index(settings.index_dir, settings)
    queries = np.asarray(data.window_vectors[: args.queries])
    results: dict[int, list[float]] = {}
    for _ in range(args.repeat):
        for threads in (args.threads, 1):
            faiss.omp_set_num_threads(threads)
            for q in queries:
                started = time.perf_counter()
                data.vectors.search(q, 400)
                results.setdefault(threads, []).append((time.perf_counter() - started) * 1000)
    for threads, times in results.items():
        emit(
            {
                "faiss_threads": threads,
                "vectors": data.vectors.size,
                "searches": len(times),
                "wall_median_ms": round(statistics.median(times), 2),
                "wall_p99_ms": round(_pct(times, 99), 2),
            }
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("real", help="the 415-statement corpus")
    r.add_argument("--source", required=True)
    r.add_argument("--out", default="/tmp/ungd")
    r.add_argument("--index", default="/tmp/ungd-index")
    r.add_argument("--threads", type=int, default=2, help="torch threads for embedding")
    r.add_argument("--repeat", type=int, default=3)
    r.add_argument("--no-fresh", dest="fresh", action="store_false", help="reuse the embeddings of an existing build")
    s = sub.add_parser("synthetic", help="synthetic vectors, flat vs IVF")
    s.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    s.add_argument("--flat-sizes", type=int, nargs="*", default=[], help="only time exact search at these sizes")
    s.add_argument("--queries", type=int, default=200)
    s.add_argument("--nprobes", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    s.add_argument("--centres", default="", help="an index folder whose window vectors serve as cluster centres")
    s.add_argument("--spread", type=float, default=0.5, help="noise around each centre (0.5: cosine ~0.9)")
    s.add_argument("--build-threads", type=int, default=2)
    e = sub.add_parser("embed-order", help="embedding speed: corpus order vs longest first")
    e.add_argument("--corpus", default="/tmp/ungd")
    e.add_argument("--documents", type=int, default=10)
    e.add_argument("--threads", type=int, default=2)
    e.add_argument("--repeat", type=int, default=1)
    t = sub.add_parser("search-threads", help="FAISS search on one OpenMP thread vs several")
    t.add_argument("--index", default="/tmp/ungd-index")
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--queries", type=int, default=100)
    t.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    {"real": real, "synthetic": synthetic, "embed-order": embed_order, "search-threads": search_threads}[args.command](
        args
    )


if __name__ == "__main__":
    main()
