"""Retrieval quality for the benchmark: recall on the statement questions through the full ranking, and a
dense-only comparison of encoders on the public sets (read in place, never copied)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np

_SPACE = re.compile(r"\s+")


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip().casefold()


def gold_hit(row: dict, text: str) -> bool:
    """A passage answers when it holds one of the row's gold substrings (whitespace and case folded)."""
    passage = _norm(text)
    return any(_norm(g) in passage for g in row["gold"])


def recall_at(retriever, rows: list[dict], k: int) -> float:
    """Share of questions with a gold passage among the first ``k`` answers (the full ranking)."""
    hits = sum(any(gold_hit(row, a.passage.text) for a in retriever.ask(row["question"], k).answers) for row in rows)
    return round(hits / len(rows), 4)


def clapnq(folder: Path) -> tuple[list[str], list[tuple[str, int]]]:
    """ClapNQ dev: the distinct passages of both files pooled; each answerable question's own passage is gold."""
    texts: dict[str, int] = {}
    questions = []
    for name in ("clapnq_dev_answerable.jsonl", "clapnq_dev_unanswerable.jsonl"):
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            ids = [texts.setdefault(p["text"], len(texts)) for p in row["passages"]]
            if name.startswith("clapnq_dev_answerable"):
                questions.append((row["input"], ids[0]))
    return list(texts), questions


def squad(folder: Path, sample: int) -> tuple[list[str], list[tuple[str, int]]]:
    """SQuAD v1.1 dev: every paragraph is a passage, each question's own paragraph is gold (a seeded sample)."""
    data = json.loads((folder / "dev-v1.1.json").read_text(encoding="utf-8"))
    passages, questions = [], []
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            passages.append(paragraph["context"])
            questions.extend((qa["question"], len(passages) - 1) for qa in paragraph["qas"])
    if sample and sample < len(questions):
        questions = random.Random(4).sample(questions, sample)
    return passages, questions


def dataset_recall(datasets: Path, encoders: dict, squad_sample: int) -> dict:
    """Dense recall@1 of each encoder on the public sets: passages and questions embedded by the encoder,
    the best passage by cosine. This isolates the encoder (no lexical part, no sentence score)."""
    sets = {}
    if (datasets / "clapnq_dev").is_dir():
        sets["clapnq_dense"] = clapnq(datasets / "clapnq_dev")
    if (datasets / "squad_v1.1_dev").is_dir():
        sets["squad_dense"] = squad(datasets / "squad_v1.1_dev", squad_sample)
    out = {}
    for name, (passages, questions) in sets.items():
        out[name] = {"passages": len(passages), "questions": len(questions)}
        gold = np.array([g for _, g in questions])
        for encoder_name, encoder in encoders.items():
            p = encoder.encode(passages, 32)
            q = encoder.encode([text for text, _ in questions], 32)
            best = np.argmax(q @ p.T, axis=1)
            out[name][encoder_name] = round(float(np.mean(best == gold)), 4)
    return out
