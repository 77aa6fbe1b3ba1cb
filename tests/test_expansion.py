"""Query expansion (qa_service/ranking/expansion.py): feedback, neighbours, and the retriever's use of them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from qa_service.index import build_index
from qa_service.ranking import RankingParams, Retriever
from qa_service.ranking.bm25 import LexicalIndex
from qa_service.ranking.expansion import (
    WordNeighbours,
    active,
    asks_reason,
    feedback_terms,
    question_params,
    rocchio,
)
from qa_service.settings import Settings

from .helpers import FakeEncoder

TEXTS = [
    "Explosions in London and Mumbai killed many people.",
    "The convention on nuclear terrorism was drafted by a committee.",
    "Poverty and unemployment feed extremism in many regions.",
]


class SynonymEncoder(FakeEncoder):
    """A fake encoder under which "bombings" means "explosions" when it stands alone (as a word does in
    WordNeighbours), while texts and questions are embedded word by word as FakeEncoder does."""

    def __init__(self) -> None:
        super().__init__()
        self.word_runs = 0

    def encode(self, texts, batch_size=32, progress=None):
        if texts and all(" " not in t for t in texts):
            self.word_runs += 1
            texts = ["explosions" if t == "bombings" else t for t in texts]
        return super().encode(texts, batch_size, progress)


def test_asks_reason_reads_why_and_how_questions():
    assert asks_reason("Why does Kazakhstan push for the convention?")
    assert asks_reason("How does the statement end?")
    assert asks_reason("What is the purpose of the strategy?")
    assert not asks_reason("Which country spoke for the group?")


def test_question_params_change_the_sentence_weight_of_why_questions_only():
    params = RankingParams(reason_sentence_weight=0.5)
    assert question_params(params, "Why is it so?").sentence_weight == 0.5
    assert question_params(params, "Which treaty?") is params
    assert question_params(RankingParams(), "Why is it so?").sentence_weight == RankingParams().sentence_weight


def test_defaults_expand_nothing():
    assert not active(RankingParams())
    assert active(RankingParams(feedback_passages=3, feedback_dense=0.3))
    assert not active(RankingParams(feedback_passages=0, feedback_dense=0.3))
    assert active(RankingParams(neighbour_weight=0.5))


def test_rocchio_moves_the_query_towards_the_passages_and_keeps_it_unit():
    query = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    passages = np.array([[0.0, 1.0, 0.0], [0.0, 0.8, 0.6]], dtype=np.float32)
    moved = rocchio(query, passages, 0.5)
    assert np.isclose(np.linalg.norm(moved), 1.0)
    mean = passages.mean(axis=0)
    assert moved @ mean > query @ mean
    assert rocchio(query, passages, 0.0) is query
    assert rocchio(query, passages[:0], 0.5) is query


def test_feedback_terms_are_the_passages_distinctive_terms_the_question_lacks():
    lexical = LexicalIndex(TEXTS)
    added = feedback_terms([TEXTS[0]], lexical, {"london"}, 3)
    assert len(added) == 3
    assert "london" not in {t for t, _ in added}
    assert all(lexical.has_term(t) for t, _ in added)
    assert np.isclose(sum(w for _, w in added), 1.0)
    assert feedback_terms([TEXTS[0]], lexical, set(), 0) == []


def test_weighted_scores_sum_each_terms_bm25_times_its_weight():
    lexical = LexicalIndex(TEXTS)
    both = lexical.weighted_scores([("explos", 1.0), ("poverti", 0.5)])
    assert both[0] > 0 and both[2] > 0 and both[1] == 0
    alone = lexical.weighted_scores([("explos", 1.0)])
    assert np.isclose(both[0], alone[0])
    assert not lexical.weighted_scores([("unknownterm", 1.0)]).any()


def test_word_neighbours_reach_the_corpus_word_for_a_word_it_lacks():
    encoder = SynonymEncoder()
    lexical = LexicalIndex(TEXTS)
    neighbours = WordNeighbours(TEXTS, encoder)
    assert "explosions" in neighbours.words
    assert neighbours.missing("Which bombings did London suffer?", lexical) == ["bombings", "suffer"]
    expanded = dict(neighbours.expand("Which bombings happened?", lexical, 0.9, 3))
    assert expanded == {"explos": pytest.approx(1.0)}
    runs = encoder.word_runs
    assert neighbours.expand("Which explosions killed people in London?", lexical, 0.5, 3) == []
    assert encoder.word_runs == runs  # every word known: no model run


def test_hubness_is_each_words_mean_cosine_with_its_nearest_others():
    neighbours = WordNeighbours(TEXTS, FakeEncoder())
    hubness = neighbours.hubness(k=2)
    sims = neighbours.vectors @ neighbours.vectors.T
    np.fill_diagonal(sims, -1.0)
    expected = np.sort(sims, axis=1)[:, -2:].mean(axis=1)
    assert np.allclose(hubness, expected, atol=1e-6)


@pytest.fixture(scope="module")
def retriever(tmp_path_factory) -> Retriever:
    root = tmp_path_factory.mktemp("expansion")
    corpus = root / "corpus"
    corpus.mkdir()
    more = [
        "The committee met in Vienna to discuss the nuclear convention once more.",
        "Dialogue among religions was the theme of the congress in Astana.",
        "Regional bodies help States share information about threats.",
    ]
    (corpus / "doc.txt").write_text("\n\n".join(TEXTS + more) + "\n", encoding="utf-8")
    encoder = SynonymEncoder()
    return Retriever(build_index(Settings(corpus_dir=corpus, index_dir=root / "index"), encoder), encoder)


def _ranking(retriever: Retriever, question: str) -> list[tuple[int, float]]:
    return [(a.passage_id, a.score) for a in retriever.ask(question, 5).answers]


def test_knobs_off_rank_exactly_as_before(retriever):
    off = retriever.with_params(dataclasses.replace(retriever.params, feedback_passages=3))
    for question in ("Which bombings happened in London?", "Why is poverty a cause?"):
        assert _ranking(off, question) == _ranking(retriever, question)


def test_neighbours_change_only_questions_with_a_word_the_corpus_lacks(retriever):
    on = retriever.with_params(dataclasses.replace(retriever.params, neighbour_weight=1.0, neighbour_similarity=0.9))
    known = "Which explosions killed people in London?"
    assert _ranking(on, known) == _ranking(retriever, known)
    before = dict(_ranking(retriever, "Which bombings happened?"))
    after = dict(_ranking(on, "Which bombings happened?"))
    explosions = [a.passage_id for a in retriever.ask("explosions London Mumbai", 5).answers][0]
    assert after[explosions] > before.get(explosions, 0.0)


def test_feedback_rescores_with_the_moved_query(retriever):
    on = retriever.with_params(dataclasses.replace(retriever.params, feedback_passages=1, feedback_dense=1.0))
    assert _ranking(on, "nuclear committee") != _ranking(retriever, "nuclear committee")


def test_feedback_margin_leaves_a_clear_first_passage_alone(retriever):
    feedback = dataclasses.replace(retriever.params, feedback_passages=1, feedback_dense=1.0)
    gated = retriever.with_params(dataclasses.replace(feedback, feedback_margin=1e-6))
    ungated = retriever.with_params(dataclasses.replace(feedback, feedback_margin=10.0))
    assert _ranking(gated, "nuclear committee") == _ranking(retriever, "nuclear committee")
    assert _ranking(ungated, "nuclear committee") == _ranking(retriever.with_params(feedback), "nuclear committee")
