"""The golden answers: every question of tests/data answered by the real service, compared exactly
with tests/data/golden_answers.json (ranked passage numbers, rounded scores, highlight spans, no_answer).

It guards refactoring: a change that is not meant to change the ranking must leave this file as it is.
When the ranking is meant to change, regenerate it on purpose and say why in the commit::

    QA_REGENERATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import json
import os

import pytest

from .helpers import DATA, read_jsonl

GOLDEN = DATA / "golden_answers.json"
SETS = ("statement_questions.jsonl", "statement_top3_questions.jsonl", "statement_out_of_scope.jsonl")
TOP_K = 5


def _answers(retriever) -> dict:
    out: dict[str, list] = {}
    for name in SETS:
        rows = []
        for row in read_jsonl(DATA / name):
            result = retriever.ask(row["question"], TOP_K)
            rows.append(
                {
                    "question": row["question"],
                    "no_answer": result.no_answer,
                    "answers": [
                        [a.passage.number, round(a.score, 3), a.highlight.start, a.highlight.end]
                        for a in result.answers
                    ],
                }
            )
        out[name] = rows
    return out


def test_answers_match_the_golden_file(retriever, settings) -> None:
    answers = {"encoder": settings.encoder, "sets": _answers(retriever)}
    if os.environ.get("QA_REGENERATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(answers, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        pytest.skip("golden file regenerated")
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    if expected["encoder"] != settings.encoder:
        pytest.skip(f"the golden file was recorded with QA_ENCODER={expected['encoder']}")
    for name in SETS:
        for got, want in zip(answers["sets"][name], expected["sets"][name], strict=True):
            assert got == want, f"{name}: {want['question']!r}"
