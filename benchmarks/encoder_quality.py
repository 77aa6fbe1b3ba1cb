"""Does an encoder answer as well as the reference? The full ranking (``Retriever.ask``, as the API answers)
over the statement set, ClapNQ dev and all of SQuAD dev, with each encoder, question by question.

For each set and encoder: recall@1 and @3, out-of-scope questions flagged (and how many of those the
reference flags each other encoder misses); and for each encoder against the reference (the first one named):
the paired difference in recall@1 and @3 with its bootstrap 95% interval (1,000 resamples of the questions,
seeded). "Within noise" means the interval holds 0 or lies above it.
Indexes are built through the service's own load-or-rebuild path and cached in ``--cache-dir``.

    .venv/bin/python benchmarks/encoder_quality.py --datasets ../shared/datasets --encoders onnx,onnx-int8
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa_service.encoders import make_encoder  # noqa: E402
from qa_service.evaluation import (  # noqa: E402
    QuestionSet,
    first_hit,
    load_clapnq,
    load_jsonl_set,
    load_squad,
    prepare_index,
    resolve_gold,
)
from qa_service.ranking import RankingParams, Retriever  # noqa: E402
from qa_service.settings import Settings  # noqa: E402

RESAMPLES = 1000


def question_sets(datasets: Path, limit: int | None) -> list[QuestionSet]:
    """The statement set (with its out-of-scope questions) and, when present, ClapNQ dev and SQuAD dev."""
    data = ROOT / "tests" / "data"
    sets = [
        load_jsonl_set(
            data / "statement_questions.jsonl", ROOT / "corpus", data / "statement_out_of_scope.jsonl", "statement"
        )
    ]
    if (datasets / "clapnq_dev").is_dir():
        sets.append(load_clapnq(datasets / "clapnq_dev"))
    if (datasets / "squad_v1.1_dev").is_dir():
        sets.append(load_squad(datasets / "squad_v1.1_dev"))
    return [s.sample(limit) for s in sets]


def run_encoder(name: str, qset: QuestionSet, cache: Path) -> dict:
    """First-hit ranks of every question and the out-of-scope flags, with encoder ``name``."""
    settings = Settings.from_env(encoder=name, log_level="warning")
    encoder = make_encoder(settings, cache_size=0, batch_work=True)
    index = prepare_index(qset, settings, encoder, cache)
    serving = make_encoder(settings, cache_size=0)  # questions one at a time, as the service embeds them
    retriever = Retriever(index, serving, RankingParams.from_settings(settings))
    gold = resolve_gold(qset, retriever.passages)
    started = time.perf_counter()
    ranks = [
        first_hit([a.passage_id for a in retriever.ask(q.text, 10).answers], g) for q, g in zip(qset.questions, gold)
    ]
    flagged = [retriever.ask(q, 3).no_answer for q in qset.out_of_scope]
    return {"ranks": ranks, "flagged": flagged, "seconds": time.perf_counter() - started}


def hits(ranks: list[int | None], k: int) -> np.ndarray:
    return np.array([r is not None and r <= k for r in ranks], dtype=float)


def paired_interval(a: np.ndarray, b: np.ndarray, seed: int = 7) -> tuple[float, float, float]:
    """The mean of b − a in points, and the bootstrap 95% interval of that mean."""
    diff = (b - a) * 100
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(RESAMPLES, len(diff)))].mean(axis=1)
    return float(diff.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--encoders", default="onnx,onnx-int8", help="the reference first, comma-separated")
    parser.add_argument("--limit", type=int, default=None, help="at most this many questions per set (seeded)")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".eval-cache")
    parser.add_argument("--json", type=Path, default=ROOT / ".bench-results" / "encoder_quality.json")
    args = parser.parse_args()
    names = [n.strip() for n in args.encoders.split(",") if n.strip()]
    results: dict[str, dict[str, dict]] = {}
    for qset in question_sets(args.datasets, args.limit):
        results[qset.name] = {name: run_encoder(name, qset, args.cache_dir) for name in names}
        print(f"{qset.name}: done", file=sys.stderr, flush=True)
    lines = [
        "| set | encoder | R@1 | R@3 | ΔR@1 vs reference, points [95% CI] | ΔR@3 [95% CI] | out-of-scope flagged "
        "| of those the reference flags, missed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for set_name, by_encoder in results.items():
        reference = by_encoder[names[0]]
        for name in names:
            r = by_encoder[name]
            cells = [f"{hits(r['ranks'], k).mean():.4f}" for k in (1, 3)]
            for k in (1, 3):
                if name == names[0]:
                    cells.append("reference")
                else:
                    mean, low, high = paired_interval(hits(reference["ranks"], k), hits(r["ranks"], k))
                    cells.append(f"{mean:+.2f} [{low:+.2f}, {high:+.2f}]")
            oos = f"{sum(r['flagged'])}/{len(r['flagged'])}" if r["flagged"] else "—"
            missed = sum(ref and not own for ref, own in zip(reference["flagged"], r["flagged"]))
            new_misses = "reference" if name == names[0] else str(missed) if r["flagged"] else "—"
            lines.append(
                f"| {set_name} ({len(r['ranks'])} q) | {name} | " + " | ".join(cells) + f" | {oos} | {new_misses} |"
            )
    print("\n".join(lines))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
