"""Cost of role routing on a corpus of many documents: one question routed to the letterhead role (every
document's attribution passage is a letterhead) against the same question with routing off, interleaved,
same index, same run.

    .venv/bin/python benchmarks/role_routing.py --corpus /tmp/ungd-corpus --index-dir INDEX [--repeats 15]

INDEX is a built index of the corpus (e.g. the folder ``qa-service eval tests/data/ungd_questions.jsonl
--corpus /tmp/ungd-corpus`` caches under ``.eval-cache/``); it is only read.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time
from pathlib import Path

from qa_service.encoders import make_encoder
from qa_service.index import load_index
from qa_service.ranking import RankingParams, Retriever
from qa_service.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--question", default="Who spoke for France in 2024?")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    settings = Settings.from_env(corpus_dir=args.corpus, index_dir=args.index_dir, vector_store="faiss")
    encoder = make_encoder(settings)
    params = RankingParams.from_settings(settings)
    routed = Retriever(load_index(settings.index_dir, settings), encoder, params)
    plain = routed.with_params(dataclasses.replace(params, role_bonus=0.0))
    times: dict[str, list[float]] = {"routed": [], "not routed": []}
    for retriever in (routed, plain):
        retriever.ask(args.question)  # warm: the question's vector is cached, so only the ranking is timed
    for _ in range(args.repeats):
        for name, retriever in (("routed", routed), ("not routed", plain)):
            started = time.perf_counter()
            retriever.ask(args.question)
            times[name].append((time.perf_counter() - started) * 1000)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"load average {os.getloadavg()[0]:.2f}; {args.repeats} repeats; question {args.question!r}")
    for name, value in medians.items():
        print(f"  {name}: median {value:.1f} ms")
    print(f"  routed / not routed: {medians['routed'] / medians['not routed']:.2f}")


if __name__ == "__main__":
    main()
