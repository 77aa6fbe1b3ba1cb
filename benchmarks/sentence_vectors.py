"""Sentence vectors pooled from the passage's run, or each sentence embedded alone: what each costs and gives.

    .venv/bin/python benchmarks/sentence_vectors.py                         # the statement only
    .venv/bin/python benchmarks/sentence_vectors.py --datasets ../shared/datasets   # + ClapNQ dev (minutes)

For each way (``QA_SENTENCE_VECTORS=pooled`` and ``separate``), with the service's encoder: the index build
time and the texts it embeds, recall@1 and recall@3 of the full ranking, and how often the highlighted
sentence of the first answer is a right one (statement: it holds a gold phrase; ClapNQ: it is one of the
sentences the annotators selected, when the first answer is the gold passage). ClapNQ's 597 distinct
passages are written into a temporary corpus (each with its title in a sidecar), never into the repository.
Writes its own section of BENCHMARKS.md unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.report import write_section  # noqa: E402

HEADING = "## Sentence vectors: pooled from the passage or embedded alone (issue 4)"
MARKERS = ("<!-- sentence_vectors.py: start -->", "<!-- sentence_vectors.py: end -->")
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+")


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip().casefold()


def statement_set() -> tuple[Path, list[dict]]:
    rows = [json.loads(x) for x in (ROOT / "tests/data/statement_questions.jsonl").read_text().splitlines() if x]
    return ROOT / "corpus", [
        {
            "question": r["question"],
            "gold": lambda p, r=r: any(_norm(g) in _norm(p.text) for g in r["gold"]),
            "highlight": lambda h, r=r: any(_norm(g) in _norm(h) for g in r["gold"]),
        }
        for r in rows
    ]


def clapnq_set(folder: Path, work: Path) -> tuple[Path, list[dict]]:
    corpus = work / "clapnq"
    corpus.mkdir()
    names: dict[str, str] = {}
    rows = []
    for file in ("clapnq_dev_answerable.jsonl", "clapnq_dev_unanswerable.jsonl"):
        for line in (folder / file).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            for p in row["passages"]:
                if p["text"] not in names:
                    names[p["text"]] = name = f"p{len(names):04d}"
                    (corpus / f"{name}.txt").write_text(p["text"].strip() + "\n", encoding="utf-8")
                    (corpus / f"{name}.meta.json").write_text(json.dumps({"title": p["title"]}), encoding="utf-8")
            if file.startswith("clapnq_dev_answerable"):
                gold = names[row["passages"][0]["text"]]
                selected = [s for o in row["output"] for s in o.get("selected_sentences", [])]
                rows.append(
                    {
                        "question": row["input"],
                        "gold": lambda p, g=gold: p.doc_id == g,
                        "highlight": lambda h, s=selected: any(_overlap(h, x) >= 0.5 for x in s),
                    }
                )
    return corpus, rows


def _overlap(a: str, b: str) -> float:
    """Share of the shorter text's words found in the other (sentence splitters differ at the edges)."""
    wa, wb = set(_WORD.findall(a.casefold())), set(_WORD.findall(b.casefold()))
    return len(wa & wb) / max(1, min(len(wa), len(wb)))


def measure(corpus: Path, rows: list[dict], how: str, work: Path) -> dict:
    from qa_service.http.app import make_retriever
    from qa_service.index import build_encoder, build_index
    from qa_service.settings import Settings

    settings = Settings.from_env(
        corpus_dir=corpus,
        index_dir=work / f"index-{corpus.name}-{how}",
        sentence_vectors=how,
        query_cache_size=0,
        log_level="warning",
    )
    encoder = build_encoder(settings)
    encoder.warm_up()
    embedded = 0

    def progress(stage: str, done: int, total: int) -> None:
        nonlocal embedded
        embedded = total

    t0 = time.perf_counter()
    index = build_index(settings, encoder, progress)
    seconds = time.perf_counter() - t0
    retriever = make_retriever(settings, index, encoder)
    at1 = at3 = highlighted = 0
    for row in rows:
        answers = retriever.ask(row["question"], 3).answers
        hits = [row["gold"](a.passage) for a in answers]
        at1 += hits[0]
        at3 += any(hits)
        if hits[0]:
            highlighted += row["highlight"](answers[0].highlight.text)
    n = len(rows)
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
        sets = {"statement": statement_set()}
        if args.datasets and (args.datasets / "clapnq_dev").is_dir():
            sets["ClapNQ dev"] = clapnq_set(args.datasets / "clapnq_dev", work)
        results = {
            name: {how: measure(corpus, rows, how, work) for how in ("pooled", "separate")}
            for name, (corpus, rows) in sets.items()
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    from qa_service.settings import Settings

    lines = [
        f"Command: `python benchmarks/sentence_vectors.py{' --datasets ' + str(args.datasets) if args.datasets else ''}`"
        f" ({time.strftime('%Y-%m-%d', time.gmtime())}, encoder `{Settings.from_env().encoder}`, one thread).",
        "",
        "| set | sentence vectors | texts embedded | build | recall@1 | recall@3 | highlight right (of right first answers) |",
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
