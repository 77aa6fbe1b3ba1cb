"""Lexical matching: terms, stems and BM25 (the no-answer rule's signals: tests/test_no_answer.py)."""

from __future__ import annotations

import numpy as np
import pytest

from qa_service.ranking.bm25 import (
    LexicalIndex,
    acronym_terms,
    corpus_acronyms,
    match_words,
    matched_terms,
    stemmed_words,
    stemmer,
    stopwords,
    terms,
    use_stemming,
    words,
)

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


def test_scores_are_bm25s_own(index):
    for question in ["Which religious leaders met in Astana?", "strategy strategy counter-terrorism", "pancakes", "UN"]:
        known = [t for t in terms(question) if t in index._bm25.vocab_dict]
        expected = index._bm25.get_scores(known) if known else np.zeros(len(TEXTS), dtype=np.float32)
        assert index.scores(question).dtype == np.float32
        np.testing.assert_array_equal(index.scores(question), np.asarray(expected, dtype=np.float32), err_msg=question)


def test_question_weight_and_coverage(index):
    assert index.question_weight("what?") == 0
    assert index.coverage("Which strategy did the General Assembly adopt?") == 1.0
    assert index.coverage("What is the recipe for pancakes?") == 0.0
    partly = index.coverage("Which strategy mentions pancakes?")
    assert 0 < partly < 1
    # A term every passage lacks weighs more than one a passage has.
    assert index.idf("pancak") > index.idf("strategi")


def test_derivational_stems_meet_their_base():
    for pair in (
        ("agreed", "agreement"),
        ("agree", "agreement"),
        ("conclude", "conclusion"),
        ("comply", "compliance"),
        ("decide", "decision"),
        ("terrorism", "terrorist"),
        ("develop", "development"),
    ):
        assert len(set(stemmer().stemWords(list(pair)))) == 1, pair
    # A derived word that names something else than its base keeps its own stem.
    assert stemmer().stemWord("statement") != stemmer().stemWord("state")
    assert terms("the early agreement") == terms("early, agreed")


def test_stemming_can_be_switched_back_to_snowball_and_refuses_unknown_names():
    assert terms("agreement") == ["agre"]  # cached: switching must empty the cache
    try:
        use_stemming("snowball")
        assert stemmer().stemWord("agreement") == "agreement"
        assert terms("agreement") == ["agreement"]
    finally:
        use_stemming("derivational")
    assert terms("agreement") == ["agre"]
    with pytest.raises(ValueError, match="unknown stemming"):
        use_stemming("lancaster")
    assert stemmer().name == "derivational"


def test_acronyms_the_corpus_spells_out_match_both_ways():
    texts = [
        "The Conference on Interaction and Confidence-building in Asia (CICA) met in Almaty.",
        "CICA has 18 members.",
        "The Charter of the United Nations applies.",
        "The UN Charter applies.",
        "The ABC was not spelled out.",
    ]
    assert corpus_acronyms(texts) == {
        "CICA": ("Conference", "Interaction", "Confidence-building", "Asia"),
        "UN": ("United", "Nations"),
    }
    with_acronyms, without = LexicalIndex(texts, acronyms=2), LexicalIndex(texts, acronyms=0)
    # A passage using only the acronym is found by the spelled-out words, and the other way round.
    assert with_acronyms.scores("conference on interaction in Asia")[1] > 0 == without.scores("conference Asia")[1]
    assert with_acronyms.scores("What does the UN Charter say?")[2] > 0
    assert without.scores("What does the UN Charter say?")[2] < without.scores("UN Charter")[3]
    assert with_acronyms.scores("United Nations")[3] > 0 == without.scores("United Nations")[3]
    assert acronym_terms("The ABC was not spelled out.", with_acronyms.acronyms) == []


def test_by_default_a_spelling_counts_as_its_acronym_but_not_the_other_way():
    texts = ["The United Nations met.", "The UN Charter.", "Nothing here."]
    index = LexicalIndex(texts)
    assert index.scores("UN")[0] > 0
    assert index.scores("United Nations")[1] == 0


@pytest.mark.parametrize(
    "text",
    [
        "Kazakhstan's counter-terrorism strategy -- and the UN's well-known, self-evident aims.",
        "A-B-C, x--y, -lead and trail-, O'Neil’s 'quoted' words; 1,200 people in 2006-07.",
        "İstanbul, ÉCOLE, straße, naïve café; Ǆemal and ΣΊΣΥΦΟΣ met.",
        "",
    ],
)
def test_terms_are_those_of_the_word_tokens(text):
    """The terms are found without the words' spans, by another path: the same terms, in the same order."""
    lowered = [w.lower() for w, _, _ in words(text)]
    kept = [t for t in lowered if t not in stopwords() and (len(t) > 1 or t.isdigit())]
    assert terms(text) == stemmer().stemWords(kept)
