"""Ranking: mechanics with a fake encoder, and real questions with the real model (the no-answer rule:
tests/test_no_answer.py)."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from qa_service.index import build_index
from qa_service.ranking import MODES, RankingParams, Retriever
from qa_service.ranking.fusion import max_by_group
from qa_service.ranking.fusion import minmax as _minmax
from qa_service.ranking.retriever import top_positive

from .helpers import DATA, FakeEncoder, count_model_runs, read_jsonl

# (question, passage that must be in the top 3): phrased as a reader would, not copied from the text.
# The same questions (with a gold substring of their passage) are a set for `qa-service eval` and
# benchmarks/sweep.py, so that a ranking change can be checked against them before the suite runs.
QUESTIONS = [(row["question"], row["passage"]) for row in read_jsonl(DATA / "statement_top3_questions.jsonl")]


@pytest.mark.parametrize("question, passage", QUESTIONS)
def test_real_questions_find_their_passage_in_top_3(retriever, question, passage):
    result = retriever.ask(question, 3)
    assert passage in [a.passage.number for a in result.answers], [(a.passage.number, a.score) for a in result.answers]


def test_answer_details(retriever):
    result = retriever.ask("How many observer countries are in CICA?", 3)
    best = result.answers[0]
    assert best.passage.number == 13
    assert "8 observer-countries" in best.highlight.text
    assert best.passage.text[best.highlight.start : best.highlight.end] == best.highlight.text
    assert "CICA" in best.matched_terms
    assert 0 <= best.score <= 1 and best.dense > 0.3
    assert result.no_answer is False


def test_every_mode_ranks(retriever):
    for mode in MODES:
        result = retriever.ask("Which convention did Kazakhstan accede to in 2005?", 3, mode)
        assert result.answers[0].passage.number == 2, mode


def test_repeated_question_is_cached(retriever, encoder, monkeypatch):
    """A question asked again does not run the model: its embedding comes from the encoder's cache."""
    model_runs = count_model_runs(encoder, monkeypatch)
    question = f"a question asked twice ({uuid.uuid4().hex[:8]})"
    first = retriever.ask(question, 1)
    again = retriever.ask(question, 1)
    assert len(model_runs) == 1
    assert [(a.passage.number, a.score) for a in again.answers] == [(a.passage.number, a.score) for a in first.answers]
    retriever.ask(question + " and another", 1)
    assert len(model_runs) == 2  # a new question does run it


# -- mechanics with the fake encoder --------------------------------------------------------------


def test_top_k_never_exceeds_corpus(fake_retriever):
    assert len(fake_retriever.ask("terrorism", 20).answers) == 15


def test_near_duplicates_take_one_place(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    para = "The committee adopted the declaration on regional cooperation against terrorism today."
    (corpus / "a.txt").write_text(f"{para}\n\n{para}\n\nAn unrelated paragraph about fishing boats.\n")
    (corpus / "b.txt").write_text(f"{para}\n")
    from qa_service.settings import Settings

    encoder = FakeEncoder()
    r = Retriever(build_index(Settings(corpus_dir=corpus, index_dir=tmp_path / "i"), encoder), encoder)
    texts = [a.passage.text for a in r.ask("declaration on regional cooperation", 3).answers]
    assert texts.count(para) == 1
    assert len(texts) == 2


def test_scores_are_absolute_and_explained(retriever):
    """The final score is on one scale for every question: a close question scores high, an unrelated one
    near 0, and the parts it is made of are reported."""
    close = retriever.ask("How many observer countries are in CICA?", 1).answers[0]
    far = retriever.ask("What is a good recipe for pancakes?", 1).answers[0]
    assert 0 <= far.score < 0.15 < 0.4 < close.score <= 1
    assert close.lexical > 0 and far.lexical == 0
    assert close.sentence >= close.dense > 0.3


def test_rrf_and_other_normalisations_rank(fake_settings):
    from dataclasses import replace

    encoder = FakeEncoder()
    index = build_index(fake_settings, encoder)
    base = Retriever(index, encoder)
    for params in (
        replace(base.params, fusion="rrf"),
        replace(base.params, normalisation="zscore"),
        replace(base.params, normalisation="minmax"),
    ):
        result = base.with_params(params).ask("Second Summit of CICA in Almaty", 3)
        assert result.answers[0].passage.number == 13


def test_minmax():
    np.testing.assert_allclose(_minmax(np.array([1.0, 3.0, 2.0])), [0.0, 1.0, 0.5])
    np.testing.assert_allclose(_minmax(np.array([2.0, 2.0])), [1.0, 1.0])
    np.testing.assert_allclose(_minmax(np.array([0.0, 0.0])), [0.0, 0.0])


def test_top_positive_selects_what_a_stable_sort_would():
    rng = np.random.default_rng(3)
    for trial in range(300):
        n = int(rng.integers(0, 40))
        scores = rng.integers(0, 5, size=n).astype(np.float32)  # many ties and zeros
        count = int(rng.integers(1, 12))
        ranked = np.argsort(-scores, kind="stable")[:count]
        expected = np.sort(ranked[scores[ranked] > 0])
        np.testing.assert_array_equal(top_positive(scores, count), expected, err_msg=str(trial))


def test_max_by_group_takes_rows_alike():
    values = np.array([[0.1, 0.5, 0.2, 0.9], [0.3, -0.1, 0.4, 0.0]], dtype=np.float32)
    sizes = [2, 0, 1, 1]
    expected = np.array([[0.5, 0.0, 0.2, 0.9], [0.3, 0.0, 0.4, 0.0]], dtype=np.float32)
    np.testing.assert_array_equal(max_by_group(values, sizes), expected)
    np.testing.assert_array_equal(max_by_group(values[1], sizes), expected[1])


def test_centering_discounts_what_every_passage_shares(tmp_path):
    """A question matching one passage on a word every passage has and another on a word only it has:
    as cosines they tie, but with centering the specific match ranks first."""
    from dataclasses import replace

    from qa_service.settings import Settings

    corpus = tmp_path / "c"
    corpus.mkdir()
    paragraphs = [
        "Kazakhstan supports dialogue among nations and their peoples.",
        "Kazakhstan welcomes the strategy adopted by this assembly.",
        "Kazakhstan hosted a congress of many religious leaders.",
        "Delegates met in Almaty and signed one declaration.",
    ]
    (corpus / "a.txt").write_text("\n\n".join(paragraphs) + "\n")
    encoder = FakeEncoder(dim=4096)
    index = build_index(Settings(corpus_dir=corpus, index_dir=tmp_path / "i"), encoder)
    semantic_only = RankingParams(dense_weight=1.0, sentence_weight=0.0)
    plain = Retriever(index, encoder, replace(semantic_only, centering=0.0))
    centred = plain.with_params(replace(semantic_only, centering=0.5))
    question = "Kazakhstan Almaty"
    first = lambda r: r.ask(question, 4).answers[0]  # noqa: E731
    assert first(plain).score == pytest.approx(plain.ask(question, 4).answers[1].score)  # one shared word each
    assert first(centred).passage.text == paragraphs[3]
    # The reported cosines stay the raw ones; only the ranking score is centred.
    assert first(centred).dense == pytest.approx(first(plain).dense, abs=1e-4)
