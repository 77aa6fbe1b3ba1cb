"""The no-answer rule (``qa_service.ranking.no_answer``): its signals (names the corpus lacks, the kind
of answer a question expects), its threshold, and its decisions on real questions with the real model."""

from __future__ import annotations

import pytest

from qa_service.index import build_index
from qa_service.ranking import RankingParams, Retriever
from qa_service.ranking.bm25 import LexicalIndex
from qa_service.ranking.no_answer import CorpusNames, Evidence, NoAnswerRule, expected_answer, holds_answer

from .helpers import FakeEncoder

TEXTS = [
    "The General Assembly adopted the Global Counter-Terrorism Strategy in 2006.",
    "Kazakhstan hosted the Congress of Leaders of World and Traditional Religions in Astana.",
    "Twelve conventions were signed; the Security Council met in September.",
]


# -- the signals ------------------------------------------------------------------------------------------


def test_unknown_names():
    index = LexicalIndex(TEXTS)
    names = CorpusNames(TEXTS, index.has_term)
    assert names.unknown("What did Uzbekistan say in 2015?") == ["Uzbekistan", "2015"]
    assert names.unknown("What did the Security Council do in 2006?") == []
    # The first word of a question is capitalised anyway; possessives are the name.
    assert names.unknown("Kazakhstan's view of Astana?") == []
    # An acronym of capitalised words of the corpus is known; one that is not is unknown.
    assert names.unknown("What did the GA adopt?") == []
    assert names.unknown("What did the WHO adopt?") == ["WHO"]


@pytest.mark.parametrize(
    "question, kind",
    [
        ("How many conventions are there?", "number"),
        ("how much money was pledged", "number"),
        ("When was the strategy adopted?", "date"),
        ("Which treaty did it join, and when?", "date"),
        ("In what year was it signed?", "date"),
        ("Who spoke?", None),
        ("What does the strategy say?", None),
    ],
)
def test_expected_answer(question, kind):
    assert expected_answer(question) == kind


def test_holds_answer():
    assert holds_answer(TEXTS[2], "number") and holds_answer(TEXTS[0], "number")
    assert not holds_answer("It remains one of the most serious threats.", "number")
    assert holds_answer(TEXTS[0], "date") and holds_answer(TEXTS[2], "date")
    assert not holds_answer("There are 18 members and 8 observers.", "date")
    assert holds_answer("In the 19th century.", "date")


# -- the rule in the retriever ------------------------------------------------------------------------------


def test_no_answer_threshold_is_a_parameter(fake_settings):
    encoder = FakeEncoder()
    index = build_index(fake_settings, encoder)
    always = Retriever(index, encoder, RankingParams(no_answer_threshold=1.01))
    never = Retriever(index, encoder, RankingParams(no_answer_threshold=-1.01))
    assert always.ask("terrorism", 1).no_answer is True
    assert never.ask("terrorism", 1).no_answer is False


def test_a_question_routed_to_its_role_is_not_flagged_for_low_confidence_alone():
    rule = NoAnswerRule(0.0, 0.0, 0.2)
    low = Evidence(0.1, 0.1, 1.0, (), None, 0.1)
    assert rule.flags(low)
    assert not rule.flags(Evidence(0.1, 0.1, 1.0, (), None, 0.1, routed=True))
    assert rule.flags(Evidence(0.1, 0.1, 1.0, (), "date", 0.1, routed=True))
    assert rule.flags(Evidence(0.1, 0.1, 1.0, ("Uzbekistan",), None, 0.1, routed=True))


def test_questions_about_the_speech_itself_are_answered(retriever):
    result = retriever.ask("What position does the speaker hold?", 3)
    assert result.answers[0].passage.role == "letterhead"
    assert result.evidence.routed and not result.no_answer


def test_off_topic_questions_are_flagged(retriever):
    for question in ("What is a good recipe for pancakes?", "Who won the football world cup in 2018?"):
        assert retriever.ask(question, 3).no_answer is True


def test_no_answer_evidence(retriever):
    named = retriever.ask("What did Uzbekistan say about terrorism at the UN?", 3)
    assert named.no_answer and named.evidence.unknown_names == ("Uzbekistan",)
    counted = retriever.ask("How many people were killed in the London terror plot?", 3)
    assert counted.no_answer and counted.evidence.missing_answer == "number"
    dated = retriever.ask("When was the statement delivered?", 3)
    assert not dated.no_answer and dated.evidence.missing_answer is None
    # The decision does not depend on how many answers are asked for.
    assert retriever.ask("When was CICA founded?", 1).no_answer == retriever.ask("When was CICA founded?", 10).no_answer
