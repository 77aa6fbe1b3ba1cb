"""Which stems should the lexical side use? The full ranking (``Retriever.ask``, as the API answers) with each
stemming of ``qa_service/ranking/bm25.py`` (``STEMMINGS``; the ``acronyms`` ranking parameter 0 unless
``NAME+acronyms``: 1, a spelling the corpus gives an acronym also counts as the acronym; ``NAME+acronyms-both``: 2,
the acronym as its spelling too) and each encoder, question by question.

Sets: the statement's question sets (the statement questions with the out-of-scope and near-miss ones, the
structure, factoid and top-3 sets, each by split where it has them) and, when present, ClapNQ dev and a
seeded sample of SQuAD dev. For each set, split, encoder and stemming: recall@1 and @3 and the out-of-scope
questions flagged, and recall@1's paired difference against the first stemming named with its bootstrap 95%
interval. Questions are embedded one at a time, as the service embeds them; indexes are cached like
``qa-service eval``'s (the stems do not change the build). ``--changed`` lists the questions whose rank@1
changes.

    .venv/bin/python benchmarks/stemming.py --encoders onnx,onnx-int8 --squad-limit 2000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from encoder_quality import hits, paired_interval  # noqa: E402

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
from qa_service.ranking.bm25 import STEMMINGS, use_stemming  # noqa: E402
from qa_service.settings import Settings  # noqa: E402

DATA = ROOT / "tests" / "data"


def question_sets(datasets: Path, squad_limit: int | None, ungd: Path | None = None) -> list[QuestionSet]:
    """The statement's sets, the UN statements' set when ``ungd`` (their imported corpus) is given and
    present, then ClapNQ dev (all of it) and SQuAD dev (sampled) when present."""
    corpus = ROOT / "corpus"
    sets = [
        load_jsonl_set(
            DATA / "statement_questions.jsonl",
            corpus,
            [DATA / "statement_out_of_scope.jsonl", DATA / "statement_near_miss.jsonl"],
            "statement",
        ),
        load_jsonl_set(DATA / "statement_structure_questions.jsonl", corpus, name="structure"),
        load_jsonl_set(DATA / "statement_factoid_questions.jsonl", corpus, name="factoid"),
        load_jsonl_set(DATA / "statement_top3_questions.jsonl", corpus, name="top3"),
    ]
    if ungd is not None and ungd.is_dir():
        sets.append(load_jsonl_set(DATA / "ungd_questions.jsonl", ungd, name="ungd_questions"))
    if (datasets / "clapnq_dev").is_dir():
        sets.append(load_clapnq(datasets / "clapnq_dev"))
    if (datasets / "squad_v1.1_dev").is_dir():
        sets.append(load_squad(datasets / "squad_v1.1_dev").sample(squad_limit))
    return sets


class _Queries:
    """The serving encoder with each question embedded once, one at a time (as the service does)."""

    def __init__(self, encoder, questions: list[str]) -> None:
        self._encoder = encoder
        self._vectors = {q: encoder.encode_query(q) for q in dict.fromkeys(questions)}

    def __getattr__(self, name: str):
        return getattr(self._encoder, name)

    def encode_query(self, text: str):
        vector = self._vectors.get(text)
        return vector if vector is not None else self._encoder.encode_query(text)


def run(qset: QuestionSet, encoder_name: str, stemmings: list[str], cache: Path) -> dict[str, dict]:
    """Ranks and out-of-scope flags of every question with each stemming."""
    settings = Settings.from_env(encoder=encoder_name, log_level="warning")
    index = prepare_index(qset, settings, make_encoder(settings, cache_size=0, batch_work=True), cache)
    queries = _Queries(make_encoder(settings, cache_size=0), [q.text for q in qset.questions] + qset.out_of_scope)
    params = RankingParams.from_settings(settings)
    out = {}
    for stemming in stemmings:
        use_stemming(stemming.split("+")[0])
        acronyms = 2 if stemming.endswith("+acronyms-both") else 1 if stemming.endswith("+acronyms") else 0
        variant = dataclasses.replace(params, acronyms=acronyms)
        retriever = Retriever(index, queries, variant)
        gold = resolve_gold(qset, retriever.passages)
        ranks = [
            first_hit([a.passage_id for a in retriever.ask(q.text, 10, "full", q.filters).answers], g)
            for q, g in zip(qset.questions, gold)
        ]
        flagged = [retriever.ask(q, 10).no_answer for q in qset.out_of_scope]
        out[stemming] = {"ranks": ranks, "flagged": flagged}
    use_stemming(STEMMINGS[0])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--encoders", default="onnx,onnx-int8")
    parser.add_argument(
        "--stemmings",
        default="snowball,derivational,derivational+acronyms,derivational+acronyms-both",
        help="reference first",
    )
    parser.add_argument("--squad-limit", type=int, default=2000, help="SQuAD questions sampled (0: all)")
    parser.add_argument("--sets", default="", help="only these sets (comma-separated names)")
    parser.add_argument("--changed", action="store_true", help="list the questions whose rank@1 changes")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".eval-cache")
    parser.add_argument("--json", type=Path, default=ROOT / ".bench-results" / "stemming.json")
    args = parser.parse_args()
    encoders = [n for n in args.encoders.split(",") if n]
    stemmings = [n for n in args.stemmings.split(",") if n]
    wanted = {n for n in args.sets.split(",") if n}
    lines = [
        "| set | split | encoder | stemming | R@1 | R@3 | ΔR@1 vs " + stemmings[0] + ", points [95% CI] | "
        "out-of-scope flagged |",
        "|---|---|---|---|---|---|---|---|",
    ]
    changed = []
    results: dict = {}
    for qset in question_sets(args.datasets, args.squad_limit or None):
        if wanted and qset.name not in wanted:
            continue
        splits = [q.split for q in qset.questions]
        oos_splits = qset.out_of_scope_splits or [""] * len(qset.out_of_scope)
        for encoder_name in encoders:
            by_stemming = run(qset, encoder_name, stemmings, args.cache_dir)
            results.setdefault(qset.name, {})[encoder_name] = by_stemming
            reference = by_stemming[stemmings[0]]
            for split in ["all"] + sorted({s for s in splits if s}):
                pick = [i for i, s in enumerate(splits) if split == "all" or s == split]
                oos_pick = [i for i, s in enumerate(oos_splits) if split == "all" or s == split]
                for stemming in stemmings:
                    r = by_stemming[stemming]
                    ranks = [r["ranks"][i] for i in pick]
                    cells = [f"{hits(ranks, 1).mean():.4f}", f"{hits(ranks, 3).mean():.4f}"]
                    if stemming == stemmings[0]:
                        cells.append("reference")
                    else:
                        base = [reference["ranks"][i] for i in pick]
                        mean, low, high = paired_interval(hits(base, 1), hits(ranks, 1))
                        cells.append(f"{mean:+.2f} [{low:+.2f}, {high:+.2f}]")
                    flags = [r["flagged"][i] for i in oos_pick]
                    cells.append(f"{sum(flags)}/{len(flags)}" if flags else "—")
                    label = f"{qset.name} ({len(pick)} q)"
                    lines.append(f"| {label} | {split} | {encoder_name} | {stemming} | " + " | ".join(cells) + " |")
            for stemming in stemmings[1:]:
                r = by_stemming[stemming]
                for i, q in enumerate(qset.questions):
                    before, after = reference["ranks"][i], r["ranks"][i]
                    if (before == 1) != (after == 1):
                        changed.append(
                            f"{qset.name} [{q.split or '-'}] {encoder_name} {stemming}: "
                            f"rank {before} → {after}: {q.text}"
                        )
                for i, q in enumerate(qset.out_of_scope):
                    if reference["flagged"][i] != r["flagged"][i]:
                        changed.append(
                            f"{qset.name} out-of-scope {encoder_name} {stemming}: "
                            f"flagged {reference['flagged'][i]} → {r['flagged'][i]}: {q}"
                        )
        print(f"{qset.name}: done", file=sys.stderr, flush=True)
    print("\n".join(lines))
    if args.changed:
        print("\n".join(changed) or "no question changes at rank 1")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
