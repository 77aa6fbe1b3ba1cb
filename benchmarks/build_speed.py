"""A full index build against the encoder's own batch throughput, and the update after removing or adding
one document, in one run.

    python benchmarks/build_speed.py /tmp/ungd-corpus [--remove KAZ_79_2024] [--share 0.2]

The corpus folder (e.g. the 415 UN statements imported with ``qa-service import-ungd``) is copied to a
temporary folder and indexed from scratch with the service's build encoder (QA_ENCODER, QA_BUILD_THREADS).
The same encoder object (same threads and parallel runs, same call: ``encode_spans`` with the windows'
sentence spans) also embeds some of the build's own batches alone (its windows longest first, QA_BATCH_SIZE
at a time, taken evenly from the longest to the shortest), one at a time between the build's steps (from its progress
callback, while none of its own work runs), whenever the encoder alone has had less than ``--share`` of
the time so far: both rates are measured over the same minutes, so the load of a shared machine weighs on
both alike, and the build's time and CPU time exclude what was embedded alone. The windows are made first
by the build's own functions and checked to be the build's.

The build's texts per second over its whole wall time (reading, splitting, embedding, storing, saving;
each phase's time is printed, as its progress reports it) divided by the encoder's rate is the build's
efficiency (the issue asks ≥ 0.8); ``cpu_efficiency`` is the same ratio in CPU seconds per text (all
threads). Last, one document is removed from the copy and the index updated, then put back and the index
updated again; both wall times are printed (the issue asks ≤ 10 s each).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from qa_service.corpus import corpus_files, document_passages, load_document
from qa_service.index import build_encoder, ensure_index
from qa_service.index.windows import make_windows, sentence_spans
from qa_service.settings import Settings


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _spread(n: int) -> list[int]:
    """0..n-1 in the order of the middles of ever finer halves (n/2, n/4, 3n/4, n/8, ...): every beginning of
    it is spread evenly over them."""
    bits = n.bit_length() + 1
    order: dict[int, None] = {}
    for i in range(1, 1 << bits):
        order.setdefault(int(int(format(i, f"0{bits}b")[::-1], 2) * n / (1 << bits)), None)
    return list(order)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path, help="corpus folder (not changed: a copy is used)")
    parser.add_argument("--remove", default="KAZ_79_2024", help="document (file stem) removed then added back")
    parser.add_argument("--share", type=float, default=0.2, help="part of the run's time spent embedding alone")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="build-speed-"))
    try:
        corpus = work / "corpus"
        shutil.copytree(args.corpus, corpus)
        settings = Settings.from_env(corpus_dir=corpus, index_dir=work / "index", rebuild="auto")
        encoder = build_encoder(settings)

        # The build's windows, made as a fresh build makes them (checked against the build below).
        limit = min(settings.max_passage_tokens, encoder.max_tokens)
        passages = []
        for path in corpus_files(corpus):
            document = load_document(path, corpus)
            passages.extend(document_passages(document, encoder.count_tokens, limit, settings.attribution_passages))
        windows = make_windows(passages, encoder.count_tokens, limit, settings.embed_context)
        spans, _ = sentence_spans(passages, windows)
        # The build's own batches (its windows longest first, QA_BATCH_SIZE at a time, as encode_spans cuts
        # them), to embed alone between the build's steps, in an order whose every beginning is spread evenly
        # from the longest to the shortest (a random order's first few hundred were 5% longer than the whole).
        order = sorted(range(len(windows)), key=lambda w: -len(windows[w].text))
        batches = [order[i : i + settings.batch_size] for i in range(0, len(order), settings.batch_size)]
        batches = [batches[i] for i in reversed(_spread(len(batches)))]  # taken from the end
        alone = {"texts": 0, "wall": 0.0, "cpu": 0.0}
        last_call: dict[str, float] = {}  # when the build last reported each phase, on its own clock
        loads = {}

        def progress(phase: str, done: int, total: int) -> None:
            # Called between the build's steps, while none of its work runs: one of its batches is embedded
            # alone whenever the encoder alone has had less than --share of the time so far.
            now = time.perf_counter()
            if batches and alone["wall"] < args.share * (now - started):
                batch, cpu = batches.pop(), time.process_time()
                encoder.encode_spans([windows[r].text for r in batch], [spans[r] for r in batch], settings.batch_size)
                alone["wall"] += time.perf_counter() - now
                alone["cpu"] += time.process_time() - cpu
                alone["texts"] += len(batch)
            last_call[phase] = time.perf_counter() - alone["wall"]

        encoder.warm_up()
        loads["build_start"] = _load()
        started, cpu = time.perf_counter(), time.process_time()
        data = ensure_index(settings, encoder, progress)
        build_s = time.perf_counter() - started - alone["wall"]
        build_cpu = time.process_time() - cpu - alone["cpu"]
        phases = {
            "reading_splitting": last_call["reading"] - started,
            "windows_embedding": last_call["embedding"] - last_call["reading"],
            "storing_saving": started + build_s - last_call["embedding"],
        }
        loads["build_end"] = _load()
        embedded = data.manifest.embedded
        if [
            (w.passage, w.text)
            for w in make_windows(data.passages, encoder.count_tokens, limit, settings.embed_context)
        ] != [(w.passage, w.text) for w in windows]:
            raise SystemExit("the build's windows are not the ones embedded alone")
        encoder_rate, encoder_cpu_rate = alone["texts"] / alone["wall"], alone["texts"] / alone["cpu"]
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
            "encoder_texts_alone": alone["texts"],
            "efficiency": round(build_rate / encoder_rate, 3),
            "build_phases_s": {k: round(v, 1) for k, v in phases.items()},
            "build_cpu_s": round(build_cpu, 1),
            "cpu_efficiency": round(embedded / build_cpu / encoder_cpu_rate, 3),
            "remove_one_s": round(remove_s, 2),
            "add_one_s": round(add_s, 2),
            "add_one_embedded": after.manifest.embedded,
            "encoder": settings.encoder,
            "build_threads": settings.build_threads or os.cpu_count(),
            "load_average": loads | {"end": _load()},
        }
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
