"""Speed of statement-qa against the model's own floor and its encode-bound ceiling, measured in one run.

    .venv/bin/python benchmarks/bench.py            # the whole benchmark, about 4 minutes on a quiet machine
    .venv/bin/python benchmarks/bench.py --quick    # fewer repeats, one HTTP round
    .venv/bin/python benchmarks/bench.py --datasets ../shared/datasets   # + dense recall on ClapNQ and SQuAD

Measures, on this machine and in this run:

1. the floor: the model alone (sentence-transformers on torch) encoding one question (median, p95; 1 and 2
   threads) and batches of 32 passages (passages/s);
2. ``ask`` in process with the service's encoder (question in, ranked answers out), interleaved question
   by question with the floor so that both see the same noise;
3. HTTP against ``qa-service serve`` (gunicorn) with wrk at concurrency 1, 4 and 16;
4. cold start: ``qa-service serve`` started until ``/readyz`` answers, with a built index;
5. index build throughput against the floor's batch throughput;
6. memory of one worker (RSS and PSS);
7. retrieval quality per encoder (recall@1 on the statement questions; dense recall@1 on ClapNQ and SQuAD
   when ``--datasets`` holds them) and txtai, the peer, on the same passages and questions (run in its own
   environment ``.venv-txtai`` when it exists).

Every time is also stated as a ratio to the floor of the same run. Results go to ``.bench-results/bench.json``
(git-ignored) and to a section of ``BENCHMARKS.md`` between its ``bench.py`` markers. Question embeddings are not cached
in any timed figure (``QA_QUERY_CACHE_SIZE=0``), except the row that says so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from benchmarks import report  # noqa: E402
from benchmarks.quality import dataset_recall, gold_hit, recall_at, statement_questions  # noqa: E402
from benchmarks.server_process import free_port, start, stop, wait_ready  # noqa: E402

#: Generated results: git-ignored, never committed.
RESULTS = ROOT / ".bench-results"
CONCURRENCY = (1, 4, 16)
#: Builds timed beside the default one, each changing one setting: what sentences embedded alone cost, and
#: what the float32 encoder costs against the default int8 one.
ALTERNATIVE_BUILDS = {"separate sentences": {"sentence_vectors": "separate"}, "float32": {"encoder": "onnx"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, one HTTP round, no datasets")
    parser.add_argument("--rounds", type=int, default=5, help="passes over the questions for in-process timings")
    parser.add_argument("--http-rounds", type=int, default=3, help="wrk runs per concurrency level")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--cold-starts", type=int, default=5, help="cold starts to time")
    parser.add_argument(
        "--datasets",
        type=Path,
        default=None,
        help="folder with clapnq_dev/ and squad_v1.1_dev/ (read in place) for dense recall per "
        "encoder, e.g. ../shared/datasets (adds a few minutes)",
    )
    parser.add_argument("--squad-questions", type=int, default=1000, help="SQuAD questions sampled (0: all)")
    parser.add_argument("--json", type=Path, default=RESULTS / "bench.json", help="where the results go (JSON)")
    parser.add_argument("--markdown", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.http_rounds, args.duration, args.cold_starts = 2, 1, 3, 2
        args.datasets = None

    started = time.time()
    work = Path(tempfile.mkdtemp(prefix="qa-bench-"))
    try:
        results = run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["seconds"] = round(time.time() - started, 1)
    results["command"] = " ".join(["python benchmarks/bench.py", *sys.argv[1:]])
    table = report.markdown(results)
    print("\n" + table)
    if not args.no_write:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        report.write_section(args.markdown, table)
        print(f"\nwrote {args.json} and the speed section of {args.markdown.name}")


def run(args: argparse.Namespace, work: Path) -> dict:
    import numpy as np
    import torch

    from qa_service.encoders import make_encoder
    from qa_service.encoders.torch_backend import SentenceTransformerEncoder
    from qa_service.index import build_encoder, build_index
    from qa_service.ranking import RankingParams, Retriever
    from qa_service.settings import Settings

    settings = Settings.from_env(index_dir=work / "index", query_cache_size=0, log_level="warning")
    settings = settings.replace(
        model_cache_dir=settings.model_cache_dir.resolve(), corpus_dir=settings.corpus_dir.resolve()
    )
    qset = statement_questions(settings.corpus_dir)
    questions = [q.text for q in qset.questions]
    from qa_service.http.server import server_threads

    results: dict = {
        "machine": machine(),
        "settings": {
            "encoder": settings.encoder,
            "workers": settings.workers,
            "threads": settings.threads,
            "max_queue": settings.max_queue,
            "server_threads": server_threads(settings),
            "encoder_threads": settings.torch_threads,
            "sentence_vectors": settings.sentence_vectors,
        },
        "questions": len(questions),
    }
    log(f"{len(questions)} questions, encoder {settings.encoder}, load {os.getloadavg()[0]:.2f}")

    # The service's index, built as `qa-service build` builds it, then the serving encoder.
    builder = build_encoder(settings)
    builder.warm_up()
    index = build_index(settings, builder)
    passages = [p.text for p in index.passages]
    serving = make_encoder(settings, cache_size=0)
    serving.warm_up()
    params = RankingParams.from_settings(settings)
    retriever = Retriever(index, serving, params)
    floor_model = SentenceTransformerEncoder(settings.resolved_model(), 1, 0)
    floor_model.warm_up()

    def floor_encode(texts: list[str], batch: int = 1) -> None:
        with torch.inference_mode():
            floor_model.model.encode(
                texts, batch_size=batch, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
            )

    # 1-2. Floor and ask, interleaved question by question (1 thread each: a worker's layout).
    log("floor and ask, in process")
    torch.set_num_threads(1)
    timings: dict[str, list[float]] = {"floor_1": [], "ask": [], "encoder": []}
    for q in questions[:5]:
        floor_encode([q]), retriever.ask(q, 3), serving.encode_query(q)
    for _ in range(args.rounds):
        for q in questions:
            timings["floor_1"].append(timed(floor_encode, [q]))
            timings["ask"].append(timed(retriever.ask, q, 3))
            timings["encoder"].append(timed(serving.encode_query, q))
    torch.set_num_threads(2)
    timings["floor_2"] = [timed(floor_encode, [q]) for _ in range(args.rounds) for q in questions]
    cached = make_encoder(settings, cache_size=1024)  # with the LRU cache: a question asked again
    cached_retriever = Retriever(index, cached, params)
    for q in questions:
        cached_retriever.ask(q, 3)
    timings["ask_cached"] = [timed(cached_retriever.ask, q, 3) for q in questions]
    results["latency_ms"] = {k: summary(v) for k, v in timings.items()}

    # 5. Batch floor (the corpus's passages in batches of 32, at 1 and 2 threads) and index builds (as
    # `qa-service build` does them, without the model's load), interleaved round by round so that every
    # figure sees the same noise.
    log("batch floor and index build")
    batch_texts = (passages * (64 // max(1, len(passages)) + 1))[: max(64, len(passages))]
    times: dict[str, list[float]] = {"floor_1": [], "floor_2": [], "encoder_build": [], "build": []}
    alternatives = {}
    for name, changes in ALTERNATIVE_BUILDS.items():
        alt_settings = settings.replace(**changes)
        alternatives[name] = (alt_settings, build_encoder(alt_settings))
        alternatives[name][1].warm_up()
        times[name] = []
    floor_encode(batch_texts[:32], 32)
    for i in range(max(3, args.rounds)):
        for threads in (1, 2):
            torch.set_num_threads(threads)
            times[f"floor_{threads}"].append(timed(floor_encode, batch_texts, 32))
        torch.set_num_threads(1)
        times["encoder_build"].append(timed(builder.encode, batch_texts, 32))
        times["build"].append(timed(build_index, settings.replace(index_dir=work / f"build-{i}"), builder))
        for name, (alt_settings, alt_builder) in alternatives.items():
            times[name].append(timed(build_index, alt_settings.replace(index_dir=work / f"{name}-{i}"), alt_builder))
    batch = {k: per_second(len(batch_texts), times[k]) for k in ("floor_1", "floor_2", "encoder_build")}
    results["batch_passages_per_s"] = {k: round(v, 1) for k, v in batch.items()}
    m = index.manifest
    results["build"] = {
        "passages": m.passages,
        "windows": m.windows,
        "sentences": m.sentences,
        "seconds": round(statistics.median(times["build"]) / 1000, 4),
        "passages_per_s": round(per_second(m.passages, times["build"]), 1),
        "threads": settings.build_threads or os.cpu_count(),
        "alternatives": {
            name: {
                "settings": ALTERNATIVE_BUILDS[name],
                "passages_per_s": round(per_second(m.passages, times[name]), 1),
            }
            for name in alternatives
        },
    }

    # 7a. Quality per encoder: each over its own index, the full ranking.
    log("recall per encoder")
    quality = {}
    encoders = (
        ("torch", {}),
        ("onnx", {}),
        ("onnx-int8", {}),
        ("onnx + separate sentences", {"encoder": "onnx", "sentence_vectors": "separate"}),
    )
    for name, changes in encoders:
        enc_settings = settings.replace(**{"encoder": name, **changes, "index_dir": work / f"q-{len(quality)}"})
        enc = build_encoder(enc_settings)
        r = Retriever(build_index(enc_settings, enc), make_encoder(enc_settings, cache_size=0), params)
        quality[name] = {"recall@1": recall_at(r, qset, 1), "recall@3": recall_at(r, qset, 3)}
        torch.set_num_threads(1)  # as in a worker
        quality[name]["ask_ms"] = statistics.median(timed(r.ask, q, 3) for _ in range(2) for q in questions)
    results["quality"] = {"statement": quality}
    if args.datasets and args.datasets.is_dir():
        log("dense recall on the public sets")
        torch.set_num_threads(1)
        results["quality"].update(
            dataset_recall(
                args.datasets,
                {
                    "torch": make_encoder(settings.replace(encoder="torch"), cache_size=0),
                    "onnx-int8": make_encoder(settings.replace(encoder="onnx-int8"), cache_size=0),
                },
                args.squad_questions,
            )
        )

    # 7b. The peer.
    results["txtai"] = run_txtai(passages, qset, work)

    # 3, 4, 6. The production server.
    del retriever, cached_retriever
    results.update(run_server(args, settings, questions, work))
    results["floor"] = {
        "single_ms": min(results["latency_ms"]["floor_1"]["median"], results["latency_ms"]["floor_2"]["median"]),
        "single_1_thread_ms": results["latency_ms"]["floor_1"]["median"],
        "batch_passages_per_s": max(batch["floor_1"], batch["floor_2"]),
    }
    results["machine"]["load_after"] = round(os.getloadavg()[0], 2)
    _ = np  # numpy is imported for torch's sake first
    return results


# ---------------------------------------------------------------------------------------------------
# The server: cold start, wrk, memory


def run_server(args: argparse.Namespace, settings, questions: list[str], work: Path) -> dict:
    env = {
        **os.environ,
        "QA_CORPUS_DIR": str(settings.corpus_dir),
        "QA_INDEX_DIR": str(settings.index_dir),
        "QA_MODEL_CACHE_DIR": str(settings.model_cache_dir),
        "QA_QUERY_CACHE_SIZE": "0",
        "QA_LOG_LEVEL": "warning",
        "QA_ENCODER": settings.encoder,
        "QA_REBUILD": "never",
    }
    out: dict = {"cold_start_s": [], "http": {}, "memory_mb": {}}
    log("cold starts")
    for _ in range(args.cold_starts):
        port = free_port()
        t0 = time.perf_counter()
        server = start(port, env, work / "server.log")
        try:
            wait_ready(port, server)
            out["cold_start_s"].append(round(time.perf_counter() - t0, 3))
        finally:
            stop(server)
    out["cold_start"] = summary([s * 1000 for s in out["cold_start_s"]])

    wrk = shutil.which("wrk")
    if not wrk:
        out["http"] = {"skipped": "wrk is not installed (apt-get install -y wrk)"}
        log(out["http"]["skipped"])
        return out
    bodies = work / "bodies.jsonl"
    bodies.write_text("".join(json.dumps({"question": q, "top_k": 3}) + "\n" for q in questions), encoding="utf-8")
    port = free_port()
    server = start(port, env, work / "server.log")
    try:
        wait_ready(port, server)
        url = f"http://127.0.0.1:{port}"
        run_wrk(wrk, url, bodies, 4, 2)  # warm every worker and connection path
        runs: dict[int, list[dict]] = {c: [] for c in CONCURRENCY}
        for r in range(args.http_rounds):
            for c in CONCURRENCY:
                log(f"wrk round {r + 1}, concurrency {c}")
                runs[c].append(run_wrk(wrk, url, bodies, c, args.duration))
        for c, results in runs.items():
            out["http"][str(c)] = {
                "requests_per_s": round(statistics.median(x["requests"] / x["duration_us"] * 1e6 for x in results), 1),
                **{
                    p: round(statistics.median(x["latency_us"][p] for x in results) / 1000, 2)
                    for p in ("p50", "p95", "p99")
                },
                "errors": sum(sum(x["errors"].values()) for x in results),
                "requests": sum(x["requests"] for x in results),
            }
        out["memory_mb"] = worker_memory(server.pid)
    finally:
        stop(server)
    return out


def run_wrk(wrk: str, url: str, bodies: Path, connections: int, seconds: int) -> dict:
    script = ROOT / "benchmarks" / "ask.lua"
    command = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
        "--",
        str(bodies),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=True)
    line = next(x for x in done.stdout.splitlines() if x.startswith("JSON "))
    return json.loads(line[5:])


def worker_memory(master: int) -> dict:
    """RSS and PSS (MiB) of each gunicorn worker: the children of the master."""
    workers = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                    workers.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    rss, pss = [], []
    for pid in workers:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])
        rss.append(int(fields["Rss"].split()[0]) / 1024)
        pss.append(int(fields["Pss"].split()[0]) / 1024)
    return {
        "workers": len(workers),
        "rss_per_worker": round(max(rss), 1) if rss else None,
        "pss_per_worker": round(max(pss), 1) if pss else None,
    }


# ---------------------------------------------------------------------------------------------------
# The peer


def run_txtai(passages: list[str], qset, work: Path) -> dict:
    python = ROOT / ".venv-txtai" / "bin" / "python"
    if not python.exists():
        note = "not run: no .venv-txtai (see benchmarks/README.md to create it)"
        log("txtai " + note)
        return {"skipped": note}
    log("txtai, in its own environment")
    data = work / "peer.json"
    data.write_text(json.dumps({"passages": passages, "questions": [q.text for q in qset.questions]}), encoding="utf-8")
    from qa_service.settings import Settings

    model = Settings.from_env().resolved_model()
    done = subprocess.run(
        [str(python), str(ROOT / "benchmarks" / "txtai_peer.py"), str(data), model],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONPATH": ""},
    )
    if done.returncode != 0:
        return {"skipped": "txtai failed: " + done.stderr.strip().splitlines()[-1][:200]}
    peer = json.loads(done.stdout.strip().splitlines()[-1])
    for config in peer["configs"].values():
        tops = config.pop("top")
        for k in (1, 3):
            hits = sum(
                any(gold_hit(q, passages[i]) for i in top[:k]) for q, top in zip(qset.questions, tops, strict=True)
            )
            config[f"recall@{k}"] = round(hits / len(qset.questions), 4)
    return peer


# ---------------------------------------------------------------------------------------------------
# Helpers


def timed(fn, *args) -> float:
    """Milliseconds one call takes."""
    t0 = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - t0) * 1000


def per_second(count: int, times_ms: list[float]) -> float:
    """Items per second at the median of the timings (milliseconds)."""
    return count / (statistics.median(times_ms) / 1000)


def summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 3),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
        "n": len(ordered),
    }


def machine() -> dict:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_before": round(os.getloadavg()[0], 2),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
