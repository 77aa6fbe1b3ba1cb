"""How the HTTP front of ``qa-service serve`` handles normal and slow clients (issue 17).

Compares, in the same run, round-robin over the fronts:

- ``gthread``: gunicorn's stock threaded worker (the server before issue 17);
- ``buffered``: the service's worker (``qa_service/http/worker.py``), reading requests whole first;
- ``nginx``: nginx from Debian buffering in front of stock gthread (the deployment gunicorn documents).

For each: wrk on ``/healthz`` (the front's own cost per request) at concurrency 1 and 16, too.

For each: wrk (``benchmarks/ask.lua``, the questions of ``tests/data/statement_questions.jsonl``, the
query cache off) at concurrency 1 and 16, and an attack: 32 connections trickling headers and 32
trickling bodies while one client asks questions and reads ``/readyz``. Prints medians over rounds.

    apt-get install -y wrk nginx-light
    PYTHONPATH=. .venv/bin/python tools/front_bench.py --rounds 3
    PYTHONPATH=. .venv/bin/python tools/front_bench.py --paired 1000   # c=1, the fronts side by side
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.server_process import free_port  # noqa: E402

FRONTS = ("gthread", "buffered", "nginx")


def get(port: int, path: str, timeout: float = 5.0) -> tuple[int, float]:
    """Status and seconds of one request on a new connection (0 when it failed)."""
    import http.client

    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    except OSError:
        return 0, time.monotonic() - started
    finally:
        conn.close()


class Front:
    """A server of one kind on a free port; ``port`` is where clients connect."""

    def __init__(self, kind: str, work: Path) -> None:
        self.kind = kind
        self.work = work
        self.processes: list[subprocess.Popen] = []
        app_port = free_port()
        env = {**os.environ, "QA_REBUILD": "never", "QA_QUERY_CACHE_SIZE": "0", "QA_LOG_LEVEL": "warning"}
        mode = "gthread" if kind == "nginx" else kind
        command = [sys.executable, __file__, "serve", "--mode", mode, "--port", str(app_port)]
        self.log = work / f"{kind}.log"
        with self.log.open("ab") as log:
            self.processes.append(
                subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log, start_new_session=True)
            )
        self.port = app_port
        self._wait(app_port)
        if kind == "nginx":
            self.port = free_port()
            conf = work / "nginx.conf"
            conf.write_text(NGINX_CONF.format(work=work, port=self.port, upstream=app_port))
            nginx = [shutil.which("nginx") or "/usr/sbin/nginx", "-c", str(conf), "-p", str(work), "-g", "daemon off;"]
            with self.log.open("ab") as log:
                self.processes.append(subprocess.Popen(nginx, stdout=log, stderr=log, start_new_session=True))
            self._wait(self.port)

    def _wait(self, port: int) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if get(port, "/readyz", 2)[0] == 200:
                return
            time.sleep(0.2)
        raise TimeoutError(f"{self.kind} did not come up")

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


NGINX_CONF = """
worker_processes 1;
error_log {work}/nginx-error.log warn;
pid {work}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {work}/body; proxy_temp_path {work}/proxy; fastcgi_temp_path {work}/fcgi;
    uwsgi_temp_path {work}/uwsgi; scgi_temp_path {work}/scgi;
    client_header_timeout 10s; client_body_timeout 10s; client_max_body_size 16k;
    upstream app {{ server 127.0.0.1:{upstream}; keepalive 32; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
    }}
}}
"""


def run_wrk(port: int, bodies: Path, connections: int, seconds: int) -> dict:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s"]
    command += [str(ROOT / "benchmarks" / "ask.lua"), f"http://127.0.0.1:{port}", "--", str(bodies)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=True)
    return json.loads(next(x for x in done.stdout.splitlines() if x.startswith("JSON "))[5:])


def run_wrk_get(port: int, path: str, connections: int, seconds: int) -> dict:
    """wrk on a GET route: requests per second and the median latency (ms)."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "--latency"]
    done = subprocess.run(
        [*command, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, timeout=seconds + 30, check=True
    )
    lines = done.stdout.splitlines()
    p50 = next(x.split()[1] for x in lines if x.strip().startswith("50%"))
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    unit = next(u for u in ("us", "ms", "s") if p50.endswith(u))
    rps = float(next(x.split()[1] for x in lines if x.startswith("Requests/sec")))
    errors = sum(1 for x in lines if "Non-2xx" in x or "Socket errors" in x)
    return {"rps": rps, "p50_ms": float(p50[: -len(unit)]) * scale[unit], "errors": errors}


def attack(port: int, seconds: float, questions: list[str]) -> dict:
    """32 header tricklers and 32 body tricklers for ``seconds`` while one client asks and probes."""
    stop = threading.Event()
    closed = [0]

    def trickle(body: bool) -> None:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
        except OSError:
            return
        head = b"POST /api/v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n"
        data = head + b"\r\n" if body else head
        try:
            s.sendall(data if body else data[:10])
            rest = b"x" * 99 if body else data[10:] + b"X-Pad: " + b"a" * 1000
            for byte in rest:
                if stop.wait(0.5):
                    return
                s.sendall(bytes([byte]))
        except OSError:
            closed[0] += 1
        finally:
            s.close()

    threads = [threading.Thread(target=trickle, args=(i % 2 == 0,), daemon=True) for i in range(64)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    asks, probes = [], []
    end = time.monotonic() + seconds
    i = 0
    from urllib.parse import quote

    while time.monotonic() < end:
        asks.append(get(port, "/api/v1/ask?question=" + quote(questions[i % len(questions)])))
        probes.append(get(port, "/readyz"))
        i += 1
        time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join(timeout=5)
    return {
        "asks": len(asks),
        "asks_200": sum(1 for s, _ in asks if s == 200),
        "ask_max_s": round(max(t for _, t in asks), 2),
        "readyz_answered": sum(1 for s, _ in probes if s),
        "readyz_max_s": round(max(t for _, t in probes), 2),
        "slow_closed_by_server": closed[0],
    }


def bench(args: argparse.Namespace) -> None:
    lines = (ROOT / "tests/data/statement_questions.jsonl").read_text().splitlines()
    questions = [json.loads(line)["question"] for line in lines if line]
    work = Path(tempfile.mkdtemp(prefix="front-bench-"))
    bodies = work / "bodies.jsonl"
    bodies.write_text("".join(json.dumps({"question": q, "top_k": 3}) + "\n" for q in questions))
    results: dict[str, dict[str, list]] = {f: {} for f in args.fronts}
    for r in range(args.rounds):
        order = args.fronts[r % len(args.fronts) :] + args.fronts[: r % len(args.fronts)]  # no front always first
        for kind in order:
            print(f"round {r + 1}: {kind}", file=sys.stderr, flush=True)
            front = Front(kind, work)
            try:
                run_wrk(front.port, bodies, 4, 2)  # warm up
                for c in (1, 16):
                    x = run_wrk(front.port, bodies, c, args.duration)
                    results[kind].setdefault(f"c{c}_rps", []).append(x["requests"] / x["duration_us"] * 1e6)
                    results[kind].setdefault(f"c{c}_p50_ms", []).append(x["latency_us"]["p50"] / 1000)
                    results[kind].setdefault(f"c{c}_errors", []).append(sum(x["errors"].values()))
                for c in (1, 16):  # the front's own cost: a route that does no work
                    x = run_wrk_get(front.port, "/healthz", c, args.duration)
                    results[kind].setdefault(f"healthz_c{c}_rps", []).append(x["rps"])
                    results[kind].setdefault(f"healthz_c{c}_p50_ms", []).append(x["p50_ms"])
                    results[kind].setdefault(f"healthz_c{c}_errors", []).append(x["errors"])
                if r == 0 and args.attack:
                    results[kind]["attack"] = [attack(front.port, args.attack, questions)]
            finally:
                front.stop()
    summary = {}
    for kind, metrics in results.items():
        summary[kind] = {k: (v[0] if k == "attack" else round(statistics.median(v), 2)) for k, v in metrics.items()}
    print(json.dumps(summary, indent=2))


def paired(args: argparse.Namespace) -> None:
    """Every front at once, idle but for one client that asks each in turn, question by question on a
    kept-alive connection: the fronts meet the same load of the machine, request by request."""
    import http.client

    lines = (ROOT / "tests/data/statement_questions.jsonl").read_text().splitlines()
    bodies = [json.dumps({"question": json.loads(line)["question"], "top_k": 3}).encode() for line in lines if line]
    work = Path(tempfile.mkdtemp(prefix="front-bench-"))
    fronts = [Front(kind, work) for kind in args.fronts]
    took: dict[str, list[float]] = {f.kind: [] for f in fronts}
    try:
        conns = {f.kind: http.client.HTTPConnection("127.0.0.1", f.port, timeout=10) for f in fronts}
        for i in range(args.paired):
            body = bodies[i % len(bodies)]
            order = fronts[i % len(fronts) :] + fronts[: i % len(fronts)]
            for front in order:
                conn = conns[front.kind]
                started = time.perf_counter()
                conn.request("POST", "/api/v1/ask", body=body, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                assert response.status == 200, response.status
                took[front.kind].append((time.perf_counter() - started) * 1000)
    finally:
        for front in fronts:
            front.stop()
    print(json.dumps({k: {"requests": len(v), "p50_ms": round(statistics.median(v), 2)} for k, v in took.items()}))


def serve(args: argparse.Namespace) -> None:
    from qa_service.http import server
    from qa_service.settings import Settings

    if args.mode == "gthread":
        server.worker_class = lambda _settings: "gthread"
    server.run(Settings.from_env(port=args.port, host="127.0.0.1"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    s = sub.add_parser("serve")
    s.add_argument("--mode", choices=("gthread", "buffered"), required=True)
    s.add_argument("--port", type=int, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--attack", type=float, default=8.0, help="seconds of slow-client attack (0: none)")
    parser.add_argument("--fronts", nargs="+", choices=FRONTS, default=list(FRONTS))
    parser.add_argument("--paired", type=int, default=0, help="instead: N questions to every front in turn, c=1")
    args = parser.parse_args()
    if args.command == "serve":
        serve(args)
    elif args.paired:
        paired(args)
    else:
        bench(args)


if __name__ == "__main__":
    main()
