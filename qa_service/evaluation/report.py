"""The evaluation's output: a Markdown table of every set's figures."""

from __future__ import annotations

from collections.abc import Sequence

from .metrics import CUTOFFS, Report

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
        for split, modes in report.splits.items():
            for m in modes:
                cells = " | ".join(f"{m.recall[k]:.3f}" for k in CUTOFFS)
                label = f"{report.name} [{split}] ({m.questions} q)"
                lines.append(f"| {label} | {_label(m.mode)} | {cells} | {m.mrr:.3f} |")
    lines += ["", "| set | out-of-scope flagged no_answer | answerable flagged no_answer |", "|---|---|---|"]
    for report in reports:
        a = report.abstention
        oos = "—" if a.out_of_scope_flagged is None else f"{a.out_of_scope_flagged:.3f} ({a.out_of_scope} q)"
        if a.by_kind:
            oos += "; " + ", ".join(f"{k} {f / n:.3f} ({n} q)" for k, (f, n) in sorted(a.by_kind.items()))
        lines.append(f"| {report.name} | {oos} | {a.answerable_flagged:.3f} ({a.answerable} q) |")
    return "\n".join(lines)
