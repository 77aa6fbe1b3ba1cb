"""A grid of ranking parameters over question sets: recall@1, recall@3 and MRR@10 of the full ranking.

Each set is indexed (cached like `qa-service eval`, under .eval-cache/) and its questions embedded once;
then every combination of the given values is evaluated through the service's retriever. Used to choose
the ranking's defaults (BENCHMARKS.md, "Ranking parameters") on the sets' tune splits: a set with splits
(ours; SQuAD and ClapNQ by `public_split`) is measured on its tune split, the mean R@1 is over those, and
the held-out splits' R@1 is printed beside them, to check a choice, not to make it. The settings
(QA_ENCODER, QA_SENTENCE_VECTORS, ...) come from the environment as for the service.

    python benchmarks/sweep.py tests/data/statement_questions.jsonl ../shared/datasets/clapnq_dev \
        --limit 2000 --grid sentence_weight=0.5,0.75 --grid centering=0.15,0.25
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa_service.encoders import make_encoder  # noqa: E402
from qa_service.evaluation import PrecomputedQueries, evaluate, load_question_set, prepare_index  # noqa: E402
from qa_service.ranking import RankingParams, Retriever  # noqa: E402
from qa_service.settings import Settings  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sets", nargs="+", help="question sets, as `qa-service eval` takes them")
    parser.add_argument("--limit", type=int, default=None, help="questions sampled per set (seeded)")
    parser.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2", help="values of one parameter")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".eval-cache")
    parser.add_argument("--json", type=Path, help="write the rows as JSON here too")
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    encoder = make_encoder(settings, cache_size=0, batch_work=True)
    names, values = [], []
    for item in args.grid:
        name, _, raw = item.partition("=")
        names.append(name)
        values.append(raw.split(","))
    prepared = []
    for spec in args.sets:
        qset = load_question_set(spec, settings.corpus_dir).sample(args.limit)
        index = prepare_index(qset, settings, encoder, args.cache_dir)
        prepared.append(
            (qset, index, PrecomputedQueries(encoder, [q.text for q in qset.questions], settings.batch_size))
        )
    rows = []
    header = " | ".join(f"{q.name} tune R@1 / R@3 / MRR" for q, _, _ in prepared)
    held_header = " | ".join(f"{q.name} held-out R@1" for q, _, _ in prepared)
    print(f"| {' | '.join(names) or 'params'} | {header} | mean tune R@1 | {held_header} |")
    for combo in itertools.product(*values):
        params = RankingParams.from_settings(settings, [f"{n}={v}" for n, v in zip(names, combo)])
        figures, held_out = [], []
        for qset, index, queries in prepared:
            report = evaluate(Retriever(index, queries, params), qset, ("full",))
            tune = report.splits.get("tune", report.modes[0])
            figures.append((tune.recall[1], tune.recall[3], tune.mrr))
            held = report.splits.get("held_out")
            held_out.append(held.recall[1] if held else None)
        mean = sum(f[0] for f in figures) / len(figures)
        rows.append(
            {
                "params": dict(zip(names, combo)),
                "sets": [q.name for q, _, _ in prepared],
                "figures": figures,
                "held_out_recall@1": held_out,
            }
        )
        cells = " | ".join(f"{r1:.3f} / {r3:.3f} / {mrr:.3f}" for r1, r3, mrr in figures)
        held_cells = " | ".join("—" if r is None else f"{r:.3f}" for r in held_out)
        print(f"| {' | '.join(combo) or 'defaults'} | {cells} | {mean:.4f} | {held_cells} |", flush=True)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "settings": {"encoder": settings.encoder, "sentence_vectors": settings.sentence_vectors},
                    "rows": rows,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
