"""What a question asks for (qa_service/ranking/answer_kinds.py)."""

from __future__ import annotations

import pytest

from qa_service.ranking.answer_kinds import answer_kind, checked_kind


@pytest.mark.parametrize(
    "question, kind",
    [
        ("When did Kazakhstan accede to the convention?", "date"),
        ("In what year was the speech given?", "year"),
        ("In which month was the congress held?", "month"),
        ("How many members does CICA have?", "number"),
        ("How much money did the fund receive?", "amount"),
        ("Which resolution set up the committee?", "number"),
        ("Who delivered the statement?", "person"),
        ("What is the speaker's post?", "post"),
        ("Which body drafted the convention?", "organisation"),
        ("Where was the summit held?", "place"),
        ("Which country hosted the congress?", "country"),
        ("Why does Kazakhstan support the strategy?", None),
        ("What does the delegation expect from the session?", None),
        # A leading "when" that opens a clause, a class asked for, an origin story: no short answer.
        ("When the law is a direct target of the protest, what is this called?", None),
        ("What type of organization would need large quantities of oxygen?", None),
        ("Where does the term cherry picker come from?", None),
        ("When, and where, was the congress held?", "date"),
    ],
)
def test_answer_kind(question, kind) -> None:
    assert answer_kind(question) == kind


@pytest.mark.parametrize(
    "question, kind",
    [
        ("When will the convention be concluded?", "date"),
        ("When did Kazakhstan accede to the convention?", "date"),
        # A "when" with a modal, or about "you", asks for a condition: its absence proves nothing.
        ("When can oxygen gas produce a toxic condition?", None),
        ("When do you need to blind bake pastry?", None),
        ("Whom does Kazakhstan congratulate?", None),
        ("Who chaired the committee?", "person"),
    ],
)
def test_checked_kind(question, kind) -> None:
    assert checked_kind(question) == kind
