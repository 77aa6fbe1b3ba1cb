"""``qa-service eval``: load each question set, index it, evaluate it, optionally calibrate no_answer."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from ..encoders import make_encoder
from ..index.progress import BuildProgress
from ..ranking import RankingParams, Retriever
from ..settings import Settings
from .calibration import Calibration, calibrate, collect_evidence
from .datasets import load_question_set
from .metrics import DEFAULT_MODES, PrecomputedQueries, evaluate, prepare_index
from .report import format_table

DEFAULT_SET = Path("tests/data/statement_questions.jsonl")
DEFAULT_OUT_OF_SCOPE = Path("tests/data/statement_out_of_scope.jsonl")
#: Without SETS, these are measured too: the speech as a speech and names said differently; factoids
#: with short answers; with the near-miss out-of-scope questions beside the statement set's.
DEFAULT_EXTRA_SETS = (
    Path("tests/data/statement_structure_questions.jsonl"),
    Path("tests/data/statement_factoid_questions.jsonl"),
)
DEFAULT_NEAR_MISS = Path("tests/data/statement_near_miss.jsonl")


def run_cli(
    settings: Settings,
    specs: Sequence[str],
    out_of_scope: Sequence[str] | None,
    limit: int | None,
    modes: Sequence[str],
    overrides: Sequence[str],
    cache_dir: Path,
    misses: int = 0,
    calibrate_rule: bool = False,
    titles: bool | None = None,
    held_out_misses: bool = False,
) -> tuple[str, dict]:
    """What ``qa-service eval`` does: load each set, index it, evaluate it; the table and the JSON."""
    params = RankingParams.from_settings(settings, overrides)
    oos_files = [Path(p) for p in out_of_scope or ()]
    extra: list[str] = []
    if not specs:
        specs = [str(DEFAULT_SET)]
        extra = [str(p) for p in DEFAULT_EXTRA_SETS if p.is_file()]
        oos_files = oos_files or [p for p in (DEFAULT_OUT_OF_SCOPE, DEFAULT_NEAR_MISS) if p.is_file()]
    qsets = [load_question_set(spec, settings.corpus_dir, oos_files).sample(limit) for spec in specs]
    # The default extra sets share the statement's out-of-scope questions, counted once (with the first).
    qsets += [load_question_set(spec, settings.corpus_dir).sample(limit) for spec in extra]
    if titles is not None:
        for qset in qsets:
            qset.embed_context = titles
    # The service's encoder (QA_ENCODER), as the API embeds; set up for batches: the sets are built here.
    encoder = make_encoder(settings, cache_size=0, batch_work=True)
    reports = []
    calibrations: dict[str, Calibration] = {}
    wrong: dict[str, list] = {}
    for qset in qsets:
        progress = BuildProgress()
        index = prepare_index(qset, settings, encoder, cache_dir, progress)
        progress.close()
        queries = PrecomputedQueries(encoder, [q.text for q in qset.questions] + qset.out_of_scope, settings.batch_size)
        retriever = Retriever(index, queries, params)
        reports.append(evaluate(retriever, qset, tuple(modes) or DEFAULT_MODES))
        if calibrate_rule and qset.out_of_scope:
            calibrations[qset.name] = calibrate(
                collect_evidence(retriever, [q.text for q in qset.questions]),
                collect_evidence(retriever, qset.out_of_scope),
            )
        if misses:
            oos_splits = qset.out_of_scope_splits or [""] * len(qset.out_of_scope)
            wrong[qset.name] = [
                ("answerable flagged", q.text, e, q.split)
                for q, e in zip(qset.questions, collect_evidence(retriever, [q.text for q in qset.questions]))
                if retriever.no_answer(e)
            ] + [
                ("out-of-scope not flagged", t, e, split)
                for t, e, split in zip(qset.out_of_scope, collect_evidence(retriever, qset.out_of_scope), oos_splits)
                if not retriever.no_answer(e)
            ]
    text = format_table(reports)
    lines = [text]
    for name, c in calibrations.items():
        r = c.rule
        lines.append(
            f"\nno-answer rule fitted on {name}: dense + {r.sentence_coef}·sentence + {r.coverage_coef}·coverage "
            f"< {r.threshold}, or a name/number the corpus lacks, or no number/date where one is asked\n"
            f"  on the questions it was fitted on: out-of-scope flagged {c.out_of_scope_flagged:.3f}, "
            f"answerable flagged {c.answerable_flagged:.3f}\n"
            f"  {c.folds}-fold cross-validated: out-of-scope flagged {c.cv_out_of_scope_flagged:.3f}, "
            f"answerable flagged {c.cv_answerable_flagged:.3f}"
        )
    hidden = 0
    for name, items in wrong.items():
        shown = [item for item in items if held_out_misses or item[3] != "held_out"]
        hidden += len(items) - len(shown)
        for what, question, e, _ in shown[: 2 * misses]:
            lines.append(
                f"  {what} [{name}]: {question}  (dense {e.dense}, sentence {e.sentence}, coverage {e.coverage}, "
                f"confidence {e.confidence}, names {list(e.unknown_names)}, missing {e.missing_answer})"
            )
    for report in reports:
        shown_misses = [m for m in report.misses if held_out_misses or m["split"] != "held_out"]
        shown_spans = [m for m in report.span_misses if held_out_misses or m["split"] != "held_out"]
        hidden += len(report.misses) - len(shown_misses) + len(report.span_misses) - len(shown_spans)
        for miss in shown_misses[:misses]:
            lines.append(
                f"  miss [{report.name}] rank {miss['rank']}: {miss['question']}  gold {miss['gold']} got {miss['got']}"
            )
        for miss in shown_spans[:misses]:
            lines.append(f"  span miss [{report.name}]: {miss['question']}  got {miss['got']!r} want {miss['want']!r}")
    if misses and hidden:
        lines.append(
            f"  ({hidden} misses of held-out questions not shown: no parameter may be chosen on them; "
            "--held-out-misses shows them)"
        )
    data = {
        "params": dataclasses.asdict(params),
        "model": encoder.identity,
        "embed_context": {
            q.name: settings.embed_context if q.embed_context is None else q.embed_context for q in qsets
        },
        "limit": limit,
        "sets": [r.to_json() for r in reports],
        "calibration": {name: dataclasses.asdict(c) for name, c in calibrations.items()},
    }
    return "\n".join(lines), data
