"""Would batching concurrent questions into one model run raise throughput, and would it change answers?

    .venv/bin/python benchmarks/batching.py                  # the service's encoder (QA_ENCODER)
    QA_ENCODER=onnx .venv/bin/python benchmarks/batching.py

Encodes the 55 statement questions on one thread, alone and in runs of 2, 4 and 8 (padded to the longest,
as one ``session.run``), and prints the CPU milliseconds per question (median of ``--rounds``) and how far
a question's vector in a run moves from its vector alone (1 - cosine, the largest over the questions).
With int8 activations quantised with one scale per run, a question's vector depends on the questions it
shares a run with: under load its answers would depend on who else asked at the same moment.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.quality import statement_questions  # noqa: E402
from qa_service.encoders import make_encoder  # noqa: E402
from qa_service.encoders.base import pool_tokens  # noqa: E402
from qa_service.settings import Settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed passes over the questions per run size")
    parser.add_argument("--sizes", default="1,2,4,8", help="questions per model run")
    args = parser.parse_args()

    settings = Settings.from_env(torch_threads=1)
    encoder = make_encoder(settings, cache_size=0)
    if not hasattr(encoder, "_run"):
        raise SystemExit(f"{settings.encoder}: only the ONNX encoders run a batch as one session run")
    questions = [q.text for q in statement_questions(settings.corpus_dir.resolve()).questions]
    encoder.warm_up()

    def vectors(size: int) -> np.ndarray:
        out = []
        for start in range(0, len(questions), size):
            tokens, encodings = encoder._run(questions[start : start + size])
            for row, encoding in enumerate(encodings):
                vector, _ = pool_tokens(tokens[row, : len(encoding.ids)], encoding.offsets, (), 0)
                out.append(vector)
        return np.array(out)

    alone = vectors(1)
    print(f"encoder {encoder.identity}, {len(questions)} questions, 1 thread, load {os.getloadavg()[0]:.2f}")
    print("| questions per run | CPU ms per question | largest 1 - cosine to the question alone |")
    print("|---:|---:|---:|")
    for size in [int(s) for s in args.sizes.split(",")]:
        times = []
        for _ in range(args.rounds):
            started = time.thread_time()
            batched = vectors(size)
            times.append((time.thread_time() - started) / len(questions) * 1000)
        drift = float(np.max(1 - np.sum(alone * batched, axis=1)))
        print(f"| {size} | {statistics.median(times):.3f} | {drift:.2e} |")


if __name__ == "__main__":
    main()
