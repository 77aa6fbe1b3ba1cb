"""Question sets: our JSONL over a corpus folder, SQuAD v1.1 dev and ClapNQ dev, read in place.

A question set is a corpus and questions with their gold: our own JSONL over the service's corpus
(``{"question", "gold": [substrings]}``; a passage is a hit when it contains a gold substring after
whitespace is collapsed and case folded), SQuAD v1.1 dev (each paragraph a passage, gold = the
question's own paragraph) or ClapNQ dev (the distinct passages of both files pooled, gold = the
question's own passage). ``qa-service eval`` and the benchmarks read the public sets through these
loaders only.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..corpus import DocumentRecord, Passage, collapse_space, split_sentences
from ..index import Filter, PassageSource

#: Bumped when a dataset loader changes what passages it makes, so cached indexes are rebuilt.
LOADER_VERSION = "1"


@dataclass(frozen=True)
class EvalQuestion:
    """A question and its gold: passage ids (datasets) or substrings a hit must contain (our JSONL)."""

    text: str
    gold_ids: frozenset[int] = frozenset()
    gold_texts: tuple[str, ...] = ()
    answers: tuple[str, ...] = ()  # the short answers a reader accepts (SQuAD's, or our factoid set's)
    split: str = ""  # "tune" or "held_out" in our sets; "" when the set has no splits
    document: str | None = None  # the gold must lie in this document
    filters: Filter | None = None  # asked with these filters, as the API applies them
    kind: str = ""  # a label for reports (e.g. who_spoke, filtered)


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
    documents: list[DocumentRecord] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    corpus_dir: Path | None = None
    embed_context: bool | None = None  # None: the service's setting
    out_of_scope_kinds: list[str] = field(default_factory=list)  # e.g. off_topic, near_miss (our JSONL)
    out_of_scope_splits: list[str] = field(default_factory=list)  # "tune"/"held_out"/"" per out-of-scope question

    def source(self) -> PassageSource | None:
        """The set's ready-made passages to index (None: the set is asked of a corpus folder)."""
        if self.passages is None:
            return None
        return PassageSource(self.passages, self.documents, self.sources)

    def sample(self, limit: int | None, seed: int = 13) -> QuestionSet:
        """The same set with at most ``limit`` answerable and ``limit`` out-of-scope questions (seeded)."""
        if not limit:
            return self
        rng = random.Random(seed)
        pick = lambda items: items if len(items) <= limit else rng.sample(items, limit)  # noqa: E731
        copy = QuestionSet(**{**self.__dict__})
        copy.questions = pick(self.questions)
        n = len(self.out_of_scope)
        rows = pick(
            list(zip(self.out_of_scope, self.out_of_scope_kinds or [""] * n, self.out_of_scope_splits or [""] * n))
        )
        copy.out_of_scope = [q for q, _, _ in rows]
        copy.out_of_scope_kinds = [k for _, k, _ in rows] if self.out_of_scope_kinds else []
        copy.out_of_scope_splits = [s for _, _, s in rows] if self.out_of_scope_splits else []
        return copy


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSON-lines file (blank lines skipped)."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _strings(value: object) -> list[str]:
    if not value:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]  # type: ignore[union-attr]


def load_jsonl_set(
    path: Path,
    corpus_dir: Path,
    out_of_scope: Path | Sequence[Path] | None = None,
    name: str | None = None,
) -> QuestionSet:
    """Our own format: ``{"question", "gold": [substrings], ...}`` rows, asked of ``corpus_dir``.

    Optional fields: ``"answer"`` (the short answer: a string, or a list of the spans a reader accepts),
    ``"split"`` (``"tune"`` or ``"held_out"``), ``"document"`` (the gold passage must be in that document),
    ``"filters"`` (``{"country": [codes], "document": [ids], "year_from": Y, "year_to": Y}``, applied as the
    API applies them) and ``"kind"`` (a label for reports). Out-of-scope rows (``{"question", "kind"?,
    "split"?}`` without gold) come from the ``out_of_scope`` file(s) when given.
    """
    questions = []
    for number, row in enumerate(read_jsonl(path), 1):
        gold = _strings(row.get("gold"))
        if not gold:
            raise ValueError(f"{path}: question without gold: {row.get('question')!r}")
        split = str(row.get("split", ""))
        if split not in ("", "tune", "held_out"):
            raise ValueError(f"{path}, row {number}: split must be 'tune' or 'held_out', not {split!r}")
        questions.append(
            EvalQuestion(
                row["question"],
                gold_texts=tuple(gold),
                answers=tuple(_strings(row.get("answer"))),
                split=split,
                document=row.get("document"),
                filters=parse_filters(row.get("filters"), f"{path}, row {number}"),
                kind=str(row.get("kind", "")),
            )
        )
    files = [out_of_scope] if isinstance(out_of_scope, Path) else list(out_of_scope or [])
    rows = [row for f in files for row in read_jsonl(f)]
    return QuestionSet(
        name or path.stem,
        questions,
        [row["question"] for row in rows],
        corpus_dir=corpus_dir,
        out_of_scope_kinds=[str(row.get("kind", "")) for row in rows],
        out_of_scope_splits=[str(row.get("split", "")) for row in rows],
    )


def parse_filters(raw: dict | None, where: str = "filters") -> Filter | None:
    """A question's ``"filters"`` object as a :class:`Filter` (None when absent or empty)."""
    if not raw:
        return None
    unknown = set(raw) - {"country", "document", "year_from", "year_to"}
    if unknown:
        raise ValueError(f"{where}: unknown filter(s) {sorted(unknown)}: use country, document, year_from, year_to")

    def names(key: str, upper: bool = False) -> frozenset[str] | None:
        value = raw.get(key)
        if value is None:
            return None
        items = [value] if isinstance(value, str) else list(value)
        return frozenset(str(v).upper() if upper else str(v) for v in items)

    years = {k: raw.get(k) for k in ("year_from", "year_to")}
    for key, value in years.items():
        if value is not None and not isinstance(value, int):
            raise ValueError(f"{where}: {key} must be a year (an integer), not {value!r}")
    return Filter(names("document"), names("country", upper=True), years["year_from"], years["year_to"])


def _passage(doc_id: str, title: str, number: int, text: str) -> Passage:
    text = collapse_space(text)
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


def public_split(key: str) -> str:
    """The split of a public dataset's question: a third ``held_out`` by a stable hash of ``key`` (SQuAD's
    paragraph, so that its questions stay together; ClapNQ's question), the rest ``tune``. Parameters are
    chosen on the tune split; the held-out one says whether a gain holds."""
    return "held_out" if int(hashlib.sha256(key.encode("utf-8")).hexdigest(), 16) % 3 == 0 else "tune"


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
        documents.append(DocumentRecord(doc_id, title, path.name))
        for n, paragraph in enumerate(article["paragraphs"], start=1):
            pid = len(passages)
            passages.append(_passage(doc_id, title, n, paragraph["context"]))
            split = public_split(f"{article['title']}/{n}")
            questions.extend(
                EvalQuestion(
                    qa["question"].strip(),
                    gold_ids=frozenset({pid}),
                    answers=tuple(dict.fromkeys(a["text"] for a in qa.get("answers", []))),
                    split=split,
                )
                for qa in paragraph["qas"]
            )
    sources = {path.name: _file_hash(path), "loader": f"squad-{LOADER_VERSION}"}
    return QuestionSet("squad-dev", questions, [], passages, documents, sources)


def load_clapnq(folder: Path) -> QuestionSet:
    """ClapNQ dev: the distinct passages of the answerable and unanswerable files pooled as the corpus.

    The 300 answerable questions have their own passage as gold; the unanswerable ones are kept as
    out-of-scope questions (their own passage is in the corpus but does not answer them).
    """
    files = {kind: folder / f"clapnq_dev_{kind}.jsonl" for kind in ("answerable", "unanswerable")}
    passages: list[Passage] = []
    documents: dict[str, DocumentRecord] = {}
    by_key: dict[tuple[str, str], int] = {}
    questions: list[EvalQuestion] = []
    oos: list[str] = []
    for kind, path in files.items():
        for row in read_jsonl(path):
            ids = set()
            for item in row["passages"]:
                title, text = item.get("title", "").strip(), collapse_space(item["text"])
                key = (title, text)
                if key not in by_key:
                    doc_id = f"clapnq/{title}"
                    documents.setdefault(doc_id, DocumentRecord(doc_id, title, path.name))
                    by_key[key] = len(passages)
                    passages.append(_passage(doc_id, title, len(passages) + 1, text))
                ids.add(by_key[key])
            if kind == "answerable":
                question = row["input"].strip()
                questions.append(EvalQuestion(question, gold_ids=frozenset(ids), split=public_split(question)))
            else:
                oos.append(row["input"].strip())
    sources = {p.name: _file_hash(p) for p in files.values()} | {"loader": f"clapnq-{LOADER_VERSION}"}
    # Each passage has its own article title, which says what it is about: embedded with it (as the
    # issue's ClapNQ baselines are), unlike a single-document corpus where every passage shares one title.
    return QuestionSet("clapnq-dev", questions, oos, passages, list(documents.values()), sources, embed_context=True)


def load_question_set(spec: str, corpus_dir: Path, out_of_scope: Path | Sequence[Path] | None = None) -> QuestionSet:
    """A set from a path: a SQuAD json (or its folder), a ClapNQ folder, or a JSONL of our format."""
    path = Path(spec)
    if path.is_dir() and (path / "dev-v1.1.json").is_file() or path.name == "dev-v1.1.json":
        return load_squad(path)
    if path.is_dir() and (path / "clapnq_dev_answerable.jsonl").is_file():
        return load_clapnq(path)
    if path.is_file() and path.suffix == ".jsonl":
        return load_jsonl_set(path, corpus_dir, out_of_scope)
    raise ValueError(f"{spec}: not a SQuAD file, a ClapNQ folder or a .jsonl question set")
