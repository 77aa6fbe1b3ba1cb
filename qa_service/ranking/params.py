"""The ranking's parameters: one type, built from the settings in one place."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from ..settings import Settings
from .no_answer import NoAnswerRule


@dataclass(frozen=True)
class RankingParams:
    """Knobs of the ranking and of the no-answer rule; defaults are the measured choice (``qa-service eval``).

    The two that are settings (``QA_DENSE_WEIGHT``, ``QA_NO_ANSWER_THRESHOLD``) take their defaults from
    :class:`~qa_service.settings.Settings`; build the service's parameters with :meth:`from_settings`.
    """

    dense_weight: float = Settings.dense_weight  # weight of the semantic part of the final score; BM25 gets the rest
    sentence_weight: float = 0.9  # share of the semantic part given to the best sentence (full mode)
    # How much of a text's similarity to the corpus's mean vector is taken off its cosine (full mode).
    centering: float = 0.25
    normalisation: str = "absolute"  # how the parts are scaled before mixing (full mode): absolute, minmax, zscore
    fusion: str = "convex"  # "convex" (weighted sum of scaled parts) or "rrf" (reciprocal rank fusion)
    rrf_k: int = 60
    fusion_weight: float = 0.5  # dense weight of the simple min-max fusion (the "fusion" baseline mode)
    candidates: int = 100
    duplicate_cosine: float = 0.97
    # no_answer when dense + sentence_coef·sentence + coverage_coef·coverage < no_answer_threshold
    no_answer_threshold: float = Settings.no_answer_threshold
    sentence_coef: float = 0.0
    coverage_coef: float = 0.0
    # Added to the score of the passages of the role a question about the speech asks for (roles.py).
    role_bonus: float = 0.1
    # Share of the lexical part given to the best sentence's IDF-weighted share of the question's terms
    # (full mode): question words found together in one sentence count for more than scattered ones.
    sentence_lexical_weight: float = 0.4
    evidence_passages: int = 1  # how many of the best passages are searched for the number/date a question asks for
    # BM25 and the corpus's acronyms (bm25.py): 0 as written; 1 a spelling ("United Nations") also counts as
    # its acronym ("UN"); 2 an acronym also counts as its spelling.
    acronyms: int = 1
    # Query expansion (expansion.py): pseudo-relevance feedback from the best ``feedback_passages`` of a first
    # ranking, moving the question's vector (``feedback_dense``, Rocchio's beta) and adding their most
    # distinctive terms to BM25 (``feedback_terms`` of them, weighted ``feedback_term_weight``); and the
    # sentence weight of why/how questions (``reason_sentence_weight``, < 0: the same as the others).
    feedback_passages: int = 0
    feedback_dense: float = 0.0
    feedback_terms: int = 0
    feedback_term_weight: float = 0.3
    reason_sentence_weight: float = -1.0
    feedback_margin: float = 0.0  # > 0: expand only when the first two passages' scores are closer than this
    # The model's own neighbours (expansion.WordNeighbours): a question word no passage holds adds the stems of
    # its ``neighbour_count`` nearest corpus words (cosine ≥ ``neighbour_similarity``) to BM25, weighted
    # ``neighbour_weight`` times their cosine.
    neighbour_weight: float = 0.0
    neighbour_similarity: float = 0.5
    neighbour_count: int = 3
    neighbour_hubness: float = 0.0  # share of a corpus word's mean cosine with its neighbours taken off first

    @classmethod
    def from_settings(cls, settings: Settings, overrides: Sequence[str] = ()) -> RankingParams:
        """The service's parameters, with ``name=value`` overrides (typed like the defaults).

        Raises:
            ValueError: an override names no parameter or has a value of the wrong type.
        """
        values: dict[str, object] = {
            "dense_weight": settings.dense_weight,
            "no_answer_threshold": settings.no_answer_threshold,
        }
        names = {f.name: f for f in dataclasses.fields(cls)}
        for item in overrides:
            name, _, raw = item.partition("=")
            name = name.strip().replace("-", "_")
            if name not in names or not raw:
                raise ValueError(f"--param {item!r}: expected NAME=VALUE with NAME one of {sorted(names)}")
            kind = type(getattr(cls, name))
            try:
                values[name] = kind(raw)
            except ValueError as exc:
                raise ValueError(f"--param {item!r}: {raw!r} is not a {kind.__name__}") from exc
        return cls(**values)

    def no_answer_rule(self) -> NoAnswerRule:
        """The no-answer rule these parameters describe."""
        return NoAnswerRule(self.sentence_coef, self.coverage_coef, self.no_answer_threshold)
