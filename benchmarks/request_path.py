"""What one HTTP question costs beyond the model: HTTP c=1 against the encoder's own time, in the server.

    .venv/bin/python benchmarks/request_path.py                 # 5 rounds of 4 passes over the questions
    .venv/bin/python benchmarks/request_path.py --rounds 9 --json before.json
    PYTHONPATH=../other-checkout .venv/bin/python benchmarks/request_path.py   # serve another checkout's code

Starts ``qa-service serve`` with one worker on a free loopback port (the question cache off, so every
question is encoded), asks the statement questions one at a time over one kept-alive connection (a
bare socket client, as wrk is, so that the client's own HTTP parsing is hardly counted), and
reads the server's own histograms at ``/metrics`` before and after each round: the encoder's time per
question (``qa_encoder_seconds``) and the view's time per request (``qa_request_duration_seconds``, from
Flask's first hook to its last). Reported, each the median over the rounds:

- ``http_p50_ms``: the client's round trip, p50 of the round;
- ``encoder_mean_ms`` (from the histogram's sum and count) and ``encoder_p50_ms`` (timed in process on
  the same questions by the same encoder, since a histogram's buckets cannot give a p50 to a tenth of a
  millisecond);
- ``rest_p50_ms`` = ``http_p50_ms`` - ``encoder_p50_ms``: everything that is not the model (HTTP,
  gunicorn, Flask, validation, ranking, JSON);
- ``rest_mean_ms`` = mean HTTP time - mean encoder time over the same requests (the server's own
  histogram): the same question, without mixing a client-side p50 with an in-process one;
- ``view_mean_ms`` - ``encoder_mean_ms``: the app's own work, without the server and the network;
- ``healthz_p50_ms``: the round trip of ``/healthz`` (the server and Flask with almost no work);
- ``worker_cpu_ms`` and ``healthz_cpu_ms``: CPU time the worker process spent per question and per
  ``/healthz`` (all its threads, from ``/proc``), and ``cpu_beyond_encoder_ms`` = ``worker_cpu_ms`` -
  ``encoder_cpu_ms`` (the encoder's CPU time per question in process): what the request costs beyond
  the model. CPU time hardly moves when other programs load the machine; the wall times above do.

The index is built on the first run into ``.bench-results/request_path-index`` (git-ignored) and reused.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.quality import statement_questions  # noqa: E402
from benchmarks.server_process import HOST, free_port, start, stop, wait_ready  # noqa: E402

RESULTS = ROOT / ".bench-results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds; each figure is the median over them")
    parser.add_argument("--passes", type=int, default=4, help="passes over the questions per round")
    parser.add_argument("--healthz", type=int, default=300, help="/healthz requests per round")
    parser.add_argument("--index-dir", type=Path, default=RESULTS / "request_path-index")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here (JSON)")
    args = parser.parse_args()

    from qa_service.settings import Settings

    settings = Settings.from_env()
    questions = [q.text for q in statement_questions(settings.corpus_dir).questions]
    env = {
        **os.environ,
        "QA_CORPUS_DIR": str(settings.corpus_dir.resolve()),
        "QA_INDEX_DIR": str(args.index_dir.resolve()),
        "QA_MODEL_CACHE_DIR": str(settings.model_cache_dir.resolve()),
        "QA_QUERY_CACHE_SIZE": "0",
        "QA_WORKERS": "1",
        "QA_LOG_LEVEL": "warning",
        "QA_RATE_LIMIT": "",
        "QA_API_KEY": "",
        "QA_METRICS": "true",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    args.index_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="qa-request-path-") as tmp:
        env["QA_DATA_DIR"] = tmp
        server = start(port, env, Path(tmp) / "server.log")
        try:
            wait_ready(port, server, limit=600)
            results = measure(port, questions, args, worker_pid(server.pid))
        finally:
            stop(server)
    results["encoder_p50_ms"], results["encoder_cpu_ms"] = encoder_p50(settings, questions, args.rounds)
    results["rest_p50_ms"] = round(results["http_p50_ms"] - results["encoder_p50_ms"], 3)
    if results["worker_cpu_ms"] is not None:
        results["cpu_beyond_encoder_ms"] = round(results["worker_cpu_ms"] - results["encoder_cpu_ms"], 3)
    results["questions"] = len(questions)
    results["load_avg"] = round(os.getloadavg()[0], 2)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


class Connection:
    """A kept-alive HTTP/1.1 connection reduced to what the benchmark needs: send a request, read one
    response with a Content-Length (the service always gives one)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.sock.sendall(head.encode() + b"\r\n" + body)
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._fill()
        lines = self.buffer[:end].decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next(int(line.split(":", 1)[1]) for line in lines[1:] if line.lower().startswith("content-length:"))
        while len(self.buffer) < end + 4 + length:
            self._fill()
        data, self.buffer = self.buffer[end + 4 : end + 4 + length], self.buffer[end + 4 + length :]
        return status, data

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


def worker_pid(master: int) -> int | None:
    """The one worker of the server (the master's child), or None where ``/proc`` does not say."""
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def cpu_seconds(pid: int | None) -> float | None:
    """CPU time so far of every thread of ``pid`` (``/proc/PID/task/*/schedstat``, nanoseconds)."""
    if pid is None:
        return None
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                total += int((task / "schedstat").read_text().split()[0])
    except OSError:
        return None
    return total / 1e9


def measure(port: int, questions: list[str], args: argparse.Namespace, worker: int | None = None) -> dict:
    """Rounds of HTTP c=1 over one kept-alive connection, each with the server's histograms around it."""
    conn = Connection(port)
    bodies = [json.dumps({"question": q, "top_k": 3}).encode() for q in questions]
    for body in bodies:  # warm up: every question once, the connection, the code paths
        post(conn, body)
    keys = ("http_p50", "http_mean", "encoder_mean", "view_mean", "rest_mean", "healthz", "cpu", "healthz_cpu")
    rounds: dict[str, list[float]] = {k: [] for k in keys}
    for _ in range(args.rounds):
        before = scrape(conn)
        cpu_before = cpu_seconds(worker)
        times = [post(conn, body) for _ in range(args.passes) for body in bodies]
        cpu_after = cpu_seconds(worker)
        after = scrape(conn)
        cpu_health_before = cpu_seconds(worker)
        health = [get(conn, "/healthz") for _ in range(args.healthz)]
        cpu_health = cpu_seconds(worker)
        if None not in (cpu_before, cpu_after, cpu_health_before, cpu_health):
            rounds["cpu"].append((cpu_after - cpu_before) / len(times) * 1000)
            rounds["healthz_cpu"].append((cpu_health - cpu_health_before) / len(health) * 1000)
        n = after["view_count"] - before["view_count"]
        rounds["http_p50"].append(statistics.median(times))
        rounds["http_mean"].append(statistics.fmean(times))
        rounds["encoder_mean"].append((after["encoder_sum"] - before["encoder_sum"]) / n * 1000)
        rounds["view_mean"].append((after["view_sum"] - before["view_sum"]) / n * 1000)
        rounds["rest_mean"].append(rounds["http_mean"][-1] - rounds["encoder_mean"][-1])
        rounds["healthz"].append(statistics.median(health))
    conn.close()
    med = {k: round(statistics.median(v), 3) if v else None for k, v in rounds.items()}
    return {
        "http_p50_ms": med["http_p50"],
        "http_mean_ms": med["http_mean"],
        "encoder_mean_ms": med["encoder_mean"],
        "view_mean_ms": med["view_mean"],
        "view_minus_encoder_ms": round(med["view_mean"] - med["encoder_mean"], 3),
        "rest_mean_ms": med["rest_mean"],
        "healthz_p50_ms": med["healthz"],
        "worker_cpu_ms": med["cpu"],
        "healthz_cpu_ms": med["healthz_cpu"],
        "rounds": {k: [round(x, 3) for x in v] for k, v in rounds.items()},
    }


def post(conn: Connection, body: bytes) -> float:
    """One question; milliseconds from sending to the last byte of the answer."""
    t0 = time.perf_counter()
    status, data = conn.request("POST", "/api/v1/ask", body)
    elapsed = (time.perf_counter() - t0) * 1000
    if status != 200:
        raise RuntimeError(f"/api/v1/ask answered {status}: {data[:200]!r}")
    return elapsed


def get(conn: Connection, path: str) -> float:
    t0 = time.perf_counter()
    conn.request("GET", path)
    return (time.perf_counter() - t0) * 1000


_SAMPLE = re.compile(r"^(qa_encoder_seconds|qa_request_duration_seconds)_(sum|count)(\{[^}]*\})? (\S+)$", re.M)


def scrape(conn: Connection) -> dict[str, float]:
    """The encoder's and the ask view's time so far (sums in seconds, counts)."""
    text = conn.request("GET", "/metrics")[1].decode()
    out = {"encoder_sum": 0.0, "encoder_count": 0.0, "view_sum": 0.0, "view_count": 0.0}
    for name, kind, labels, value in _SAMPLE.findall(text):
        if name == "qa_encoder_seconds":
            out[f"encoder_{kind}"] += float(value)
        elif 'route="api.ask"' in (labels or ""):
            out[f"view_{kind}"] += float(value)
    return out


def encoder_p50(settings, questions: list[str], rounds: int) -> tuple[float, float]:
    """The served encoder's p50 per question, in this process on one thread (the server's layout), and its
    mean CPU time per question."""
    from qa_service.encoders import make_encoder

    encoder = make_encoder(settings.replace(torch_threads=1, query_cache_size=0))
    encoder.warm_up()
    for q in questions:
        encoder.encode_query(q)
    medians, cpu = [], []
    for _ in range(rounds):
        times = []
        c0 = time.thread_time()
        for q in questions:
            t0 = time.perf_counter()
            encoder.encode_query(q)
            times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) / len(questions) * 1000)
        medians.append(statistics.median(times))
    return round(statistics.median(medians), 3), round(statistics.median(cpu), 3)


if __name__ == "__main__":
    main()
