"""The evaluation harness: question sets, metrics, baselines and abstention figures.

A question set is a corpus and questions with their gold: our own JSONL over the service's corpus
(``{"question", "gold": [substrings]}``; a passage is a hit when it contains a gold substring after
whitespace is collapsed and case folded), SQuAD v1.1 dev (each paragraph a passage, gold = the
question's own paragraph) or ClapNQ dev (the distinct passages of both files pooled, gold = the
question's own passage). Every question goes through :meth:`Retriever.ask`, the code the API uses,
over an index built by the indexer and cached by the store (rebuilt when its manifest is stale).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .corpus import SPLITTER_VERSION, Passage, split_sentences
from .encoder import Encoder
from .indexer import build_params, ensure_index, index_passages, store_loader
from .retriever import MODES, Evidence, Mode, RankingParams, Retriever
from .settings import Settings
from .store import IndexCorrupt, IndexData, IndexManifest, IndexMissing, check_manifest, load_index, save_index

#: Bumped when a dataset loader changes what passages it makes, so cached indexes are rebuilt.
LOADER_VERSION = "1"
CUTOFFS = (1, 3, 5, 10)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class EvalQuestion:
    """A question and its gold: passage ids (datasets) or substrings a hit must contain (our JSONL)."""

    text: str
    gold_ids: frozenset[int] = frozenset()
    gold_texts: tuple[str, ...] = ()


@dataclass
class QuestionSet:
    """Answerable questions, out-of-scope questions and the corpus they are asked of.

    ``passages`` is None for a set asked of the service's corpus folder (``corpus_dir``); otherwise the
    passages are made by the loader and ``sources`` fingerprints the files they came from.
    """

    name: str
    questions: list[EvalQuestion]
    out_of_scope: list[str] = field(default_factory=list)
    passages: list[Passage] | None = None
    documents: list[dict] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    corpus_dir: Path | None = None
    embed_context: bool | None = None  # None: the service's setting
    out_of_scope_kinds: list[str] = field(default_factory=list)  # e.g. off_topic, near_miss (our JSONL)

    def sample(self, limit: int | None, seed: int = 13) -> QuestionSet:
        """The same set with at most ``limit`` answerable and ``limit`` out-of-scope questions (seeded)."""
        if not limit:
            return self
        rng = random.Random(seed)
        pick = lambda items: items if len(items) <= limit else rng.sample(items, limit)  # noqa: E731
        copy = QuestionSet(**{**self.__dict__})
        copy.questions = pick(self.questions)
        pairs = pick(list(zip(self.out_of_scope, self.out_of_scope_kinds or [""] * len(self.out_of_scope))))
        copy.out_of_scope = [q for q, _ in pairs]
        copy.out_of_scope_kinds = [k for _, k in pairs] if self.out_of_scope_kinds else []
        return copy


# ---------------------------------------------------------------------------------------------
# Loaders


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSON-lines file (blank lines skipped)."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_jsonl_set(
    path: Path, corpus_dir: Path, out_of_scope: Path | None = None, name: str | None = None
) -> QuestionSet:
    """Our own format: ``{"question", "gold": [substrings]}`` rows, asked of ``corpus_dir``.

    Out-of-scope rows (``{"question", ...}`` without gold) come from ``out_of_scope`` when given.
    """
    questions = []
    for row in read_jsonl(path):
        gold = row.get("gold") or []
        gold = [gold] if isinstance(gold, str) else list(gold)
        if not gold:
            raise ValueError(f"{path}: question without gold: {row.get('question')!r}")
        questions.append(EvalQuestion(row["question"], gold_texts=tuple(gold)))
    rows = read_jsonl(out_of_scope) if out_of_scope else []
    return QuestionSet(
        name or path.stem,
        questions,
        [row["question"] for row in rows],
        corpus_dir=corpus_dir,
        out_of_scope_kinds=[str(row.get("kind", "")) for row in rows],
    )


def _passage(doc_id: str, title: str, number: int, text: str) -> Passage:
    text = _SPACE.sub(" ", text).strip()
    return Passage(
        doc_id=doc_id,
        doc_title=title,
        number=number,
        text=text,
        first_line=1,
        last_line=1,
        start_char=0,
        end_char=len(text),
        sentences=tuple(split_sentences(text)),
    )


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_squad(path: Path) -> QuestionSet:
    """SQuAD v1.1 dev (``dev-v1.1.json`` or its folder): every paragraph a passage, 10,570 questions."""
    path = path / "dev-v1.1.json" if path.is_dir() else path
    data = json.loads(path.read_text(encoding="utf-8"))
    passages: list[Passage] = []
    documents: list[dict] = []
    questions: list[EvalQuestion] = []
    for article in data["data"]:
        title = article["title"].replace("_", " ")
        doc_id = f"squad/{article['title']}"
        documents.append({"id": doc_id, "title": title, "path": path.name, "metadata": {}})
        for n, paragraph in enumerate(article["paragraphs"], start=1):
            pid = len(passages)
            passages.append(_passage(doc_id, title, n, paragraph["context"]))
            questions.extend(EvalQuestion(qa["question"].strip(), gold_ids=frozenset({pid})) for qa in paragraph["qas"])
    sources = {path.name: _file_hash(path), "loader": f"squad-{LOADER_VERSION}"}
    return QuestionSet("squad-dev", questions, [], passages, documents, sources)


def load_clapnq(folder: Path) -> QuestionSet:
    """ClapNQ dev: the distinct passages of the answerable and unanswerable files pooled as the corpus.

    The 300 answerable questions have their own passage as gold; the unanswerable ones are kept as
    out-of-scope questions (their own passage is in the corpus but does not answer them).
    """
    files = {kind: folder / f"clapnq_dev_{kind}.jsonl" for kind in ("answerable", "unanswerable")}
    passages: list[Passage] = []
    documents: dict[str, dict] = {}
    by_key: dict[tuple[str, str], int] = {}
    questions: list[EvalQuestion] = []
    oos: list[str] = []
    for kind, path in files.items():
        for row in read_jsonl(path):
            ids = set()
            for item in row["passages"]:
                title, text = item.get("title", "").strip(), _SPACE.sub(" ", item["text"]).strip()
                key = (title, text)
                if key not in by_key:
                    doc_id = f"clapnq/{title}"
                    documents.setdefault(doc_id, {"id": doc_id, "title": title, "path": path.name, "metadata": {}})
                    by_key[key] = len(passages)
                    passages.append(_passage(doc_id, title, len(passages) + 1, text))
                ids.add(by_key[key])
            if kind == "answerable":
                questions.append(EvalQuestion(row["input"].strip(), gold_ids=frozenset(ids)))
            else:
                oos.append(row["input"].strip())
    sources = {p.name: _file_hash(p) for p in files.values()} | {"loader": f"clapnq-{LOADER_VERSION}"}
    # Each passage has its own article title, which says what it is about: embedded with it (as the
    # issue's ClapNQ baselines are), unlike a single-document corpus where every passage shares one title.
    return QuestionSet("clapnq-dev", questions, oos, passages, list(documents.values()), sources, embed_context=True)


def load_question_set(spec: str, corpus_dir: Path, out_of_scope: Path | None = None) -> QuestionSet:
    """A set from a path: a SQuAD json (or its folder), a ClapNQ folder, or a JSONL of our format."""
    path = Path(spec)
    if path.is_dir() and (path / "dev-v1.1.json").is_file() or path.name == "dev-v1.1.json":
        return load_squad(path)
    if path.is_dir() and (path / "clapnq_dev_answerable.jsonl").is_file():
        return load_clapnq(path)
    if path.is_file() and path.suffix == ".jsonl":
        return load_jsonl_set(path, corpus_dir, out_of_scope)
    raise ValueError(f"{spec}: not a SQuAD file, a ClapNQ folder or a .jsonl question set")


# ---------------------------------------------------------------------------------------------
# Indexes


def prepare_index(
    qset: QuestionSet,
    settings: Settings,
    encoder: Encoder,
    cache_dir: Path,
    progress=None,
) -> IndexData:
    """Load the set's cached index, or build it with the indexer and save it with the store.

    The cache folder is keyed by the set and the build parameters; inside it the store's manifest check
    decides whether the cached build is still fresh (model, sources, splitter, parameters).
    """
    if qset.embed_context is not None:
        settings = settings.replace(embed_context=qset.embed_context)
    # Evaluation measures the ranking; its indexes live in the cache folder, searched by FAISS (a
    # Milvus setting must not send them to the service's collection).
    settings = settings.replace(vector_store="faiss")
    params = build_params(settings)
    source = (
        qset.sources
        if qset.passages is not None
        else {"corpus": str(Path(qset.corpus_dir or settings.corpus_dir).resolve())}
    )
    key = hashlib.sha256(json.dumps([qset.name, source, params], sort_keys=True).encode()).hexdigest()[:12]
    index_dir = cache_dir / f"{_slug(qset.name)}-{key}"
    if qset.passages is None:
        return ensure_index(
            settings.replace(corpus_dir=qset.corpus_dir or settings.corpus_dir, index_dir=index_dir, rebuild="auto"),
            encoder,
            progress,
        )
    expected = {
        "model": encoder.identity,
        "corpus_fingerprint": IndexManifest.fingerprint(qset.sources),
        "splitter_version": SPLITTER_VERSION,
        "build_params": params,
    }
    settings = settings.replace(index_dir=index_dir)
    try:
        data = load_index(index_dir, store_loader(settings))
        if not check_manifest(data.manifest, expected):
            return data
    except (IndexMissing, IndexCorrupt):
        pass
    data = index_passages(qset.passages, qset.documents, qset.sources, settings, encoder, progress)
    data.build = save_index(index_dir, data).name
    return data


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "set"


def resolve_gold(qset: QuestionSet, passages: Sequence[Passage]) -> list[frozenset[int]]:
    """Each answerable question's gold passage ids in the index (substrings matched normalised)."""
    normalised = [_normalise(p.text) for p in passages]
    gold = []
    for q in qset.questions:
        if q.gold_texts:
            wanted = [_normalise(t) for t in q.gold_texts]
            gold.append(frozenset(i for i, text in enumerate(normalised) if any(w in text for w in wanted)))
        else:
            gold.append(q.gold_ids)
    return gold


def _normalise(text: str) -> str:
    return _SPACE.sub(" ", text).strip().casefold()


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


# ---------------------------------------------------------------------------------------------
# Metrics


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
    import time

    started = time.perf_counter()
    gold = resolve_gold(qset, retriever.passages)
    unresolved = [q.text for q, g in zip(qset.questions, gold) if not g]
    if unresolved:
        raise ValueError(f"{qset.name}: no passage holds the gold of {unresolved[:3]}")
    total = len(qset.questions) * len(modes) + len(qset.out_of_scope)
    done = 0
    reports = []
    flagged_answerable = 0
    misses: list[dict] = []
    for name in modes:
        ranker, mode = _mode(retriever, name)
        ranks = []
        for q, g in zip(qset.questions, gold):
            result = ranker.ask(q.text, 10, mode)
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
    return Report(qset.name, len(retriever.passages), reports, abstention, time.perf_counter() - started, misses)


# ---------------------------------------------------------------------------------------------
# Calibrating the no-answer rule


@dataclass(frozen=True)
class NoAnswerRule:
    """The calibrated confidence (dense + sentence_coef·sentence + coverage_coef·coverage) and threshold."""

    sentence_coef: float
    coverage_coef: float
    threshold: float

    def confidence(self, e: Evidence) -> float:
        """The rule's confidence that the corpus answers, from one question's evidence."""
        return e.dense + self.sentence_coef * e.sentence + self.coverage_coef * e.coverage

    def flags(self, e: Evidence) -> bool:
        """Whether the rule says no_answer (the same decision as :meth:`Retriever.no_answer`)."""
        return self.confidence(e) < self.threshold or bool(e.unknown_names) or e.missing_answer is not None


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
            free = sorted(probe.confidence(e) for e in answerable if not probe.flags(e))
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


# ---------------------------------------------------------------------------------------------
# Output


MODE_LABELS = {
    "full": "final ranking (full)",
    "fusion": "simple fusion (min-max, convex)",
    "dense": "dense only",
    "bm25": "BM25 only",
}


def _label(name: str) -> str:
    base, _, weight = name.partition("@")
    label = MODE_LABELS.get(base, base)
    return label.replace("convex", f"convex {weight}") if weight else label


def format_table(reports: Sequence[Report]) -> str:
    """A Markdown table of every report: one row per set and mode, then the abstention figures."""
    head = "| set | ranking | " + " | ".join(f"R@{k}" for k in CUTOFFS) + " | MRR@10 |"
    lines = [head, "|" + "---|" * (3 + len(CUTOFFS))]
    for report in reports:
        for m in report.modes:
            cells = " | ".join(f"{m.recall[k]:.3f}" for k in CUTOFFS)
            label = f"{report.name} ({m.questions} q, {report.passages} passages)"
            lines.append(f"| {label} | {_label(m.mode)} | {cells} | {m.mrr:.3f} |")
    lines += ["", "| set | out-of-scope flagged no_answer | answerable flagged no_answer |", "|---|---|---|"]
    for report in reports:
        a = report.abstention
        oos = "—" if a.out_of_scope_flagged is None else f"{a.out_of_scope_flagged:.3f} ({a.out_of_scope} q)"
        if a.by_kind:
            oos += "; " + ", ".join(f"{k} {f / n:.3f} ({n} q)" for k, (f, n) in sorted(a.by_kind.items()))
        lines.append(f"| {report.name} | {oos} | {a.answerable_flagged:.3f} ({a.answerable} q) |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The command


DEFAULT_SET = Path("tests/data/statement_questions.jsonl")
DEFAULT_OUT_OF_SCOPE = Path("tests/data/statement_out_of_scope.jsonl")


def ranking_params(settings: Settings, overrides: Sequence[str] = ()) -> RankingParams:
    """The service's ranking parameters, with ``name=value`` overrides (typed like the defaults)."""
    values: dict[str, object] = {
        "dense_weight": settings.dense_weight,
        "no_answer_threshold": settings.no_answer_threshold,
    }
    defaults = RankingParams()
    for item in overrides:
        name, _, raw = item.partition("=")
        name = name.strip().replace("-", "_")
        if not hasattr(defaults, name) or not raw:
            raise ValueError(f"--param {item!r}: expected NAME=VALUE with NAME one of {sorted(vars(defaults))}")
        kind = type(getattr(defaults, name))
        try:
            values[name] = kind(raw)
        except ValueError as exc:
            raise ValueError(f"--param {item!r}: {raw!r} is not a {kind.__name__}") from exc
    return dataclasses.replace(defaults, **values)


def run_cli(
    settings: Settings,
    specs: Sequence[str],
    out_of_scope: str | None,
    limit: int | None,
    modes: Sequence[str],
    overrides: Sequence[str],
    cache_dir: Path,
    misses: int = 0,
    calibrate_rule: bool = False,
    titles: bool | None = None,
) -> tuple[str, dict]:
    """What ``qa-service eval`` does: load each set, index it, evaluate it; the table and the JSON."""
    from .encoder import make_encoder

    params = ranking_params(settings, overrides)
    if not specs:
        specs = [str(DEFAULT_SET)]
        out_of_scope = out_of_scope or (str(DEFAULT_OUT_OF_SCOPE) if DEFAULT_OUT_OF_SCOPE.is_file() else None)
    qsets = [
        load_question_set(spec, settings.corpus_dir, Path(out_of_scope) if out_of_scope else None).sample(limit)
        for spec in specs
    ]
    if titles is not None:
        for qset in qsets:
            qset.embed_context = titles
    # The service's encoder (QA_ENCODER), as the API embeds; set up for batches: the sets are built here.
    encoder = make_encoder(settings, cache_size=0, batch_work=True)
    reports = []
    calibrations: dict[str, Calibration] = {}
    wrong: dict[str, list] = {}
    for qset in qsets:
        index = prepare_index(qset, settings, encoder, cache_dir)
        queries = PrecomputedQueries(encoder, [q.text for q in qset.questions] + qset.out_of_scope, settings.batch_size)
        retriever = Retriever(index, queries, params)
        reports.append(evaluate(retriever, qset, tuple(modes) or DEFAULT_MODES))
        if calibrate_rule and qset.out_of_scope:
            calibrations[qset.name] = calibrate(
                collect_evidence(retriever, [q.text for q in qset.questions]),
                collect_evidence(retriever, qset.out_of_scope),
            )
        if misses:
            wrong[qset.name] = [
                ("answerable flagged", q.text, e)
                for q, e in zip(qset.questions, collect_evidence(retriever, [q.text for q in qset.questions]))
                if retriever.no_answer(e)
            ] + [
                ("out-of-scope not flagged", t, e)
                for t, e in zip(qset.out_of_scope, collect_evidence(retriever, qset.out_of_scope))
                if not retriever.no_answer(e)
            ]
    text = format_table(reports)
    lines = [text]
    for name, c in calibrations.items():
        r = c.rule
        lines.append(
            f"\nno-answer rule fitted on {name}: dense + {r.sentence_coef}·sentence + {r.coverage_coef}·coverage "
            f"< {r.threshold}, or a name/number the corpus lacks, or no number/date where one is asked\n"
            f"  on the questions it was fitted on: out-of-scope flagged {c.out_of_scope_flagged:.3f}, "
            f"answerable flagged {c.answerable_flagged:.3f}\n"
            f"  {c.folds}-fold cross-validated: out-of-scope flagged {c.cv_out_of_scope_flagged:.3f}, "
            f"answerable flagged {c.cv_answerable_flagged:.3f}"
        )
    for name, items in wrong.items():
        for what, question, e in items[: 2 * misses]:
            lines.append(
                f"  {what} [{name}]: {question}  (dense {e.dense}, sentence {e.sentence}, coverage {e.coverage}, "
                f"confidence {e.confidence}, names {list(e.unknown_names)}, missing {e.missing_answer})"
            )
    for report in reports:
        for miss in report.misses[:misses]:
            lines.append(
                f"  miss [{report.name}] rank {miss['rank']}: {miss['question']}  gold {miss['gold']} got {miss['got']}"
            )
    data = {
        "params": dataclasses.asdict(params),
        "model": encoder.identity,
        "embed_context": {
            q.name: settings.embed_context if q.embed_context is None else q.embed_context for q in qsets
        },
        "limit": limit,
        "sets": [r.to_json() for r in reports],
        "calibration": {name: dataclasses.asdict(c) for name, c in calibrations.items()},
    }
    return "\n".join(lines), data
