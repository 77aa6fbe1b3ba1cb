"""The evaluation's splits and short-answer figures (qa_service/evaluation/metrics.py, report.py)."""

from __future__ import annotations

from qa_service.evaluation import evaluate, format_table, load_jsonl_set
from qa_service.evaluation.metrics import exact_match, normalise_answer, summarise_spans, token_f1

from .helpers import CORPUS, DATA


def test_squad_normalisation_exact_match_and_f1() -> None:
    assert normalise_answer("The  Ad Hoc Committee.") == "ad hoc committee"
    assert exact_match("the General Assembly", ["General Assembly"]) == 1.0
    assert exact_match("2005", ["September 16, 2005"]) == 0.0
    assert round(token_f1("September 16", ["September 16, 2005"]), 3) == 0.8
    assert token_f1("Almaty", ["London"]) == 0.0


def test_share_given_and_precision() -> None:
    report = summarise_spans([("18", ["18"]), (None, ["8"]), ("Iraq", ["Iraq, India and Turkey"]), ("x", ["y"])])
    assert (report.questions, report.given) == (4, 3)
    assert report.exact == 0.25 and report.precision == 1 / 3
    assert report.to_json()["share_given"] == 0.75


def test_both_splits_and_the_short_answers_are_reported(retriever) -> None:
    qset = load_jsonl_set(DATA / "statement_factoid_questions.jsonl", CORPUS, [DATA / "statement_near_miss.jsonl"])
    report = evaluate(retriever, qset, ("full",))
    assert set(report.splits) == {"tune", "held_out"}
    assert sum(m.questions for m in report.splits.values()) == len(qset.questions)
    assert set(report.short_answers) == {"all", "tune", "held_out"}
    assert report.split_abstention["held_out"].out_of_scope == 8
    data = report.to_json()
    assert data["short_answers"]["held_out"]["questions"] == 11
    table = format_table([report])
    assert "| held_out (11 q) |" in table and "spans given" in table
