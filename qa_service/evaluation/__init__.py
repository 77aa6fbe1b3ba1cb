"""The evaluation harness: question sets, metrics, the no-answer calibration, and ``qa-service eval``.

It drives the ranking the way the API does (``Retriever.ask``) over indexes made by the service's own
load-or-rebuild path, so what it measures is what the service answers.
"""

from .calibration import Calibration, calibrate, collect_evidence, fit_rule
from .datasets import EvalQuestion, QuestionSet, load_clapnq, load_jsonl_set, load_question_set, load_squad, read_jsonl
from .metrics import (
    DEFAULT_MODES,
    PrecomputedQueries,
    Report,
    evaluate,
    first_hit,
    prepare_index,
    resolve_gold,
    summarise,
)
from .report import format_table
from .runner import run_cli

__all__ = [
    "DEFAULT_MODES",
    "Calibration",
    "EvalQuestion",
    "PrecomputedQueries",
    "QuestionSet",
    "Report",
    "calibrate",
    "collect_evidence",
    "evaluate",
    "first_hit",
    "fit_rule",
    "format_table",
    "load_clapnq",
    "load_jsonl_set",
    "load_question_set",
    "load_squad",
    "prepare_index",
    "read_jsonl",
    "resolve_gold",
    "run_cli",
    "summarise",
]
