"""Calibrating the no-answer rule (``ranking.no_answer.NoAnswerRule``) on answerable and out-of-scope
questions, with cross-validation so that the figures say how it does on questions it was not fitted on."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..ranking import Evidence, NoAnswerRule, Retriever


@dataclass
class Calibration:
    """The chosen rule, its figures on the set it was chosen on, and cross-validated figures."""

    rule: NoAnswerRule
    out_of_scope_flagged: float
    answerable_flagged: float
    cv_out_of_scope_flagged: float
    cv_answerable_flagged: float
    folds: int


SENTENCE_COEFS = (0.0, 0.5, 1.0)
COVERAGE_COEFS = (0.0, 0.25, 0.5, 0.75, 1.0)


def collect_evidence(retriever: Retriever, questions: Sequence[str]) -> list[Evidence]:
    """The no-answer evidence of each question, as the final ranking sees it."""
    return [retriever.ask(q, 3).evidence for q in questions]  # type: ignore[misc]


def fit_rule(
    answerable: Sequence[Evidence], out_of_scope: Sequence[Evidence], max_answerable: float = 0.05
) -> NoAnswerRule:
    """The rule that flags the most out-of-scope questions while flagging at most ``max_answerable`` of
    the answerable ones (ties: the simpler rule, then the lower threshold).

    The threshold sits halfway between the last answerable confidence it may flag and the next one.
    """
    best: tuple[int, float, NoAnswerRule] | None = None
    budget = int(np.floor(max_answerable * len(answerable) + 1e-9))
    for sc in SENTENCE_COEFS:
        for cc in COVERAGE_COEFS:
            probe = NoAnswerRule(sc, cc, -np.inf)
            fixed = sum(probe.flags(e) for e in answerable)
            free = sorted(probe.confidence(e.dense, e.sentence, e.coverage) for e in answerable if not probe.flags(e))
            room = budget - fixed
            if room < 0:
                continue
            if not free:
                threshold = np.inf
            elif room == 0:
                threshold = free[0] - 1e-6
            elif room >= len(free):
                threshold = free[-1] + 1e-6
            else:
                threshold = (free[room - 1] + free[room]) / 2
            rule = NoAnswerRule(sc, cc, round(float(threshold), 4))
            caught = sum(rule.flags(e) for e in out_of_scope)
            key = (caught, -(sc + cc))
            if best is None or key > best[:2]:
                best = (caught, -(sc + cc), rule)
    if best is None:
        return NoAnswerRule(0.0, 0.0, -1.0)
    return best[2]


def calibrate(
    answerable: Sequence[Evidence],
    out_of_scope: Sequence[Evidence],
    folds: int = 5,
    seed: int = 13,
    max_answerable: float = 0.05,
) -> Calibration:
    """Fit the rule on all questions, and estimate how it does on unseen ones by ``folds``-fold
    cross-validation (each fold's questions judged by a rule fitted on the other folds)."""
    rule = fit_rule(answerable, out_of_scope, max_answerable)
    rng = random.Random(seed)
    fold_a = [i % folds for i in range(len(answerable))]
    fold_o = [i % folds for i in range(len(out_of_scope))]
    rng.shuffle(fold_a)
    rng.shuffle(fold_o)
    cv_a = cv_o = 0
    for k in range(folds):
        fitted = fit_rule(
            [e for e, f in zip(answerable, fold_a) if f != k],
            [e for e, f in zip(out_of_scope, fold_o) if f != k],
            max_answerable,
        )
        cv_a += sum(fitted.flags(e) for e, f in zip(answerable, fold_a) if f == k)
        cv_o += sum(fitted.flags(e) for e, f in zip(out_of_scope, fold_o) if f == k)
    return Calibration(
        rule,
        sum(rule.flags(e) for e in out_of_scope) / max(len(out_of_scope), 1),
        sum(rule.flags(e) for e in answerable) / max(len(answerable), 1),
        cv_o / max(len(out_of_scope), 1),
        cv_a / max(len(answerable), 1),
        folds,
    )
