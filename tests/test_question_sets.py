"""The statement's question sets under tests/data are well formed: every gold resolves to a passage of
the shipped statement, every short answer is a span of a gold passage, and a third of each set is held out."""

from __future__ import annotations

import pytest

from qa_service.corpus import fold, load_corpus, split_passages

from .helpers import CORPUS, DATA, read_jsonl

ANSWERABLE = ("statement_structure_questions.jsonl", "statement_factoid_questions.jsonl")
SPLIT_SETS = ANSWERABLE + ("statement_near_miss.jsonl",)


@pytest.fixture(scope="module")
def passages() -> list[str]:
    return [fold(p.text) for doc in load_corpus(CORPUS) for p in split_passages(doc)]


@pytest.mark.parametrize("name", ANSWERABLE)
def test_every_gold_names_a_passage(name, passages) -> None:
    for row in read_jsonl(DATA / name):
        hits = [i for i, text in enumerate(passages) if any(fold(g) in text for g in row["gold"])]
        assert hits, row["question"]


def test_every_short_answer_is_a_span_of_its_gold_passage(passages) -> None:
    for row in read_jsonl(DATA / "statement_factoid_questions.jsonl"):
        answers = row["answer"] if isinstance(row["answer"], list) else [row["answer"]]
        gold = [text for text in passages if any(fold(g) in text for g in row["gold"])]
        for answer in answers:
            assert any(fold(answer) in text for text in gold), (row["question"], answer)


@pytest.mark.parametrize("name", SPLIT_SETS)
def test_a_third_is_held_out(name) -> None:
    rows = read_jsonl(DATA / name)
    splits = [row["split"] for row in rows]
    assert set(splits) == {"tune", "held_out"}
    assert abs(splits.count("held_out") - len(rows) / 3) <= 1
    assert len({row["question"] for row in rows}) == len(rows)


def test_sizes() -> None:
    assert len(read_jsonl(DATA / "statement_structure_questions.jsonl")) >= 30
    assert len(read_jsonl(DATA / "statement_factoid_questions.jsonl")) >= 30
    near = read_jsonl(DATA / "statement_near_miss.jsonl")
    assert near and all(row["kind"] == "near_miss" for row in near)
