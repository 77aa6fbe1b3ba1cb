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
import unicodedata
from collections import Counter
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
#: SQuAD-style questions whose short answers are measured on their gold passage ("given the paragraph").
READING_PREFIXES = ("when", "what year", "how many", "how much")


def prepare_index(
    qset: QuestionSet, settings: Settings, encoder: Encoder, cache_dir: Path, progress: Progress | None = None
) -> IndexData:
    """The set's index, through the service's load-or-rebuild path, in a cache folder of its own.

    The folder is keyed by the set and the build parameters; inside it ``ensure_index`` decides whether
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
    key = hashlib.sha256(key.encode()).hexdigest()
    settings = settings.replace(index_dir=cache_dir / f"{_slug(qset.name)}-{key[:12]}")
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
class ShortAnswerReport:
    """How the short answers (spans) did: exact match and token F1 over all questions (no span counts 0),
    the share of questions given a span, and the exact match and F1 among those given (their precision)."""

    questions: int
    given: int
    exact: float
    f1: float
    exact_given: int = 0
    f1_given: float = 0.0

    @property
    def share_given(self) -> float:
        """Share of the questions given a span."""
        return self.given / self.questions if self.questions else 0.0

    @property
    def precision(self) -> float | None:
        """Exact match among the spans given (None when none was)."""
        return self.exact_given / self.given if self.given else None

    def to_json(self) -> dict:
        """The figures as plain JSON data."""
        return {
            "questions": self.questions,
            "exact_match": round(self.exact, 4),
            "f1": round(self.f1, 4),
            "share_given": round(self.share_given, 4),
            "precision_given": _round(self.precision),
            "f1_given": round(self.f1_given, 4) if self.given else None,
        }


def normalise_answer(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(" " if unicodedata.category(c).startswith("P") else c for c in text.lower())
    text = re.sub(r"\b(?:a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer."""
    return float(any(normalise_answer(prediction) == normalise_answer(g) for g in golds))


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """SQuAD's token F1 against the best of the gold answers."""
    best = 0.0
    pred = normalise_answer(prediction).split()
    for gold in golds:
        ref = normalise_answer(gold).split()
        common = Counter(pred) & Counter(ref)
        same = sum(common.values())
        if same:
            precision, recall = same / len(pred), same / len(ref)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def summarise_spans(pairs: Sequence[tuple[str | None, Sequence[str]]]) -> ShortAnswerReport:
    """Exact match, F1, share given and precision from ``(predicted span or None, gold answers)`` pairs."""
    given = [(p, g) for p, g in pairs if p is not None]
    exact = [exact_match(p, g) for p, g in given]
    f1 = [token_f1(p, g) for p, g in given]
    n = max(len(pairs), 1)
    return ShortAnswerReport(
        len(pairs),
        len(given),
        sum(exact) / n,
        sum(f1) / n,
        exact_given=int(sum(exact)),
        f1_given=sum(f1) / len(given) if given else 0.0,
    )


@dataclass
class Report:
    """Everything one evaluation run measured on one question set.

    ``splits``: the final ranking's figures on each split of a set that has them ("tune", "held_out");
    ``kinds``: the same on each kind of answerable question of a set that labels them ("who_spoke", ...);
    ``short_answers``: the spans of the best answer, per split ("all" when the set has none), and
    ``reading``: the spans found in each question's gold passage (SQuAD's when/how many/... questions).
    """

    name: str
    passages: int
    modes: list[ModeReport]
    abstention: AbstentionReport
    seconds: float = 0.0
    misses: list[dict] = field(default_factory=list)
    splits: dict[str, ModeReport] = field(default_factory=dict)
    split_abstention: dict[str, AbstentionReport] = field(default_factory=dict)
    kinds: dict[str, ModeReport] = field(default_factory=dict)
    short_answers: dict[str, ShortAnswerReport] = field(default_factory=dict)
    reading: ShortAnswerReport | None = None
    span_misses: list[dict] = field(default_factory=list)

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
            "abstention": {
                "out_of_scope_flagged": _round(self.abstention.out_of_scope_flagged),
                "answerable_flagged": _round(self.abstention.answerable_flagged),
                "out_of_scope_questions": self.abstention.out_of_scope,
                "answerable_questions": self.abstention.answerable,
                "out_of_scope_by_kind": {
                    k: {"flagged": f, "questions": n} for k, (f, n) in self.abstention.by_kind.items()
                },
            },
            "splits": {
                name: {
                    **{f"recall@{k}": round(v, 4) for k, v in m.recall.items()},
                    "mrr@10": round(m.mrr, 4),
                    "questions": m.questions,
                    **(
                        {
                            "out_of_scope_flagged": _round(self.split_abstention[name].out_of_scope_flagged),
                            "answerable_flagged": _round(self.split_abstention[name].answerable_flagged),
                        }
                        if name in self.split_abstention
                        else {}
                    ),
                }
                for name, m in self.splits.items()
            },
            "kinds": {
                name: {
                    **{f"recall@{k}": round(v, 4) for k, v in m.recall.items()},
                    "mrr@10": round(m.mrr, 4),
                    "questions": m.questions,
                }
                for name, m in self.kinds.items()
            },
            "short_answers": {name: r.to_json() for name, r in self.short_answers.items()},
            "reading": self.reading.to_json() if self.reading else None,
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
    total = len(qset.questions) * len(modes) + len(qset.out_of_scope)
    done = 0
    reports = []
    flagged_answerable = 0
    misses: list[dict] = []
    span_misses: list[dict] = []
    first_ranks: list[int | None] = []
    first_flags: list[bool] = []
    spans: list[tuple[str | None, Sequence[str]]] = []
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
                first_flags.append(result.no_answer)
                if rank != 1:
                    misses.append(
                        {"question": q.text, "rank": rank, "gold": sorted(g), "got": ranked[:3], "split": q.split}
                    )
                if q.answers and q.gold_texts:  # our factoid set: the span of the best answer, end to end
                    best = result.answers[0].short_answer if result.answers else None
                    spans.append((best.text if best else None, q.answers))
                    if best is None or not exact_match(best.text, q.answers):
                        span_misses.append(
                            {
                                "question": q.text,
                                "got": best.text if best else None,
                                "want": q.answers[0],
                                "split": q.split,
                            }
                        )
            done += 1
            if progress:
                progress(done, total)
        reports.append(summarise(name, ranks))
        if name == modes[0]:
            first_ranks = ranks
    flagged_oos = 0
    by_kind: dict[str, tuple[int, int]] = {}
    kinds = qset.out_of_scope_kinds or [""] * len(qset.out_of_scope)
    oos_flags: list[bool] = []
    for question, kind in zip(qset.out_of_scope, kinds):
        ranker, mode = _mode(retriever, modes[0])
        flagged = int(ranker.ask(question, 10, mode).no_answer)
        oos_flags.append(bool(flagged))
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
    report = Report(qset.name, len(retriever.passages), reports, abstention, time.perf_counter() - started, misses)
    report.span_misses = span_misses
    split_names = [q.split for q in qset.questions]
    oos_splits = qset.out_of_scope_splits or [""] * len(qset.out_of_scope)
    for split in sorted({s for s in split_names + list(oos_splits) if s}):
        picked = [i for i, s in enumerate(split_names) if s == split]
        oos = [f for f, s in zip(oos_flags, oos_splits) if s == split]
        if picked:
            report.splits[split] = summarise(modes[0], [first_ranks[i] for i in picked])
        report.split_abstention[split] = AbstentionReport(
            sum(oos) / len(oos) if oos else None,
            sum(first_flags[i] for i in picked) / len(picked) if picked else 0.0,
            len(oos),
            len(picked),
        )
    for kind in sorted({q.kind for q in qset.questions if q.kind}):
        report.kinds[kind] = summarise(modes[0], [r for r, q in zip(first_ranks, qset.questions) if q.kind == kind])
    if spans:
        answered = [q for q in qset.questions if q.answers and q.gold_texts]
        report.short_answers["all"] = summarise_spans(spans)
        for split in sorted({q.split for q in answered if q.split}):
            report.short_answers[split] = summarise_spans([p for p, q in zip(spans, answered) if q.split == split])
    report.reading = read_given_passages(retriever, qset, gold)
    report.seconds = time.perf_counter() - started
    return report


def read_given_passages(
    retriever: Retriever, qset: QuestionSet, gold: Sequence[frozenset[int]]
) -> ShortAnswerReport | None:
    """Short answers on each question's own gold passage, for the questions of a dataset (gold passage ids
    and gold answers, as SQuAD) that begin with one of :data:`READING_PREFIXES`; None when there are none."""
    pairs = []
    for q, g in zip(qset.questions, gold):
        if q.gold_texts or not q.answers or len(g) != 1 or not q.text.lower().startswith(READING_PREFIXES):
            continue
        _, span = retriever.read(q.text, next(iter(g)))
        pairs.append((span.text if span else None, q.answers))
    return summarise_spans(pairs) if pairs else None
