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

from ..encoders import Encoder
from .bm25 import LexicalIndex, stemmer, stopwords, terms, words
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
    feedback = params.feedback_passages > 0 and (params.feedback_dense > 0 or params.feedback_terms > 0)
    return feedback or params.neighbour_weight > 0


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


class WordNeighbours:
    """The corpus's words embedded once by the model: a question word whose stem no passage holds reaches
    the corpus words the model puts nearest ("bombings" → "explosions"), as extra BM25 terms."""

    def __init__(self, texts: Sequence[str], encoder: Encoder, batch_size: int = 256) -> None:
        stop = stopwords()
        found = {w.lower() for t in texts for w, _, _ in words(t)}
        self.words = sorted(w for w in found if w.isalpha() and len(w) > 2 and w not in stop)
        self.stems = stemmer().stemWords(self.words)
        self.encoder = encoder
        self.vectors = encoder.encode(self.words, batch_size) if self.words else np.zeros((0, encoder.dim), np.float32)
        self._hubness: np.ndarray | None = None

    def hubness(self, k: int = 10, block: int = 2048) -> np.ndarray:
        """Each corpus word's mean cosine with its ``k`` nearest other corpus words: high for a word near
        everything ("previous", "item"), which single-word vectors put close to any question word."""
        if self._hubness is None:
            n = len(self.words)
            out = np.zeros(n, dtype=np.float32)
            k = min(k, n - 1)
            for start in range(0, n, block) if k > 0 else ():
                sims = self.vectors[start : start + block] @ self.vectors.T
                sims[np.arange(len(sims)), np.arange(start, start + len(sims))] = -1.0
                out[start : start + block] = np.partition(sims, -k, axis=1)[:, -k:].mean(axis=1)
            self._hubness = out
        return self._hubness

    def missing(self, question: str, lexical: LexicalIndex) -> list[str]:
        """The question's content words (lower case, once each) whose stems no passage holds."""
        stop = stopwords()
        out: dict[str, None] = {}
        for word, _, _ in words(question):
            lower = word.lower()
            content = lower.isalpha() and len(lower) > 2 and lower not in stop
            if content and not lexical.has_term(stemmer().stemWord(lower)):
                out[lower] = None
        return list(out)

    def expand(
        self, question: str, lexical: LexicalIndex, similarity: float, count: int, hubness: float = 0.0
    ) -> list[tuple[str, float]]:
        """For each word of the question the corpus lacks, the stems of its ``count`` nearest corpus words
        with a cosine of at least ``similarity``, each weighted by that cosine (nothing, and no model run,
        when the corpus holds every word). With ``hubness``, each corpus word's cosines are lowered by that
        share of its :meth:`hubness` first."""
        missing = self.missing(question, lexical)
        if not missing or not len(self.words):
            return []
        cosines = self.encoder.encode(missing) @ self.vectors.T
        if hubness:
            cosines = cosines - hubness * self.hubness()
        best: dict[str, float] = {}
        for row in cosines:
            for i in np.argsort(-row)[:count].tolist():
                if row[i] >= similarity:
                    best[self.stems[i]] = max(best.get(self.stems[i], 0.0), float(row[i]))
        return sorted(best.items(), key=lambda x: (-x[1], x[0]))


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
    neighbours: Callable[[], WordNeighbours],
) -> np.ndarray:
    """The candidates' scores after feedback from the best ``feedback_passages`` of ``fused``.

    Args:
        score: the full ranking's score of the candidates for a query vector and their BM25 scores.
        neighbours: the corpus's embedded words (built on first use).
    """
    order = np.argsort(-fused, kind="stable")
    if params.feedback_margin > 0 and len(order) > 1 and fused[order[0]] - fused[order[1]] >= params.feedback_margin:
        return fused  # a clear first passage: no feedback (and no cost)
    k = min(params.feedback_passages, len(candidates))
    top = candidates[order[:k]]
    moved = rocchio(query, passage_vectors[top], params.feedback_dense)
    added = feedback_terms(
        [passage_texts(int(p)) for p in top.tolist()], lexical_index, set(terms(question)), params.feedback_terms
    )
    near = (
        neighbours().expand(
            question, lexical_index, params.neighbour_similarity, params.neighbour_count, params.neighbour_hubness
        )
        if (params.neighbour_weight > 0)
        else []
    )
    if not added and not near and moved is query:
        return fused
    if added:
        lexical = lexical + params.feedback_term_weight * lexical_index.weighted_scores(added)[candidates]
    if near:
        lexical = lexical + params.neighbour_weight * lexical_index.weighted_scores(near)[candidates]
    return score(moved, lexical)
