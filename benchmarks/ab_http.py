"""Two versions of the service side by side over HTTP: which one answers faster, on the same machine at the
same moment.

A figure from one bench.py run moves with the machine's load (the same code measured 2.9 ms and 4.6 ms at
concurrency 1 two hours apart); a difference between two commits means something only when both are measured
in the same run. This script checks out ``--old`` (a commit) in a temporary git worktree, serves it and the
work tree (or ``--new``) with ``qa-service serve`` on two loopback ports at once, and runs wrk against each in
turn, alternating which goes first, for ``--rounds`` rounds at concurrency 1 and 16 over the statement
questions. It prints the medians and every run. Needs wrk.

    .venv/bin/python benchmarks/ab_http.py --old af89b53 --rounds 6
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench import run_wrk  # noqa: E402
from benchmarks.server_process import HOST, free_port, serve_command, stop, wait_ready  # noqa: E402

CONCURRENCY = (1, 16)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", required=True, help="the commit to compare with")
    parser.add_argument("--new", default="", help="a commit (default: the work tree as it is)")
    parser.add_argument("--rounds", type=int, default=6, help="wrk runs per version and concurrency")
    parser.add_argument("--duration", type=int, default=4, help="seconds per wrk run")
    args = parser.parse_args(argv)
    wrk = shutil.which("wrk")
    if not wrk:
        print("wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="ab-http-"))
    trees: dict[str, Path] = {}
    try:
        for label, rev in (("old", args.old), ("new", args.new)):
            if rev:
                tree = work / label
                subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev], check=True)
                trees[f"{label} {rev}"] = tree
            else:
                trees[f"{label} (work tree)"] = ROOT
        return compare(trees, wrk, work, args.rounds, args.duration)
    finally:
        for tree in trees.values():
            if tree != ROOT:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
        shutil.rmtree(work, ignore_errors=True)


def compare(trees: dict[str, Path], wrk: str, work: Path, rounds: int, duration: int) -> int:
    """Serve every tree at once and time each in turn; print the medians."""
    questions = (ROOT / "tests/data/statement_questions.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in questions if line.strip()]
    bodies = work / "bodies.jsonl"
    bodies.write_text("".join(json.dumps({"question": r["question"], "top_k": 3}) + "\n" for r in rows))
    servers: dict[str, tuple[subprocess.Popen, int]] = {}
    try:
        for n, (name, tree) in enumerate(trees.items()):
            env = {
                **os.environ,
                "PYTHONPATH": str(tree),  # the tree's code, ahead of the installed (editable) package
                "QA_CORPUS_DIR": str(tree / "corpus"),
                "QA_INDEX_DIR": str(work / f"index-{n}"),
                "QA_QUERY_CACHE_SIZE": "0",
                "QA_LOG_LEVEL": "warning",
            }
            port = free_port()
            with open(work / f"server-{n}.log", "ab") as log:
                server = subprocess.Popen(
                    serve_command(port), env=env, cwd=tree, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            servers[name] = (server, port)
        for name, (server, port) in servers.items():
            wait_ready(port, server)
            with urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=5) as response:
                print(f"{name}: serving from {tree_of(trees[name])}, /healthz {response.status}", flush=True)
            run_wrk(wrk, f"http://{HOST}:{port}", bodies, 4, 2)  # warm every worker
        runs: dict[str, dict[int, list[tuple[float, float]]]] = {n: {c: [] for c in CONCURRENCY} for n in servers}
        order = list(servers)
        for r in range(rounds):
            for c in CONCURRENCY:
                for name in order if r % 2 == 0 else order[::-1]:
                    x = run_wrk(wrk, f"http://{HOST}:{servers[name][1]}", bodies, c, duration)
                    runs[name][c].append((x["latency_us"]["p50"] / 1000, x["requests"] / x["duration_us"] * 1e6))
        print("| version | concurrency | p50 (median of runs) | req/s (median) | runs: p50 ms / req/s |")
        print("|---|---|---|---|---|")
        for name, by_c in runs.items():
            for c, values in by_c.items():
                p50 = statistics.median(v[0] for v in values)
                rps = statistics.median(v[1] for v in values)
                each = ", ".join(f"{a:.2f}/{b:.0f}" for a, b in values)
                print(f"| {name} | {c} | {p50:.2f} ms | {rps:.0f} | {each} |")
    finally:
        for server, _ in servers.values():
            stop(server)
    return 0


def tree_of(tree: Path) -> str:
    return "the work tree" if tree == ROOT else str(tree)


if __name__ == "__main__":
    raise SystemExit(main())
