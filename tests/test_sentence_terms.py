"""The best sentence's share of a question's terms (bm25.SentenceTerms) and its place in the ranking."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from qa_service.index import build_index
from qa_service.ranking import RankingParams, Retriever
from qa_service.ranking.bm25 import SentenceTerms, corpus_acronyms
from qa_service.settings import Settings

from .helpers import FakeEncoder


def test_shares_weigh_the_terms_each_sentence_holds():
    index = SentenceTerms(["Kazakhstan hosted the congress.", "The congress met in Almaty.", "Nothing."])
    shares = index.shares({"kazakhstan": 1.0, "congress": 3.0})
    np.testing.assert_allclose(shares, [1.0, 0.75, 0.0])
    assert not index.shares({}).any() and not index.shares({"absent": 2.0}).any()


def test_a_sentence_that_spells_an_acronym_out_holds_it():
    texts = ["The Charter of the United Nations applies.", "The UN met."]
    shares = SentenceTerms(texts, corpus_acronyms(texts)).shares({"un": 1.0})
    np.testing.assert_allclose(shares, [1.0, 1.0])
    np.testing.assert_allclose(SentenceTerms(texts).shares({"un": 1.0}), [0.0, 1.0])


def test_question_words_together_in_one_sentence_outrank_the_same_words_scattered(tmp_path):
    """Two passages hold the question's two rare words and the same filler; in one they meet in a sentence.
    BM25 alone ties them (same terms, same length); the sentence share ranks the one where they meet first."""
    corpus = tmp_path / "c"
    corpus.mkdir()
    scattered = "The delegates praised the treaty. Later they spoke about Almaty and the weather."
    together = "The delegates praised the weather. Later they spoke about Almaty and the treaty."
    (corpus / "a.txt").write_text(f"{scattered}\n\n{together}\n")
    encoder = FakeEncoder()
    index = build_index(Settings(corpus_dir=corpus, index_dir=tmp_path / "i"), encoder)
    # The same words make the same bag-of-words vector: near-duplicate removal is off here.
    lexical_only = RankingParams(dense_weight=0.0, sentence_lexical_weight=0.0, duplicate_cosine=1.01)
    plain = Retriever(index, encoder, lexical_only)
    question = "Almaty treaty"
    tied = plain.ask(question, 2).answers
    assert tied[0].score == pytest.approx(tied[1].score)
    ranked = plain.with_params(replace(lexical_only, sentence_lexical_weight=0.5)).ask(question, 2).answers
    assert ranked[0].passage.text == together and ranked[0].score > ranked[1].score
    # Its lexical part: half BM25's, half the whole question found in one sentence.
    assert ranked[0].score == pytest.approx(0.5 * tied[0].score + 0.5, abs=1e-4)
