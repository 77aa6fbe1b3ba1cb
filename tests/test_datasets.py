"""The JSONL question format's optional fields (document, filters, split, kind) and the UNGD set's shape."""

from __future__ import annotations

import json

import pytest

from qa_service.corpus import Passage
from qa_service.evaluation import EvalQuestion, QuestionSet, load_jsonl_set, resolve_gold
from qa_service.evaluation.datasets import parse_filters
from qa_service.index import Filter

from .helpers import DATA, read_jsonl

UNGD = DATA / "ungd_questions.jsonl"


def _passage(doc_id: str, number: int, text: str) -> Passage:
    return Passage(doc_id, doc_id, number, text, 1, 1, 0, len(text), ((0, len(text)),))


def test_document_filters_split_and_kind_are_read(tmp_path):
    path = tmp_path / "set.jsonl"
    rows = [
        {
            "question": "q1",
            "gold": ["death penalty"],
            "document": "KAZ_79_2024",
            "split": "held_out",
            "kind": "content",
        },
        {"question": "q2", "gold": "energy", "filters": {"country": ["kaz"], "year_from": 2000, "year_to": 2010}},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    qset = load_jsonl_set(path, tmp_path)
    first, second = qset.questions
    assert (first.document, first.split, first.kind, first.filters) == ("KAZ_79_2024", "held_out", "content", None)
    assert second.filters == Filter(countries=frozenset({"KAZ"}), year_from=2000, year_to=2010)
    assert second.gold_texts == ("energy",)


@pytest.mark.parametrize(
    "raw", [{"countries": ["KAZ"]}, {"year_from": "2000"}], ids=["unknown field", "year not a number"]
)
def test_bad_filters_are_refused_with_the_row(raw):
    with pytest.raises(ValueError, match="row 3"):
        parse_filters(raw, "set.jsonl, row 3")


def test_a_bad_split_is_refused(tmp_path):
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps({"question": "q", "gold": ["x"], "split": "test"}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="split"):
        load_jsonl_set(path, tmp_path)


def test_gold_with_a_document_only_matches_that_documents_passages(tmp_path):
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps({"question": "q", "gold": ["peace"], "document": "B"}) + "\n", encoding="utf-8")
    passages = [
        _passage("A", 1, "Peace in our time."),
        _passage("B", 1, "A lasting peace."),
        _passage("B", 2, "Other."),
    ]
    assert resolve_gold(load_jsonl_set(path, tmp_path), passages) == [frozenset({1})]
    assert resolve_gold(QuestionSet("s", [EvalQuestion("q", gold_texts=("peace",))]), passages) == [frozenset({0, 1})]


def test_the_ungd_set_has_who_spoke_and_filtered_questions_and_a_held_out_third():
    rows = read_jsonl(UNGD)
    assert len(rows) >= 40
    assert all(r["document"] and r["gold"] for r in rows)
    kinds = [r["kind"] for r in rows]
    assert kinds.count("who_spoke") >= 5 and kinds.count("filtered") >= 8
    held = sum(r["split"] == "held_out" for r in rows)
    assert held == len(rows) // 3 and {r["split"] for r in rows} == {"tune", "held_out"}
    load_jsonl_set(UNGD, DATA)  # every row parses, filters included
