"""Measuring a ranking on a question set: recall at cutoffs, MRR, and how no_answer splits the questions.

Every question goes through :meth:`Retriever.ask`, the code the API uses, over an index built by the
service's own load-or-rebuild path (cached per set).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..corpus import Passage, fold
from ..encoders import Encoder
from ..index import IndexData, Progress, build_params, ensure_index
from ..ranking import MODES, Mode, Retriever
from ..settings import Settings
from .datasets import QuestionSet

CUTOFFS = (1, 3, 5, 10)


def prepare_index(
    qset: QuestionSet, settings: Settings, encoder: Encoder, cache_dir: Path, progress: Progress | None = None
) -> IndexData:
    """The set's index, through the service's load-or-rebuild path, in a cache folder of its own.

    The folder is keyed by the set, the build parameters and the encoder; inside it ``ensure_index`` decides whether
    the cached build is still fresh (model, sources, splitter, parameters).
    """
    if qset.embed_context is not None:
        settings = settings.replace(embed_context=qset.embed_context)
    # Evaluation measures the ranking; its indexes live in the cache folder, searched by FAISS (a
    # Milvus setting must not send them to the service's collection).
    settings = settings.replace(vector_store="faiss", rebuild="auto")
    source = qset.source()
    where = (
        qset.sources if source is not None else {"corpus": str(Path(qset.corpus_dir or settings.corpus_dir).resolve())}
    )
    # One folder per encoder too, so that comparing encoders never rebuilds a set's index back and forth.
    key = json.dumps([qset.name, where, build_params(settings), encoder.identity], sort_keys=True)
    settings = settings.replace(
        index_dir=cache_dir / f"{_slug(qset.name)}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    )
    if source is None:
        settings = settings.replace(corpus_dir=qset.corpus_dir or settings.corpus_dir)
    return ensure_index(settings, encoder, progress, source=source)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "set"


def resolve_gold(qset: QuestionSet, passages: Sequence[Passage]) -> list[frozenset[int]]:
    """Each answerable question's gold passage ids in the index (substrings matched normalised)."""
    normalised = [fold(p.text) for p in passages]
    gold = []
    for q in qset.questions:
        if q.gold_texts:
            wanted = [fold(t) for t in q.gold_texts]
            gold.append(
                frozenset(
                    i
                    for i, text in enumerate(normalised)
                    if (q.document is None or passages[i].doc_id == q.document) and any(w in text for w in wanted)
                )
            )
        else:
            gold.append(q.gold_ids)
    return gold


class PrecomputedQueries:
    """An encoder that answers ``encode_query`` from vectors embedded in one batch beforehand.

    Everything else is delegated, so the retriever runs unchanged; questions are embedded in batches
    (much faster than one by one on a CPU) with the same model.
    """

    def __init__(self, encoder: Encoder, questions: Iterable[str], batch_size: int = 64) -> None:
        self._encoder = encoder
        unique = list(dict.fromkeys(questions))
        vectors = encoder.encode(unique, batch_size) if unique else np.zeros((0, encoder.dim), np.float32)
        self._vectors = dict(zip(unique, vectors))

    def __getattr__(self, name: str):
        return getattr(self._encoder, name)

    def encode_query(self, text: str) -> np.ndarray:
        """The precomputed vector of ``text`` (embedded now when it was not known)."""
        vector = self._vectors.get(text)
        return vector if vector is not None else self._encoder.encode_query(text)


@dataclass
class ModeReport:
    """Ranking figures of one mode over the answerable questions."""

    mode: str
    recall: dict[int, float]
    mrr: float
    questions: int


@dataclass
class AbstentionReport:
    """How the ``no_answer`` rule splits the answerable and the out-of-scope questions."""

    out_of_scope_flagged: float | None
    answerable_flagged: float
    out_of_scope: int
    answerable: int
    by_kind: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind → (flagged, questions)


@dataclass
class Report:
    """Everything one evaluation run measured on one question set."""

    name: str
    passages: int
    modes: list[ModeReport]
    abstention: AbstentionReport
    seconds: float = 0.0
    misses: list[dict] = field(default_factory=list)
    splits: dict[str, list[ModeReport]] = field(default_factory=dict)  # split → its figures in each mode

    def to_json(self) -> dict:
        """The report as plain JSON data."""
        return {
            "set": self.name,
            "passages": self.passages,
            "questions": self.modes[0].questions if self.modes else 0,
            "modes": {
                m.mode: {**{f"recall@{k}": round(v, 4) for k, v in m.recall.items()}, "mrr@10": round(m.mrr, 4)}
                for m in self.modes
            },
            "splits": {
                split: {
                    m.mode: {"questions": m.questions, **{f"recall@{k}": round(v, 4) for k, v in m.recall.items()}}
                    for m in modes
                }
                for split, modes in self.splits.items()
            },
            "abstention": {
                "out_of_scope_flagged": _round(self.abstention.out_of_scope_flagged),
                "answerable_flagged": _round(self.abstention.answerable_flagged),
                "out_of_scope_questions": self.abstention.out_of_scope,
                "answerable_questions": self.abstention.answerable,
                "out_of_scope_by_kind": {
                    k: {"flagged": f, "questions": n} for k, (f, n) in self.abstention.by_kind.items()
                },
            },
            "seconds": round(self.seconds, 1),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def first_hit(ranked: Sequence[int], gold: frozenset[int]) -> int | None:
    """1-based rank of the first gold passage in ``ranked``, or None."""
    for rank, pid in enumerate(ranked, start=1):
        if pid in gold:
            return rank
    return None


def summarise(mode: str, ranks: Sequence[int | None]) -> ModeReport:
    """Recall at each cutoff and MRR@10 from the first-hit ranks of a mode's questions."""
    n = max(len(ranks), 1)
    recall = {k: sum(1 for r in ranks if r is not None and r <= k) / n for k in CUTOFFS}
    mrr = sum(1.0 / r for r in ranks if r is not None and r <= 10) / n
    return ModeReport(mode, recall, mrr, len(ranks))


#: The rankings measured by default: the final one first (its no_answer is reported), then the baselines.
DEFAULT_MODES = ("full", "fusion@0.5", "fusion@0.7", "dense", "bm25")


def _mode(retriever: Retriever, name: str) -> tuple[Retriever, Mode]:
    """The retriever and mode for a ranking name: a mode, or ``fusion@W`` (simple fusion at dense weight W)."""
    base, _, weight = name.partition("@")
    if base not in MODES or (weight and base != "fusion"):
        raise ValueError(f"unknown ranking {name!r}: use one of {', '.join(MODES)} or fusion@WEIGHT")
    if weight:
        try:
            w = float(weight)
        except ValueError as exc:
            raise ValueError(f"unknown ranking {name!r}: the weight is not a number") from exc
        return retriever.with_params(dataclasses.replace(retriever.params, fusion_weight=w)), "fusion"
    return retriever, base  # type: ignore[return-value]


def evaluate(
    retriever: Retriever,
    qset: QuestionSet,
    modes: Sequence[str] = DEFAULT_MODES,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Run every question of ``qset`` through ``retriever`` in each ranking and measure."""
    started = time.perf_counter()
    gold = resolve_gold(qset, retriever.passages)
    unresolved = [q.text for q, g in zip(qset.questions, gold) if not g]
    if unresolved:
        raise ValueError(
            f"{qset.name}: no passage holds the gold of {unresolved[:3]} (is the set asked of another corpus? "
            "name its folder with --corpus)"
        )
    split_names = sorted({q.split for q in qset.questions if q.split})
    splits: dict[str, list[ModeReport]] = {name: [] for name in split_names}
    total = len(qset.questions) * len(modes) + len(qset.out_of_scope)
    done = 0
    reports = []
    flagged_answerable = 0
    misses: list[dict] = []
    for name in modes:
        ranker, mode = _mode(retriever, name)
        ranks = []
        for q, g in zip(qset.questions, gold):
            result = ranker.ask(q.text, 10, mode, q.filters)
            ranked = [a.passage_id for a in result.answers]
            rank = first_hit(ranked, g)
            ranks.append(rank)
            if name == modes[0]:
                flagged_answerable += result.no_answer
                if rank != 1:
                    misses.append({"question": q.text, "rank": rank, "gold": sorted(g), "got": ranked[:3]})
            done += 1
            if progress:
                progress(done, total)
        reports.append(summarise(name, ranks))
        for split in split_names:
            splits[split].append(summarise(name, [r for q, r in zip(qset.questions, ranks) if q.split == split]))
    flagged_oos = 0
    by_kind: dict[str, tuple[int, int]] = {}
    kinds = qset.out_of_scope_kinds or [""] * len(qset.out_of_scope)
    for question, kind in zip(qset.out_of_scope, kinds):
        ranker, mode = _mode(retriever, modes[0])
        flagged = int(ranker.ask(question, 10, mode).no_answer)
        flagged_oos += flagged
        if kind:
            seen = by_kind.get(kind, (0, 0))
            by_kind[kind] = (seen[0] + flagged, seen[1] + 1)
        done += 1
        if progress:
            progress(done, total)
    abstention = AbstentionReport(
        flagged_oos / len(qset.out_of_scope) if qset.out_of_scope else None,
        flagged_answerable / max(len(qset.questions), 1),
        len(qset.out_of_scope),
        len(qset.questions),
        by_kind,
    )
    return Report(
        qset.name, len(retriever.passages), reports, abstention, time.perf_counter() - started, misses, splits
    )
