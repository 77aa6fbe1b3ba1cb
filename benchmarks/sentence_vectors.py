"""Sentence vectors pooled from the passage's run, or each sentence embedded alone: what each costs and gives.

    .venv/bin/python benchmarks/sentence_vectors.py                         # the statement only
    .venv/bin/python benchmarks/sentence_vectors.py --datasets ../shared/datasets   # + ClapNQ dev (minutes)

For each way (``QA_SENTENCE_VECTORS=pooled`` and ``separate``), with the service's encoder: the index build
time and the texts it embeds, recall@1 and recall@3 of the full ranking, and how often the highlighted
sentence of the first answer is a right one (statement: it holds a gold phrase; ClapNQ: it is one of the
sentences the annotators selected, when the first answer is the gold passage). The question sets and their
passages come from ``qa_service.evaluation.datasets``, as ``qa-service eval`` reads them, and are indexed the
way it indexes them (ClapNQ's passages with their titles); the indexes live in a temporary folder.
Writes its own section of BENCHMARKS.md unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.quality import gold_hit, statement_questions  # noqa: E402
from benchmarks.report import write_section  # noqa: E402
from qa_service.evaluation import QuestionSet, load_clapnq  # noqa: E402

HEADING = "## Sentence vectors: pooled from the passage or embedded alone"
MARKERS = ("<!-- sentence_vectors.py: start -->", "<!-- sentence_vectors.py: end -->")
_WORD = re.compile(r"\w+")


@dataclass
class Case:
    """A question set and, per answerable question, whether a highlighted sentence is a right one."""

    qset: QuestionSet
    highlight_right: list[Callable[[str], bool]]

    def gold(self, number: int, answer) -> bool:
        question = self.qset.questions[number]
        if question.gold_texts:
            return gold_hit(question, answer.passage.text)
        return answer.passage_id in question.gold_ids


def statement_case() -> Case:
    qset = statement_questions(ROOT / "corpus")
    return Case(qset, [lambda h, q=q: gold_hit(q, h) for q in qset.questions])


def clapnq_case(folder: Path) -> Case:
    qset = load_clapnq(folder)
    # The annotators' selected sentences are not part of the question set: read them from the answerable
    # file, whose rows the loader turns into questions in the same order.
    with open(folder / "clapnq_dev_answerable.jsonl", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    assert [r["input"].strip() for r in rows] == [q.text for q in qset.questions]
    selected = [[s for o in r["output"] for s in o.get("selected_sentences", [])] for r in rows]
    return Case(qset, [lambda h, s=s: any(_overlap(h, x) >= 0.5 for x in s) for s in selected])


def _overlap(a: str, b: str) -> float:
    """Share of the shorter text's words found in the other (sentence splitters differ at the edges)."""
    wa, wb = set(_WORD.findall(a.casefold())), set(_WORD.findall(b.casefold()))
    return len(wa & wb) / max(1, min(len(wa), len(wb)))


def measure(case: Case, how: str, work: Path) -> dict:
    from qa_service.index import build_encoder, ensure_index
    from qa_service.ranking import RankingParams, Retriever
    from qa_service.settings import Settings

    qset = case.qset
    settings = Settings.from_env(
        index_dir=work / f"index-{qset.name}-{how}",
        sentence_vectors=how,
        query_cache_size=0,
        log_level="warning",
        vector_store="faiss",
    )
    if qset.corpus_dir is not None:
        settings = settings.replace(corpus_dir=qset.corpus_dir)
    if qset.embed_context is not None:
        settings = settings.replace(embed_context=qset.embed_context)
    encoder = build_encoder(settings)
    encoder.warm_up()
    embedded = 0

    def progress(stage: str, done: int, total: int) -> None:
        nonlocal embedded
        embedded = total

    t0 = time.perf_counter()
    index = ensure_index(settings, encoder, progress, force=True, source=qset.source())
    seconds = time.perf_counter() - t0
    retriever = Retriever(index, encoder, RankingParams.from_settings(settings))
    at1 = at3 = highlighted = 0
    for number, question in enumerate(qset.questions):
        answers = retriever.ask(question.text, 3).answers
        hits = [case.gold(number, a) for a in answers]
        at1 += hits[0]
        at3 += any(hits)
        if hits[0]:
            highlighted += case.highlight_right[number](answers[0].highlight.text)
    n = len(qset.questions)
    return {
        "passages": index.manifest.passages,
        "sentences": index.manifest.sentences,
        "embedded": embedded,
        "build_s": round(seconds, 2),
        "recall@1": round(at1 / n, 4),
        "recall@3": round(at3 / n, 4),
        "highlight_right": highlighted,
        "first_answer_right": at1,
        "questions": n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=Path, default=None, help="folder holding clapnq_dev/ (read in place)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qa-sentences-"))
    try:
        sets = {"statement": statement_case()}
        if args.datasets and (args.datasets / "clapnq_dev").is_dir():
            sets["ClapNQ dev"] = clapnq_case(args.datasets / "clapnq_dev")
        results = {
            name: {how: measure(case, how, work) for how in ("pooled", "separate")} for name, case in sets.items()
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    from qa_service.settings import Settings

    settings = Settings.from_env()
    threads = settings.build_threads or os.cpu_count()
    command = "python benchmarks/sentence_vectors.py" + (f" --datasets {args.datasets}" if args.datasets else "")
    lines = [
        f"Command: `{command}` ({time.strftime('%Y-%m-%d', time.gmtime())}, encoder `{settings.encoder}`, "
        f"builds on {threads} core{'s' if threads != 1 else ''}).",
        "",
        "| set | sentence vectors | texts embedded | build | recall@1 | recall@3 "
        "| highlight right (of right first answers) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, by_how in results.items():
        for how, r in by_how.items():
            lines.append(
                f"| {name} ({r['passages']} passages, {r['sentences']} sentences, {r['questions']} q) | `{how}` | "
                f"{r['embedded']} | {r['build_s']:.2f} s | {r['recall@1']:.3f} | {r['recall@3']:.3f} | "
                f"{r['highlight_right']} / {r['first_answer_right']} "
                f"({r['highlight_right'] / max(1, r['first_answer_right']):.1%}) |"
            )
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", table, HEADING, MARKERS)


if __name__ == "__main__":
    main()
