"""Instructions one question costs beyond the model, counted by valgrind: a figure that the load of other
programs does not move (times on a shared machine do, by a fifth from one run to the next).

    .venv/bin/python benchmarks/request_instructions.py                # POST /api/v1/ask, 8 passes
    .venv/bin/python benchmarks/request_instructions.py --what healthz # GET /healthz

Runs the statement questions through the WSGI app (as ``benchmarks/request_cpu.py`` does, on its index) with
the encoder's ``encode_query`` replaced by a lookup of the questions' vectors, computed beforehand: what is
counted is Flask, the view and the ranking, not the model. The process runs under ``valgrind
--tool=callgrind`` (needs valgrind), which counts only inside the loop over the requests (it runs within
``functools.reduce``, whose C function is what ``--toggle-collect`` names), with the cyclic garbage
collector off after warming up. Instructions are not time: after the model has run, the interpreter's
own code and data are out of the processor's caches, which instructions do not show.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.quality import statement_questions  # noqa: E402
from benchmarks.request_cpu import RESULTS, call  # noqa: E402

VECTORS = RESULTS / "request_instructions-vectors.npy"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passes", type=int, default=8, help="passes over the questions counted")
    parser.add_argument("--what", choices=("ask", "healthz"), default="ask", help="the request made")
    parser.add_argument("--index-dir", type=Path, default=RESULTS / "request_path-index")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        run(args.passes, args.what, args.index_dir)
        return
    run(0, args.what, args.index_dir, vectors_only=True)  # the questions' vectors, outside valgrind
    requests = args.passes * len(questions(settings_for(args.index_dir)))
    print(
        f"instructions per {'POST /api/v1/ask' if args.what == 'ask' else 'GET /healthz'} beyond the model: "
        f"{count(args.passes, args.what, args.index_dir) / requests:,.0f} ({args.passes} passes, {requests} requests)"
    )


def count(passes: int, what: str, index_dir: Path) -> int:
    """Instructions of the requests of one inner run under callgrind."""
    command = ["valgrind", "--tool=callgrind", "--toggle-collect=functools_reduce", "--callgrind-out-file=/dev/null"]
    command += [sys.executable, __file__, "--inner", "--passes", str(passes), "--what", what]
    command += ["--index-dir", str(index_dir)]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    found = re.search(r"Collected\s*:\s*([\d,]+)", done.stderr)
    if done.returncode or not found:
        raise SystemExit(f"valgrind failed ({done.returncode}): {done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def settings_for(index_dir: Path):
    from qa_service.settings import Settings

    settings = Settings.from_env(index_dir=index_dir, query_cache_size=0, torch_threads=1, log_level="warning")
    return settings.replace(corpus_dir=settings.corpus_dir.resolve(), index_poll_seconds=0, metrics=True)


def questions(settings) -> list[str]:
    return [q.text for q in statement_questions(settings.corpus_dir).questions]


def run(passes: int, what: str, index_dir: Path, vectors_only: bool = False) -> None:
    """Ask every question ``passes`` times through the WSGI app, the encoder replaced by a lookup."""
    import numpy as np

    from qa_service.encoders import make_encoder
    from qa_service.http import metrics
    from qa_service.http.app import create_app

    settings = settings_for(index_dir)
    texts = questions(settings)
    if vectors_only:
        encoder = create_app(settings).extensions["qa_service"].current.encoder
        VECTORS.parent.mkdir(parents=True, exist_ok=True)
        np.save(VECTORS, np.stack([encoder.encode_query(text) for text in texts]))
        return
    looked_up = dict(zip(texts, np.load(VECTORS)))
    encoder = make_encoder(settings)
    encoder.encode_query = looked_up.__getitem__  # the model never runs under valgrind
    encoder.warm_up = lambda: None
    app = create_app(settings, encoder=metrics.TimedEncoder(encoder))
    bodies = [json.dumps({"question": text, "top_k": 3}).encode() for text in texts]
    for body in bodies:  # warm up
        call(app, body)
    gc.collect()
    gc.disable()  # a collection would land on some request: noise of millions of instructions
    if what == "ask":
        requests = [(body, "/api/v1/ask", "POST") for body in bodies] * passes
    else:
        requests = [(b"", "/healthz", "GET")] * (passes * len(bodies))
    functools.reduce(lambda _, request: call(app, *request), requests, None)


if __name__ == "__main__":
    main()
