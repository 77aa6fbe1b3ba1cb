"""Lexical matching: terms, stems and BM25 (the no-answer rule's signals: tests/test_no_answer.py)."""

from __future__ import annotations

import pytest

from qa_service.ranking.bm25 import LexicalIndex, match_words, matched_terms, stemmed_words, terms

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
