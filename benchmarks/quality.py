"""Retrieval quality for the benchmark: recall on the statement questions through the full ranking, and a
dense-only comparison of encoders on the public sets.

Every question set comes from ``qa_service.evaluation.datasets``, the loaders ``qa-service eval`` uses (same
passages, same de-duplication, the same seeded ``QuestionSet.sample``); nothing is copied.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qa_service.corpus import fold
from qa_service.evaluation import EvalQuestion, QuestionSet, load_clapnq, load_jsonl_set, load_squad

ROOT = Path(__file__).resolve().parent.parent
STATEMENT_QUESTIONS = ROOT / "tests" / "data" / "statement_questions.jsonl"


def statement_questions(corpus_dir: Path) -> QuestionSet:
    """The statement questions (our JSONL, gold substrings), asked of ``corpus_dir``."""
    return load_jsonl_set(STATEMENT_QUESTIONS, corpus_dir)


def gold_hit(question: EvalQuestion, text: str) -> bool:
    """A passage answers when it holds one of the question's gold substrings (whitespace and case folded),
    the rule of ``qa-service eval``."""
    passage = fold(text)
    return any(fold(g) in passage for g in question.gold_texts)


def recall_at(retriever, qset: QuestionSet, k: int) -> float:
    """Share of questions with a gold passage among the first ``k`` answers (the full ranking)."""
    hits = sum(any(gold_hit(q, a.passage.text) for a in retriever.ask(q.text, k).answers) for q in qset.questions)
    return round(hits / len(qset.questions), 4)


def dataset_recall(datasets: Path, encoders: dict, squad_sample: int) -> dict:
    """Dense recall@1 of each encoder on the public sets: passages and questions embedded by the encoder,
    the best passage by cosine. This isolates the encoder (no lexical part, no sentence score, passages
    embedded without their titles). SQuAD's questions are sampled with ``QuestionSet.sample`` (0: all)."""
    sets: dict[str, QuestionSet] = {}
    if (datasets / "clapnq_dev").is_dir():
        sets["clapnq_dense"] = load_clapnq(datasets / "clapnq_dev")
    if (datasets / "squad_v1.1_dev").is_dir():
        sets["squad_dense"] = load_squad(datasets / "squad_v1.1_dev").sample(squad_sample)
    out = {}
    for name, qset in sets.items():
        passages = [p.text for p in qset.passages or []]
        out[name] = {"passages": len(passages), "questions": len(qset.questions)}
        for encoder_name, encoder in encoders.items():
            p = encoder.encode(passages, 32)
            q = encoder.encode([question.text for question in qset.questions], 32)
            best = np.argmax(q @ p.T, axis=1)
            hits = [int(b) in question.gold_ids for b, question in zip(best, qset.questions)]
            out[name][encoder_name] = round(float(np.mean(hits)), 4)
    return out
