"""Where one question's CPU time goes, in process: the encoder, each stage of ``Retriever.ask``, and Flask
with the view around it.

    .venv/bin/python benchmarks/request_cpu.py                  # 5 passes over the statement questions
    QA_ENCODER=onnx-int8 .venv/bin/python benchmarks/request_cpu.py --passes 9

Builds (or reuses) the index in ``.bench-results/request_path-index``, loads the app with the question
cache off, and times, in thread CPU time (``time.thread_time``, which the load of other programs hardly
moves), each question asked through the WSGI app (``POST /api/v1/ask``, as gunicorn calls it) with the
retriever's methods wrapped by timers. Stages nest (short answers are read inside the evidence too), so
they do not add up; "Flask and the view" is the WSGI call less ``Retriever.ask``. Prints milliseconds
per question, each the median over the passes.
"""

from __future__ import annotations

import argparse
import collections
import functools
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.quality import statement_questions  # noqa: E402

RESULTS = ROOT / ".bench-results"

#: ``Retriever`` methods timed, by the name printed.
STAGES = {
    "dense candidates": "_dense_candidates",
    "sentence scores": "_sentence_scores",
    "duplicates removed": "_without_duplicates",
    "no-answer evidence": "_evidence",
    "short answers": "_short_answer",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passes", type=int, default=5, help="passes over the questions; medians over them")
    parser.add_argument("--index-dir", type=Path, default=RESULTS / "request_path-index")
    args = parser.parse_args()

    from qa_service.http.app import create_app
    from qa_service.ranking import retriever as retriever_module
    from qa_service.ranking import short_answer
    from qa_service.settings import Settings

    settings = Settings.from_env(index_dir=args.index_dir, query_cache_size=0, torch_threads=1, log_level="warning")
    settings = settings.replace(corpus_dir=settings.corpus_dir.resolve(), index_poll_seconds=0, metrics=True)
    questions = [q.text for q in statement_questions(settings.corpus_dir).questions]
    app = create_app(settings)
    retriever = app.extensions["qa_service"].current

    spent: collections.Counter[str] = collections.Counter()
    timed(type(retriever.encoder), "encode_query", "encoder", spent)
    timed(retriever_module.Retriever, "ask", "Retriever.ask", spent)
    for label, name in STAGES.items():
        timed(retriever_module.Retriever, name, label, spent)
    timed(type(retriever.lexical), "scores", "BM25 scores", spent)
    timed(short_answer, "_value", "short answers: dates and numbers read", spent)

    bodies = [json.dumps({"question": q, "top_k": 3}).encode() for q in questions]
    for body in bodies:  # warm up
        call(app, body)
    per_pass: dict[str, list[float]] = collections.defaultdict(list)
    for _ in range(args.passes):
        spent.clear()
        started = time.thread_time()
        for body in bodies:
            call(app, body)
        total = time.thread_time() - started
        per_pass["WSGI POST /api/v1/ask"].append(total / len(bodies) * 1000)
        per_pass["Flask and the view (WSGI less Retriever.ask)"].append(
            (total - spent["Retriever.ask"]) / len(bodies) * 1000
        )
        per_pass["Retriever.ask less the encoder"].append(
            (spent["Retriever.ask"] - spent["encoder"]) / len(bodies) * 1000
        )
        for label, seconds in spent.items():
            per_pass[label].append(seconds / len(bodies) * 1000)
        started = time.thread_time()
        for _ in bodies:
            call(app, b"", "/healthz", "GET")
        per_pass["WSGI GET /healthz"].append((time.thread_time() - started) / len(bodies) * 1000)
    print(
        f"ms of CPU per question, median of {args.passes} passes over {len(questions)} questions, "
        f"encoder {settings.encoder}, load {os.getloadavg()[0]:.2f}"
    )
    for label, values in sorted(per_pass.items(), key=lambda item: -statistics.median(item[1])):
        print(f"{statistics.median(values):8.3f}  {label}")


def timed(owner: object, name: str, label: str, spent: collections.Counter) -> None:
    """Wrap ``owner.name`` so that the CPU time spent in it is added to ``spent[label]``."""
    raw = vars(owner).get(name)
    function = getattr(owner, name)

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        started = time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[label] += time.thread_time() - started

    setattr(owner, name, staticmethod(wrapper) if isinstance(raw, staticmethod) else wrapper)


def call(app, body: bytes, path: str = "/api/v1/ask", method: str = "POST") -> bytes:
    """One request through the WSGI app, as the server calls it."""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    statuses: list[str] = []
    chunks = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
    try:
        data = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    if not statuses or not statuses[0].startswith("200"):
        raise RuntimeError(f"{method} {path} answered {statuses}: {data[:200]!r}")
    return data


if __name__ == "__main__":
    main()
