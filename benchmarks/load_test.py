"""Load test of the production server (``qa-service serve``, gunicorn) on the loopback, with wrk.

Two phases, each bounded in time:

1. sustained: ``--connections`` keep-alive connections POST questions to ``/api/v1/ask`` for
   ``--duration`` seconds; recorded: requests served, errors (must be 0), latency percentiles.
2. overload: ``--overload-connections`` connections for ``--overload-duration`` seconds, far more than
   the workers admit; recorded: answers, 503 refusals, and (from a separate probe client) how fast a
   refusal comes back.

The question cache is off (``QA_QUERY_CACHE_SIZE=0``), so every request embeds its question: the
figures are for unseen questions. The questions are the evaluation questions of ``tests/data``.

Usage (wrk from Debian: ``apt-get install -y wrk``)::

    .venv/bin/python benchmarks/load_test.py                   # 60 s + 15 s, writes BENCHMARKS.md
    .venv/bin/python benchmarks/load_test.py --duration 10 --overload-duration 5 --no-write

Only 127.0.0.1 is ever contacted. The server is stopped at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.report import write_section  # noqa: E402
from benchmarks.server_process import HOST, free_port, start, stop, wait_ready  # noqa: E402

BENCHMARKS = ROOT / "BENCHMARKS.md"
HEADING = "## Load and overload (`benchmarks/load_test.py`)"
MARKERS = ("<!-- load-test:start -->", "<!-- load-test:end -->")

LUA = r"""
local bodies = {BODIES}
local counter = 0
statuses = {}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  counter = math.random(#bodies)
end

function request()
  counter = counter + 1
  return wrk.format("POST", "/api/v1/ask", {["Content-Type"] = "application/json"}, bodies[(counter % #bodies) + 1])
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses")
    for code, n in pairs(counts) do
      total[code] = (total[code] or 0) + n
    end
  end
  local parts = {}
  for code, n in pairs(total) do
    table.insert(parts, string.format('"%s": %d', code, n))
  end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_s": %.3f, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_ms": {"p50": %.2f, "p90": %.2f, "p99": %.2f, "max": %.2f, "mean": %.2f}, "statuses": {%s}}\n',
    summary.requests, summary.duration / 1e6, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3, latency.mean / 1e3, table.concat(parts, ", ")))
end
"""


def _questions() -> list[str]:
    questions = []
    for name in ("statement_questions.jsonl", "statement_out_of_scope.jsonl"):
        for line in (ROOT / "tests" / "data" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                questions.append(json.loads(line)["question"])
    return questions


def _lua_script(path: Path) -> None:
    bodies = [json.dumps({"question": q, "top_k": 3}) for q in _questions()]
    assert not any("]==]" in b for b in bodies)
    path.write_text(LUA.replace("{BODIES}", "{" + ", ".join(f"[==[{b}]==]" for b in bodies) + "}"), encoding="utf-8")


def _get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _post(port: int, question: str, timeout: float = 30.0) -> tuple[int, float]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(
            "POST", "/api/v1/ask", body=json.dumps({"question": question}), headers={"Content-Type": "application/json"}
        )
        response = conn.getresponse()
        response.read()
        return response.status, (time.perf_counter() - started) * 1000
    finally:
        conn.close()


def run_wrk(port: int, script: Path, connections: int, duration: int, threads: int) -> dict:
    """One bounded wrk run; the parsed RESULT line of the Lua ``done`` hook."""
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://{HOST}:{port}/api/v1/ask",
    ]
    out = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    match = re.search(r"^RESULT (.*)$", out, re.M)
    if not match:
        raise RuntimeError(f"no result from wrk:\n{out}")
    result = json.loads(match.group(1))
    result["command"] = " ".join(command[:-1] + [f"http://{HOST}:PORT/api/v1/ask"])
    return result


def probe_during(port: int, seconds: float, questions: list[str]) -> dict:
    """Sequential requests from one extra client while wrk saturates the server: latency by status."""
    by_status: dict[int, list[float]] = {}
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        try:
            status, ms = _post(port, questions[i % len(questions)])
        except OSError:
            status, ms = -1, 0.0
        by_status.setdefault(status, []).append(ms)
        i += 1
        time.sleep(0.02)
    return {
        str(status): {
            "count": len(ms),
            "median_ms": round(statistics.median(ms), 2),
            "p99_ms": round(sorted(ms)[max(0, int(len(ms) * 0.99) - 1)], 2),
        }
        for status, ms in sorted(by_status.items())
    }


def recovery(port: int, limit: float = 30.0) -> float:
    """Seconds from the end of the overload until a question is answered (200) again."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if _post(port, "Who delivered the statement?")[0] == 200:
            return round(time.monotonic() - started, 2)
        time.sleep(0.05)
    raise RuntimeError(f"the server did not answer again within {limit} s of the overload")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=60, help="seconds of the sustained phase (default 60)")
    parser.add_argument("--connections", type=int, default=4, help="connections of the sustained phase (default 4)")
    parser.add_argument("--overload-duration", type=int, default=15, help="seconds of the overload phase (default 15)")
    parser.add_argument("--overload-connections", type=int, default=64, help="connections of the overload phase")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1: it shares the 2 cores)")
    parser.add_argument(
        "--index-dir",
        default=os.environ.get("QA_INDEX_DIR", str(ROOT / "embeddings")),
        help="index folder (built there when missing, as `make run` does)",
    )
    parser.add_argument("--no-write", action="store_true", help="print the figures without touching BENCHMARKS.md")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")

    port = free_port()
    env = {
        **os.environ,
        "QA_INDEX_DIR": args.index_dir,
        "QA_QUERY_CACHE_SIZE": "0",
        "QA_LOG_LEVEL": "warning",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    env.pop("QA_RATE_LIMIT", None)
    env.pop("QA_API_KEY", None)
    from qa_service.http.server import server_threads
    from qa_service.settings import Settings

    settings = Settings.from_env()
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="qa-load-"))
    script = work / "ask.lua"
    _lua_script(script)
    print(f"starting qa-service serve on {HOST}:{port} (log: {work / 'server.log'})", flush=True)
    server = start(port, env, work / "server.log")
    wait_ready(port, server, limit=600.0, poll=0.5)
    try:
        for q in _questions()[:10]:  # warm-up: each worker's first requests
            _post(port, q)
        print(f"sustained: {args.connections} connections for {args.duration} s", flush=True)
        sustained = run_wrk(port, script, args.connections, args.duration, args.wrk_threads)
        print(json.dumps(sustained), flush=True)

        print(f"overload: {args.overload_connections} connections for {args.overload_duration} s", flush=True)
        probe: dict = {}
        prober = threading.Thread(
            target=lambda: probe.update(probe_during(port, args.overload_duration - 2, _questions())), daemon=True
        )
        timer = threading.Timer(1.0, prober.start)
        timer.start()
        overload = run_wrk(port, script, args.overload_connections, args.overload_duration, args.wrk_threads)
        timer.join()
        prober.join(timeout=60)
        overload["probe"] = probe
        print(json.dumps(overload), flush=True)
        after = recovery(port)
    finally:
        stop(server)
    log_text = (work / "server.log").read_text(errors="replace")
    server_errors = len(re.findall(r"Traceback|\[ERROR\]|Worker timeout", log_text))

    machine = {
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "workers": settings.workers,
        "threads": settings.threads,
        "queue": settings.max_queue,
        "server_threads": server_threads(settings),
        "torch_threads": settings.torch_threads,
        "encoder": settings.encoder,
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }
    report = render(args, sustained, overload, after, server_errors, machine)
    print(report)
    if not args.no_write:
        write_section(BENCHMARKS, report, HEADING, MARKERS)
        print(f"wrote the load-test section of {BENCHMARKS}")
    if sustained["errors"]["status"] or any(sustained["errors"][k] for k in ("connect", "read", "write", "timeout")):
        sys.exit("the sustained phase had errors")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def render(args, sustained: dict, overload: dict, after: float, server_errors: int, machine: dict) -> str:
    s, o = sustained, overload
    s_errors = sum(s["errors"].values())
    o_ok = o["statuses"].get("200", 0)
    o_refused = o["statuses"].get("503", 0)
    o_other = sum(n for code, n in o["statuses"].items() if code not in ("200", "503"))
    o_socket = sum(v for k, v in o["errors"].items() if k != "status")
    probe = o.get("probe", {})
    probe_rows = "\n".join(f"| {code} | {p['count']} | {p['median_ms']} | {p['p99_ms']} |" for code, p in probe.items())
    socket_errors = {k: v for k, v in s["errors"].items() if k != "status"}
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {machine['cores']} cores ({machine['cpu']}), "
        f"Python {machine['python']}, the production server as `qa-service serve` starts it with the default "
        f"settings: {machine['workers']} gunicorn workers, each answering {machine['threads']} requests at once "
        f"with {machine['queue']} more waiting ({machine['server_threads']} threads), encoder "
        f"`{machine['encoder']}` on {machine['torch_threads']} thread per worker; question cache off, so every "
        f"request embeds its question; wrk ({args.wrk_threads} thread) on the same {machine['cores']} cores, over "
        f"loopback. Questions: the {len(_questions())} of `tests/data`, in turn. Load average of the machine "
        f"(1 min) before the run {machine['load_before']}, after {machine['load_after']} (other work on the "
        "machine makes the figures worse, never better).",
        "",
        "```sh",
        f".venv/bin/python benchmarks/load_test.py --duration {args.duration} --connections {args.connections} "
        f"--overload-duration {args.overload_duration} --overload-connections {args.overload_connections}",
        "```",
        "",
        f"**Sustained**: {args.connections} connections for {args.duration} s (`{s['command']}`)",
        "",
        "| requests served | errors | throughput | p50 | p90 | p99 | max |",
        "|---|---|---|---|---|---|---|",
        f"| {s['requests']} | {s_errors} | {s['requests'] / s['duration_s']:.1f} req/s | "
        f"{s['latency_ms']['p50']:.1f} ms | {s['latency_ms']['p90']:.1f} ms | {s['latency_ms']['p99']:.1f} ms | "
        f"{s['latency_ms']['max']:.1f} ms |",
        "",
        f"Statuses: {json.dumps(s['statuses'])}; socket errors {json.dumps(socket_errors)}.",
        "",
        f"**Overload**: {args.overload_connections} connections for {args.overload_duration} s",
        "",
        "| answered (200) | refused (503) | other statuses | socket errors | p50 (all) | p99 (all) | max |",
        "|---|---|---|---|---|---|---|",
        f"| {o_ok} | {o_refused} | {o_other} | {o_socket} | {o['latency_ms']['p50']:.1f} ms | "
        f"{o['latency_ms']['p99']:.1f} ms | {o['latency_ms']['max']:.1f} ms |",
        "",
        "A separate client asking one question at a time during the overload phase (new connection each time):",
        "",
        "| status | requests | median | p99 |",
        "|---|---|---|---|",
        probe_rows,
        "",
        f"After the overload the server answered a question again after {after} s; its log shows {server_errors} "
        "errors (tracebacks, worker timeouts).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
