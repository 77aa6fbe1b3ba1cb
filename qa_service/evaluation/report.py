"""The evaluation's output: a Markdown table of every set's figures."""

from __future__ import annotations

from collections.abc import Sequence

from .metrics import CUTOFFS, READING_PREFIXES, AbstentionReport, Report

MODE_LABELS = {
    "full": "final ranking (full)",
    "fusion": "simple fusion (min-max, convex)",
    "dense": "dense only",
    "bm25": "BM25 only",
}


def _label(name: str) -> str:
    base, _, weight = name.partition("@")
    label = MODE_LABELS.get(base, base)
    return label.replace("convex", f"convex {weight}") if weight else label


def format_table(reports: Sequence[Report]) -> str:
    """A Markdown table of every report: one row per set and mode, then the abstention figures."""
    head = "| set | ranking | " + " | ".join(f"R@{k}" for k in CUTOFFS) + " | MRR@10 |"
    lines = [head, "|" + "---|" * (3 + len(CUTOFFS))]
    for report in reports:
        for m in report.modes:
            cells = " | ".join(f"{m.recall[k]:.3f}" for k in CUTOFFS)
            label = f"{report.name} ({m.questions} q, {report.passages} passages)"
            lines.append(f"| {label} | {_label(m.mode)} | {cells} | {m.mrr:.3f} |")
    lines += ["", "| set | out-of-scope flagged no_answer | answerable flagged no_answer |", "|---|---|---|"]
    for report in reports:
        a = report.abstention
        oos = "—" if a.out_of_scope_flagged is None else f"{a.out_of_scope_flagged:.3f} ({a.out_of_scope} q)"
        if a.by_kind:
            oos += "; " + ", ".join(f"{k} {f / n:.3f} ({n} q)" for k, (f, n) in sorted(a.by_kind.items()))
        lines.append(f"| {report.name} | {oos} | {a.answerable_flagged:.3f} ({a.answerable} q) |")
        for split, sa in report.split_abstention.items():
            oos = "—" if sa.out_of_scope_flagged is None else f"{sa.out_of_scope_flagged:.3f} ({sa.out_of_scope} q)"
            lines.append(f"| {report.name} [{split}] | {oos} | {sa.answerable_flagged:.3f} ({sa.answerable} q) |")
    pooled = pool_abstention(reports)
    if pooled is not None and len([r for r in reports if r.abstention.answerable]) > 1:
        oos = (
            "—"
            if pooled.out_of_scope_flagged is None
            else f"{pooled.out_of_scope_flagged:.3f} ({pooled.out_of_scope} q)"
        )
        lines.append(f"| all sets pooled | {oos} | {pooled.answerable_flagged:.3f} ({pooled.answerable} q) |")
    split_rows = [(r, name, m) for r in reports for name, m in r.splits.items()]
    if split_rows:
        lines += ["", "| set | split (final ranking) | " + " | ".join(f"R@{k}" for k in CUTOFFS) + " | MRR@10 |"]
        lines.append("|" + "---|" * (3 + len(CUTOFFS)))
        for report, name, m in split_rows:
            cells = " | ".join(f"{m.recall[k]:.3f}" for k in CUTOFFS)
            lines.append(f"| {report.name} | {name} ({m.questions} q) | {cells} | {m.mrr:.3f} |")
    kind_rows = [(r, name, m) for r in reports for name, m in r.kinds.items()]
    if kind_rows:
        lines += [
            "",
            "| set | kind of question (final ranking) | " + " | ".join(f"R@{k}" for k in CUTOFFS) + " | MRR@10 |",
        ]
        lines.append("|" + "---|" * (3 + len(CUTOFFS)))
        for report, name, m in kind_rows:
            cells = " | ".join(f"{m.recall[k]:.3f}" for k in CUTOFFS)
            lines.append(f"| {report.name} | {name} ({m.questions} q) | {cells} | {m.mrr:.3f} |")
    span_rows = [(r.name, name, s) for r in reports for name, s in r.short_answers.items()]
    span_rows += [
        (r.name, "given gold passage: " + "/".join(READING_PREFIXES), r.reading) for r in reports if r.reading
    ]
    if span_rows:
        lines += [
            "",
            "| set | short answers | exact match | F1 | spans given | precision of spans given (EM) "
            "| F1 of spans given |",
            "|---|---|---|---|---|---|---|",
        ]
        for set_name, name, s in span_rows:
            precision = "—" if s.precision is None else f"{s.precision:.3f}"
            f1_given = "—" if not s.given else f"{s.f1_given:.3f}"
            lines.append(
                f"| {set_name} | {name} ({s.questions} q) | {s.exact:.3f} | {s.f1:.3f} | {s.share_given:.3f} "
                f"| {precision} | {f1_given} |"
            )
    return "\n".join(lines)


def pool_abstention(reports: Sequence[Report]) -> AbstentionReport | None:
    """The no-answer figures of several sets pooled (every answerable and out-of-scope question once)."""
    answerable = sum(r.abstention.answerable for r in reports)
    if not answerable:
        return None
    flagged = sum(r.abstention.answerable_flagged * r.abstention.answerable for r in reports)
    oos = sum(r.abstention.out_of_scope for r in reports)
    oos_flagged = sum((r.abstention.out_of_scope_flagged or 0) * r.abstention.out_of_scope for r in reports)
    return AbstentionReport(oos_flagged / oos if oos else None, flagged / answerable, oos, answerable)
