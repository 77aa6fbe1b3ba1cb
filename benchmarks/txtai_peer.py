"""The peer for the benchmark: txtai on the same passages and questions, with the same model folder.

Runs inside its own environment (``.venv-txtai``; see benchmarks/README.md), started by bench.py:

    .venv-txtai/bin/python benchmarks/txtai_peer.py DATA.json MODEL_FOLDER

DATA.json holds ``{"passages": [...], "questions": [...]}``. Prints one JSON line: for each configuration
(dense; hybrid = dense + BM25, txtai's default weights) the index time, the search latency of one question
(median, p95, same number of rounds as ours) and the top 3 passage ids per question (bench.py scores them
with the same gold rule as ours). One torch thread, as one of our workers has.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as fh:
        data = json.load(fh)
    model = sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    import torch
    from txtai import Embeddings

    torch.set_num_threads(1)
    passages, questions = data["passages"], data["questions"]
    from importlib.metadata import version

    out = {"version": version("txtai"), "threads": 1, "passages": len(passages), "configs": {}}
    for name, config in {"dense": {"path": model}, "hybrid": {"path": model, "hybrid": True}}.items():
        embeddings = Embeddings(config)
        t0 = time.perf_counter()
        embeddings.index([(i, text, None) for i, text in enumerate(passages)])
        index_s = time.perf_counter() - t0
        for q in questions[:5]:
            embeddings.search(q, 3)
        times = []
        for _ in range(rounds):
            for q in questions:
                t0 = time.perf_counter()
                embeddings.search(q, 3)
                times.append((time.perf_counter() - t0) * 1000)
        tops = [[int(hit[0]) for hit in embeddings.search(q, 3)] for q in questions]
        ordered = sorted(times)
        out["configs"][name] = {
            "index_s": round(index_s, 3),
            "search_ms": {
                "median": round(statistics.median(ordered), 3),
                "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
                "n": len(ordered),
            },
            "top": tops,
        }
    out["index_s"] = out["configs"]["dense"]["index_s"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
