"""Milvus against FAISS on one corpus and one question set, in one run: same top-3, and search cost.

    python benchmarks/milvus_search.py /tmp/ungd-corpus [--uri http://127.0.0.1:19530] \
        [--questions tests/data/ungd_questions.jsonl] [--index-dir DIR] [--rounds 5]

The corpus is indexed with FAISS in ``--index-dir`` (reused when fresh), then the same build is put in
Milvus (a Milvus Lite file in the index folder, or the server at ``--uri``): the embeddings are reused, only
the vector store is filled. Every question (with its filters) is asked through both retrievers: the top-3
passages must be the same. Then, for ``--rounds`` rounds, the vector search the retriever makes for each
question (same k, same filter) is timed alone in each store, and so is the whole ``ask``; the medians are
printed (the issue asks Milvus ≤ 2 × FAISS).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from qa_service.evaluation.datasets import load_jsonl_set
from qa_service.index import build_encoder, ensure_index
from qa_service.ranking import RankingParams, Retriever
from qa_service.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--uri", default="", help="a Milvus server (default: a Milvus Lite file)")
    parser.add_argument("--questions", type=Path, default=Path("tests/data/ungd_questions.jsonl"))
    parser.add_argument("--index-dir", type=Path, default=Path("/tmp/milvus-search-index"))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    settings = Settings.from_env(corpus_dir=args.corpus, index_dir=args.index_dir, rebuild="auto")
    encoder = build_encoder(settings)
    faiss_data = ensure_index(settings, encoder)
    milvus_settings = settings.replace(vector_store="milvus", milvus_uri=args.uri, milvus_collection="bench_windows")
    started = time.perf_counter()
    milvus_data = ensure_index(milvus_settings, encoder)  # reuses the embeddings: fills the collection only
    milvus_fill_s = time.perf_counter() - started
    faiss_data = ensure_index(settings, encoder)  # the FAISS build again (the Milvus one replaced it)

    params = RankingParams.from_settings(settings)
    faiss = Retriever(faiss_data, encoder, params)
    milvus = Retriever(milvus_data, encoder, params)
    questions = load_jsonl_set(args.questions, args.corpus).questions

    same, differ = 0, []
    for q in questions:
        a = [x.passage_id for x in faiss.ask(q.text, 3, filters=q.filters).answers]
        b = [x.passage_id for x in milvus.ask(q.text, 3, filters=q.filters).answers]
        same += a == b
        if a != b:
            differ.append(q.text)

    k = faiss.window_hits(params.candidates)  # as the retriever asks
    vectors = {q.text: encoder.encode_query(q.text) for q in questions}
    timings: dict[str, list[float]] = {"faiss_search": [], "milvus_search": [], "faiss_ask": [], "milvus_ask": []}
    for _ in range(args.rounds):
        for q in questions:
            for name, data, retriever in (("faiss", faiss_data, faiss), ("milvus", milvus_data, milvus)):
                started = time.perf_counter()
                data.vectors.search(vectors[q.text], k, q.filters)
                timings[f"{name}_search"].append(time.perf_counter() - started)
                started = time.perf_counter()
                retriever.ask(q.text, 3, filters=q.filters)
                timings[f"{name}_ask"].append(time.perf_counter() - started)
    p50 = {name: round(1000 * statistics.median(values), 2) for name, values in timings.items()}
    result = {
        "milvus": args.uri or "Milvus Lite (file)",
        "windows": faiss_data.manifest.windows,
        "questions": len(questions),
        "same_top3": f"{same}/{len(questions)}",
        "differ": differ,
        "k_per_search": k,
        "p50_ms": p50,
        "milvus_over_faiss_search": round(p50["milvus_search"] / p50["faiss_search"], 2),
        "milvus_over_faiss_ask": round(p50["milvus_ask"] / p50["faiss_ask"], 2),
        "milvus_fill_s": round(milvus_fill_s, 1),
        "load_average": os.getloadavg(),
    }
    milvus_data.vectors.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
