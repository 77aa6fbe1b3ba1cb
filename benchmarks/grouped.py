"""Plain vs grouped answers (``group_by_document``), in-process, over the index the settings name.

    # The shipped statement (its questions), then the 415 UN statements (their question set):
    python benchmarks/grouped.py
    qa-service import-ungd ../shared/datasets/un_general_debate_subset --out /tmp/ungd --no-build
    QA_CORPUS_DIR=/tmp/ungd QA_INDEX_DIR=/tmp/ungd-index qa-service build
    QA_CORPUS_DIR=/tmp/ungd QA_INDEX_DIR=/tmp/ungd-index python benchmarks/grouped.py \
        --questions tests/data/ungd_questions.jsonl

Each question is asked plain and grouped, alternately, ``--rounds`` times, with the encoder's question
cache off (every ask embeds its question), so that both see the same machine load. Prints the p50 and p90
of each and the ratio grouped / plain, as JSON. The index must exist (``qa-service build``); nothing is
built here.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa_service.encoders import make_encoder  # noqa: E402
from qa_service.index import load_fresh_index  # noqa: E402
from qa_service.ranking import RankingParams, Retriever  # noqa: E402
from qa_service.settings import Settings  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of ``values`` fall (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    """Measure and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=Path, default=ROOT / "tests" / "data" / "statement_questions.jsonl")
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    settings = Settings.from_env()
    encoder = make_encoder(settings, cache_size=0)
    encoder.warm_up()
    index = load_fresh_index(settings, encoder)
    retriever = Retriever(index, encoder, RankingParams.from_settings(settings))
    questions = [json.loads(line)["question"] for line in args.questions.read_text().splitlines() if line.strip()]

    times: dict[str, list[float]] = {"plain": [], "grouped": []}
    for question in questions:  # warm-up: the first asks of a process are slower
        retriever.ask(question, args.top_k)
        retriever.ask(question, args.top_k, group_by_document=True)
    for _ in range(args.rounds):
        for question in questions:
            for name, grouped in (("plain", False), ("grouped", True)):
                started = time.perf_counter()
                retriever.ask(question, args.top_k, group_by_document=grouped)
                times[name].append((time.perf_counter() - started) * 1000)

    plain, grouped = statistics.median(times["plain"]), statistics.median(times["grouped"])
    report = {
        "corpus": str(settings.corpus_dir),
        "documents": index.manifest.documents,
        "passages": index.manifest.passages,
        "encoder": settings.encoder,
        "questions": len(questions),
        "asks_each": len(times["plain"]),
        "top_k": args.top_k,
        "plain_p50_ms": round(plain, 2),
        "plain_p90_ms": round(percentile(times["plain"], 0.9), 2),
        "grouped_p50_ms": round(grouped, 2),
        "grouped_p90_ms": round(percentile(times["grouped"], 0.9), 2),
        "grouped_over_plain": round(grouped / plain, 2),
    }
    index.vectors.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
