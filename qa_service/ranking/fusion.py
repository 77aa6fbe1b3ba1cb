"""Fusing the dense and lexical scores of candidate passages into one ranking score, and the scalers."""

from __future__ import annotations

from typing import Literal

import numpy as np

from .params import RankingParams

Mode = Literal["full", "fusion", "dense", "bm25"]
MODES: tuple[Mode, ...] = ("full", "fusion", "dense", "bm25")


def fuse(
    params: RankingParams,
    mode: Mode,
    dense: np.ndarray,
    lexical: np.ndarray,
    sentence: np.ndarray,
    question_weight: float,
    sentence_lexical: np.ndarray | None = None,
) -> np.ndarray:
    """The ranking score of each candidate in ``mode``.

    ``question_weight`` is the sum of the IDFs of the question's terms: about the BM25 score of a
    passage holding each of them once, so that BM25 divided by it means the same for every question.
    ``sentence_lexical``: each candidate's best sentence's IDF-weighted share of those terms (full mode,
    absolute normalisation: ``params.sentence_lexical_weight`` of the lexical part).
    """
    if mode == "dense":
        return dense
    if mode == "bm25":
        return lexical
    if mode == "fusion":  # the simple baseline: min-max scaled passage cosine and BM25, mixed
        return params.fusion_weight * minmax(dense) + (1 - params.fusion_weight) * minmax(lexical)
    w, wd = params.sentence_weight, params.dense_weight
    if params.fusion == "rrf":
        semantic = (1 - w) * rrf(dense, params.rrf_k) + w * rrf(sentence, params.rrf_k)
        return wd * semantic + (1 - wd) * rrf(lexical, params.rrf_k)
    if params.normalisation == "absolute":
        # Cosines as they are (clipped at 0) and BM25 over what the question's terms could at best
        # contribute (the sum of their IDFs), capped at 1: the score means the same for every question.
        semantic = (1 - w) * np.maximum(dense, 0) + w * np.maximum(sentence, 0)
        lexical_part = np.minimum(lexical / question_weight, 1.0) if question_weight > 0 else np.zeros_like(lexical)
        if sentence_lexical is not None and params.sentence_lexical_weight:
            share = params.sentence_lexical_weight
            lexical_part = (1 - share) * lexical_part + share * sentence_lexical
        return wd * semantic + (1 - wd) * lexical_part
    scale = _SCALERS[params.normalisation]
    return wd * ((1 - w) * scale(dense) + w * scale(sentence)) + (1 - wd) * scale(lexical)


def group_rows(owner: np.ndarray, count: int) -> list[np.ndarray]:
    """For each owner id, the rows that belong to it."""
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(count + 1))
    return [order[bounds[i] : bounds[i + 1]] for i in range(count)]


def max_by_group(values: np.ndarray, sizes: list[int]) -> np.ndarray:
    """The maximum of each consecutive group of ``values`` along its last axis (0 for an empty group): a
    row of values gives a row of maxima."""
    if sizes and all(sizes):  # no empty group: nothing to fill in
        return np.maximum.reduceat(values.astype(np.float32, copy=False), np.cumsum([0, *sizes[:-1]]), axis=-1)
    out = np.zeros((*values.shape[:-1], len(sizes)), dtype=np.float32)
    sizes_arr = np.asarray(sizes)
    nonempty = np.flatnonzero(sizes_arr > 0)
    if len(nonempty):
        starts = np.concatenate(([0], np.cumsum(sizes_arr)[:-1]))[nonempty]
        out[..., nonempty] = np.maximum.reduceat(values.astype(np.float32), starts, axis=-1)
    return out


def rrf(values: np.ndarray, k: int) -> np.ndarray:
    """Reciprocal rank of each value among ``values`` (best = highest), as 1 / (k + rank)."""
    ranks = np.empty(len(values), dtype=np.float32)
    ranks[np.argsort(-values, kind="stable")] = np.arange(1, len(values) + 1)
    return 1.0 / (k + ranks)


def zscore(values: np.ndarray) -> np.ndarray:
    """Values less their mean, over their standard deviation (zeros when they are all equal)."""
    if not len(values):
        return values
    std = float(values.std())
    return (values - float(values.mean())) / std if std > 1e-9 else np.zeros_like(values)


def minmax(values: np.ndarray) -> np.ndarray:
    """Values scaled to [0, 1] (ones when they are all equal and positive)."""
    if not len(values):
        return values
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-9:
        return np.ones_like(values) if high > 0 else np.zeros_like(values)
    return (values - low) / (high - low)


_SCALERS = {"minmax": minmax, "zscore": zscore}
