"""A full index build against the encoder's own batch throughput, and the update after removing or adding
one document, in one run.

    python benchmarks/build_speed.py /tmp/ungd-corpus [--remove KAZ_79_2024] [--sample 2000]

The corpus folder (e.g. the 415 UN statements imported with ``qa-service import-ungd``) is copied to a
temporary folder and indexed from scratch with the service's build encoder (QA_ENCODER, QA_BUILD_THREADS).
Then the same encoder embeds a seeded sample of the build's own windows (with their sentence spans, longest
first, in the build's batches) on its own: the build's texts per second over its whole wall time (reading,
splitting, embedding, storing, saving) divided by that rate is the build's efficiency (the issue asks ≥ 0.8).
Last, one document is removed from the copy and the index updated, then put back and the index updated
again; both wall times are printed (the issue asks ≤ 10 s each).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from qa_service.index import build_encoder, ensure_index
from qa_service.index.build import make_windows, sentence_spans
from qa_service.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path, help="corpus folder (not changed: a copy is used)")
    parser.add_argument("--remove", default="KAZ_79_2024", help="document (file stem) removed then added back")
    parser.add_argument("--sample", type=int, default=2000, help="windows embedded alone for the encoder's rate")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="build-speed-"))
    try:
        corpus = work / "corpus"
        shutil.copytree(args.corpus, corpus)
        settings = Settings.from_env(corpus_dir=corpus, index_dir=work / "index", rebuild="auto")
        encoder = build_encoder(settings)

        started = time.perf_counter()
        data = ensure_index(settings, encoder)
        build_s = time.perf_counter() - started
        embedded = data.manifest.embedded

        limit = min(settings.max_passage_tokens, encoder.max_tokens)
        windows = make_windows(data.passages, encoder.count_tokens, limit, settings.embed_context)
        spans, _ = sentence_spans(data.passages, windows)
        rows = random.Random(16).sample(range(len(windows)), min(args.sample, len(windows)))
        rows.sort(key=lambda r: -len(windows[r].text))
        started = time.perf_counter()
        encoder.encode_spans([windows[r].text for r in rows], [spans[r] for r in rows], settings.batch_size)
        encoder_rate = len(rows) / (time.perf_counter() - started)
        data.vectors.close()

        moved = work / "moved"
        moved.mkdir()
        files = [p for p in corpus.rglob(f"{args.remove}.*")]
        for path in files:
            shutil.move(path, moved / path.name)
        started = time.perf_counter()
        ensure_index(settings, encoder).vectors.close()
        remove_s = time.perf_counter() - started
        for path in files:
            shutil.move(moved / path.name, path)
        started = time.perf_counter()
        after = ensure_index(settings, encoder)
        add_s = time.perf_counter() - started
        after.vectors.close()

        build_rate = embedded / build_s
        result = {
            "documents": data.manifest.documents,
            "passages": data.manifest.passages,
            "windows": data.manifest.windows,
            "texts_embedded": embedded,
            "build_s": round(build_s, 1),
            "build_texts_per_s": round(build_rate, 1),
            "encoder_texts_per_s": round(encoder_rate, 1),
            "efficiency": round(build_rate / encoder_rate, 3),
            "remove_one_s": round(remove_s, 2),
            "add_one_s": round(add_s, 2),
            "add_one_embedded": after.manifest.embedded,
            "encoder": settings.encoder,
            "build_threads": settings.build_threads or os.cpu_count(),
            "load_average": os.getloadavg(),
        }
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
