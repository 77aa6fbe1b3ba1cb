"""Does query expansion help questions that say what the text says in other words? The full ranking
(``Retriever.ask``, as the API answers) with each variant of the expansion knobs of ``RankingParams``
(``qa_service/ranking/expansion.py``), question by question, with the default encoder.

Variants: ``NAME=param:value,param:value`` separated by ``;`` (the first is the reference; ``base=`` is the
shipped parameters). Sets: the statement's question sets (statement with its out-of-scope and near-miss
questions, structure, factoid, top-3), the UN General Debate set over its imported statements (``--ungd``,
when the folder exists), ClapNQ dev and SQuAD dev (all of it unless ``--squad-limit``). For each set, split
and variant: recall@1 and @3, out-of-scope questions flagged, recall@1's paired difference against the
reference with its bootstrap 95% interval, and the median time of ``ask`` per question and its ratio to the
reference's (the variants of one question run back to back after one untimed run, so load changes and
caches touch them alike; the corpus words the neighbours embed are embedded before, and timed apart).
Questions are embedded once, in batches, as ``qa-service eval`` does; indexes are cached like its.
``--changed`` lists the questions whose rank@1 changes; ``--show-neighbours`` prints (to stderr) each tune
question's words the corpus lacks and the stems each neighbours variant adds for them.

    PYTHONPATH=. .venv/bin/python benchmarks/expansion.py --changed
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from encoder_quality import hits, paired_interval  # noqa: E402
from stemming import question_sets  # noqa: E402

from qa_service.encoders import make_encoder  # noqa: E402
from qa_service.evaluation import (  # noqa: E402
    PrecomputedQueries,
    QuestionSet,
    first_hit,
    prepare_index,
    resolve_gold,
)
from qa_service.ranking import RankingParams, Retriever  # noqa: E402
from qa_service.settings import Settings  # noqa: E402

DEFAULT_VARIANTS = (
    "base=;"
    "rocchio-0.3=feedback_passages:3,feedback_dense:0.3;"
    "rocchio-0.6=feedback_passages:3,feedback_dense:0.6;"
    "terms-5=feedback_passages:3,feedback_terms:5,feedback_term_weight:0.3;"
    "terms-10=feedback_passages:3,feedback_terms:10,feedback_term_weight:0.5;"
    "reason-0.5=reason_sentence_weight:0.5;"
    "reason-1.0=reason_sentence_weight:1.0;"
    "neighbours=neighbour_weight:0.5,neighbour_similarity:0.5,neighbour_count:3;"
    "neighbours-hub=neighbour_weight:1.0,neighbour_similarity:0.15,neighbour_count:3,neighbour_hubness:1.0"
)


def parse_variants(spec: str, params: RankingParams) -> dict[str, RankingParams]:
    """``NAME=param:value,...;...`` as named parameters (typed like the defaults)."""
    out = {}
    for item in filter(None, (s.strip() for s in spec.split(";"))):
        name, _, body = item.partition("=")
        overrides = [pair.replace(":", "=", 1) for pair in body.split(",") if pair]
        variant = RankingParams.from_settings(Settings.from_env(log_level="warning"), overrides)
        given = {pair.partition("=")[0].strip() for pair in overrides}
        out[name] = dataclasses.replace(params, **{f: getattr(variant, f) for f in given})
    return out


def show(qset: QuestionSet, retriever: Retriever, variants: dict[str, RankingParams]) -> None:
    """Each tune question's words the corpus lacks and what each neighbours variant adds for them."""
    for q in qset.questions:
        if q.split == "held_out":
            continue
        missing = retriever.word_neighbours().missing(q.text, retriever.lexical)
        if not missing:
            continue
        print(f"{qset.name}: {q.text}  missing: {', '.join(missing)}", file=sys.stderr)
        for name, p in variants.items():
            if p.neighbour_weight > 0:
                added = retriever.word_neighbours().expand(
                    q.text, retriever.lexical, p.neighbour_similarity, p.neighbour_count, p.neighbour_hubness
                )
                print(f"    {name}: {', '.join(f'{t} {c:.2f}' for t, c in added) or '-'}", file=sys.stderr)


def run(
    qset: QuestionSet, variants: dict[str, RankingParams], cache: Path, show_neighbours: bool = False
) -> dict[str, dict]:
    """Ranks, out-of-scope flags and ``ask`` times of every question with each variant."""
    settings = Settings.from_env(log_level="warning")
    encoder = make_encoder(settings, cache_size=0, batch_work=True)
    index = prepare_index(qset, settings, encoder, cache)
    queries = PrecomputedQueries(encoder, [q.text for q in qset.questions] + qset.out_of_scope)
    base = Retriever(index, queries, next(iter(variants.values())))
    retrievers = {name: base.with_params(p) for name, p in variants.items()}
    gold = resolve_gold(qset, base.passages)
    out: dict[str, dict] = {name: {"ranks": [], "flagged": [], "ms": []} for name in variants}
    if show_neighbours:
        show(qset, base, variants)
    if any(p.neighbour_weight > 0 for p in variants.values()):  # built once, shared by the copies
        started = time.perf_counter()
        words = len(base.word_neighbours().words)
        took = time.perf_counter() - started
        print(f"{qset.name}: {words} corpus words embedded in {took:.1f} s", file=sys.stderr, flush=True)
    for q, g in zip(qset.questions, gold):
        base.ask(q.text, 10, "full", q.filters)  # the passages' cached terms, warm for every variant alike
        for name, retriever in retrievers.items():
            started = time.perf_counter()
            result = retriever.ask(q.text, 10, "full", q.filters)
            out[name]["ms"].append((time.perf_counter() - started) * 1000)
            out[name]["ranks"].append(first_hit([a.passage_id for a in result.answers], g))
    for question in qset.out_of_scope:
        for name, retriever in retrievers.items():
            out[name]["flagged"].append(retriever.ask(question, 10).no_answer)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--ungd", type=Path, default=Path("/tmp/ungd-corpus"), help="imported UNGD statements")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS, help="reference first")
    parser.add_argument("--squad-limit", type=int, default=0, help="SQuAD questions sampled (0: all)")
    parser.add_argument("--sets", default="", help="only these sets (comma-separated names)")
    parser.add_argument("--changed", action="store_true", help="list the questions whose rank@1 changes")
    parser.add_argument(
        "--show-neighbours", action="store_true", help="print each tune question's missing words and their neighbours"
    )
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".eval-cache")
    parser.add_argument("--json", type=Path, default=ROOT / ".bench-results" / "expansion.json")
    args = parser.parse_args()
    variants = parse_variants(args.variants, RankingParams.from_settings(Settings.from_env(log_level="warning")))
    names = list(variants)
    wanted = {n for n in args.sets.split(",") if n}
    lines = [
        f"| set | split | variant | R@1 | R@3 | ΔR@1 vs {names[0]}, points [95% CI] | out-of-scope flagged "
        "| ask ms (median) | time ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    changed = []
    results: dict = {}
    for qset in question_sets(args.datasets, args.squad_limit or None, args.ungd):
        if wanted and qset.name not in wanted:
            continue
        by_variant = run(qset, variants, args.cache_dir, args.show_neighbours)
        results[qset.name] = by_variant
        reference = by_variant[names[0]]
        splits = [q.split for q in qset.questions]
        oos_splits = qset.out_of_scope_splits or [""] * len(qset.out_of_scope)
        for split in ["all"] + sorted({s for s in splits if s}):
            pick = [i for i, s in enumerate(splits) if split == "all" or s == split]
            oos_pick = [i for i, s in enumerate(oos_splits) if split == "all" or s == split]
            for name in names:
                r = by_variant[name]
                ranks = [r["ranks"][i] for i in pick]
                cells = [f"{hits(ranks, 1).mean():.4f}", f"{hits(ranks, 3).mean():.4f}"]
                if name == names[0]:
                    cells.append("reference")
                else:
                    mean, low, high = paired_interval(hits([reference["ranks"][i] for i in pick], 1), hits(ranks, 1))
                    cells.append(f"{mean:+.2f} [{low:+.2f}, {high:+.2f}]")
                flags = [r["flagged"][i] for i in oos_pick]
                cells.append(f"{sum(flags)}/{len(flags)}" if flags else "—")
                ms = np.median([r["ms"][i] for i in pick])
                cells.append(f"{ms:.2f}")
                cells.append(f"{ms / np.median([reference['ms'][i] for i in pick]):.2f}")
                lines.append(f"| {qset.name} ({len(pick)} q) | {split} | {name} | " + " | ".join(cells) + " |")
        for name in names[1:]:
            r = by_variant[name]
            for i, q in enumerate(qset.questions):
                before, after = reference["ranks"][i], r["ranks"][i]
                if (before == 1) != (after == 1):
                    changed.append(f"{qset.name} [{q.split or '-'}] {name}: rank {before} → {after}: {q.text}")
            for i, q in enumerate(qset.out_of_scope):
                if reference["flagged"][i] != r["flagged"][i]:
                    changed.append(
                        f"{qset.name} out-of-scope {name}: flagged {reference['flagged'][i]} → {r['flagged'][i]}: {q}"
                    )
        print(f"{qset.name}: done", file=sys.stderr, flush=True)
    print("\n".join(lines))
    if args.changed:
        print("\n".join(changed) or "no question changes at rank 1")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
