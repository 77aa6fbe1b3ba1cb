"""Lexical matching: terms, BM25 helpers and the signals of the no-answer rule."""

from __future__ import annotations

import pytest

from qa_service.ranking.bm25 import LexicalIndex, match_words, matched_terms, stemmed_words, terms
from qa_service.ranking.no_answer import CorpusNames, expected_answer, holds_answer

TEXTS = [
    "The General Assembly adopted the Global Counter-Terrorism Strategy in 2006.",
    "Kazakhstan hosted the Congress of Leaders of World and Traditional Religions in Astana.",
    "Twelve conventions were signed; the Security Council met in September.",
]


@pytest.fixture(scope="module")
def index() -> LexicalIndex:
    return LexicalIndex(TEXTS)


def test_terms_drop_stopwords_and_auxiliaries_and_stem():
    assert terms("What did the delegations say about the conventions?") == ["deleg", "say", "convent"]
    assert "does" not in terms("Does it hold?") and "doe" not in terms("Does it hold?")


def test_matched_terms_are_passage_words_in_order():
    assert matched_terms("which conventions were signed", TEXTS[2]) == ["conventions", "signed"]


def test_stemmed_words_keep_each_content_word_once_with_its_stem():
    stemmed = stemmed_words("The Conventions and the conventions: Signing, signed, signatories.")
    assert stemmed == (
        ("Conventions", "convent"),
        ("Signing", "sign"),
        ("signed", "sign"),
        ("signatories", "signatori"),
    )
    assert match_words({"sign"}, stemmed) == ["Signing", "signed"]
    assert match_words(set(), stemmed) == []


def test_bm25_prefers_the_passage_with_the_terms(index):
    scores = index.scores("Which religious leaders met in Astana?")
    assert scores.argmax() == 1
    assert index.scores("pancakes").max() == 0


def test_question_weight_and_coverage(index):
    assert index.question_weight("what?") == 0
    assert index.coverage("Which strategy did the General Assembly adopt?") == 1.0
    assert index.coverage("What is the recipe for pancakes?") == 0.0
    partly = index.coverage("Which strategy mentions pancakes?")
    assert 0 < partly < 1
    # A term every passage lacks weighs more than one a passage has.
    assert index.idf("pancak") > index.idf("strategi")


def test_unknown_names(index):
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
