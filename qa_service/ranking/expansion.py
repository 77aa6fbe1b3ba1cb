"""Query expansion for questions that say what the text says in other words (measured; see below).

Two kinds of pseudo-relevance feedback, both reading the best passages of a first ranking and then
ranking the same candidates again:

- **dense** (Rocchio): the question's vector moved towards the mean vector of the best ``feedback_passages``
  passages, ``q' = q + feedback_dense · mean(p)``, renormalised; the passage and sentence cosines are taken
  again with ``q'``.
- **lexical**: the ``feedback_terms`` most distinctive terms (term frequency × IDF) of those passages that
  the question lacks join its BM25 query, each weighted ``feedback_term_weight`` times its share.

A third knob changes no vector: ``reason_sentence_weight`` (when ≥ 0) replaces ``sentence_weight`` for
questions that ask why or how, whose answer is often one clause of a passage.

Every knob is off by default: ``benchmarks/expansion.py`` measured each on the statement sets' tune
splits and on SQuAD and ClapNQ dev (docs/evaluation.md, "Query expansion").
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from .bm25 import LexicalIndex, terms
from .params import RankingParams

_REASON = re.compile(r"^\s*(?:why|how)\b|\b(?:reason|purpose)\b", re.I)


def asks_reason(question: str) -> bool:
    """Whether ``question`` asks why or how (or for a reason or purpose)."""
    return bool(_REASON.search(question))


def question_params(params: RankingParams, question: str) -> RankingParams:
    """``params`` for one question: with ``reason_sentence_weight`` as its sentence weight when it asks why or how."""
    if params.reason_sentence_weight < 0 or not asks_reason(question):
        return params
    return dataclasses.replace(params, sentence_weight=params.reason_sentence_weight)


def active(params: RankingParams) -> bool:
    """Whether any feedback knob of ``params`` is on."""
    return params.feedback_passages > 0 and (params.feedback_dense > 0 or params.feedback_terms > 0)


def rocchio(query: np.ndarray, vectors: np.ndarray, beta: float) -> np.ndarray:
    """The unit vector of ``query + beta · mean(vectors)`` (``query`` itself when there is nothing to add)."""
    if not len(vectors) or beta <= 0:
        return query
    moved = query + beta * np.asarray(vectors, dtype=np.float32).mean(axis=0)
    norm = float(np.linalg.norm(moved))
    return (moved / norm).astype(np.float32) if norm > 0 else query


def feedback_terms(
    texts: Sequence[str], lexical: LexicalIndex, question_terms: set[str], count: int
) -> list[tuple[str, float]]:
    """The ``count`` terms of ``texts`` (the best passages) that best describe them and that the question
    lacks, by term frequency × IDF, each with its share of their total (shares sum to 1)."""
    if count <= 0:
        return []
    frequency: Counter[str] = Counter()
    for text in texts:
        frequency.update(t for t in terms(text) if t not in question_terms and lexical.has_term(t))
    weighted = sorted(((f * lexical.idf(t), t) for t, f in frequency.items()), key=lambda x: (-x[0], x[1]))[:count]
    total = sum(w for w, _ in weighted)
    return [(t, w / total) for w, t in weighted] if total > 0 else []


def rescore(
    params: RankingParams,
    question: str,
    query: np.ndarray,
    candidates: np.ndarray,
    fused: np.ndarray,
    lexical: np.ndarray,
    *,
    passage_vectors: np.ndarray,
    passage_texts: Callable[[int], str],
    lexical_index: LexicalIndex,
    score: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """The candidates' scores after feedback from the best ``feedback_passages`` of ``fused``.

    Args:
        score: the full ranking's score of the candidates for a query vector and their BM25 scores.
    """
    k = min(params.feedback_passages, len(candidates))
    if k == 0:
        return fused
    top = candidates[np.argsort(-fused, kind="stable")[:k]]
    moved = rocchio(query, passage_vectors[top], params.feedback_dense)
    added = feedback_terms(
        [passage_texts(int(p)) for p in top.tolist()], lexical_index, set(terms(question)), params.feedback_terms
    )
    if added:
        extra = lexical_index.weighted_scores(added)[candidates]
        lexical = lexical + params.feedback_term_weight * extra
    elif moved is query:
        return fused
    return score(moved, lexical)
