"""Start-up: `qa-service serve` skips the preparation step only when nothing needs preparing, and the
server's master imports nothing that starts threads before it forks its workers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from qa_service.cli import _index_ready
from qa_service.index import current_build

from .helpers import ROOT


def test_a_fresh_index_needs_no_preparation(settings, retriever):
    assert _index_ready(settings) is True


def test_a_missing_export_needs_preparation(settings, retriever, tmp_path):
    if not settings.encoder.startswith("onnx"):
        pytest.skip("only the ONNX encoders export anything")
    assert _index_ready(settings.replace(model_cache_dir=tmp_path / "empty")) is False


def test_a_stale_or_damaged_index_needs_preparation(settings, retriever, tmp_path):
    assert _index_ready(settings.replace(index_dir=tmp_path / "nothing")) is False
    assert _index_ready(settings.replace(max_passage_tokens=128)) is False  # a build parameter changed
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(settings.index_dir, copy)
    vectors = current_build(copy) / "vectors.faiss"
    vectors.write_bytes(vectors.read_bytes()[:-8])
    assert _index_ready(settings.replace(index_dir=copy)) is False


def test_the_master_preloads_no_thread_starting_library():
    """ONNX Runtime starts a thread when imported and torch is heavy: neither may be in the master that
    forks the workers; Flask, FAISS and BM25 may (they are shared by the workers after the fork)."""
    script = (
        "import sys, json\n"
        "from qa_service.http.server import preload\n"
        "preload()\n"
        "names = ('onnxruntime', 'torch', 'sklearn', 'flask', 'faiss', 'bm25s')\n"
        "print(json.dumps({m: m in sys.modules for m in names}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == {
        "onnxruntime": False,
        "torch": False,
        "sklearn": False,
        "flask": True,
        "faiss": True,
        "bm25s": True,
    }


def test_one_worker_admits_sixteen_clients_with_the_default_layout():
    """Keep-alive clients stay with the worker that accepted them, so one worker may get all 16 clients of
    the benchmark's highest concurrency: with the default settings none of them is refused."""
    import threading
    import time

    from qa_service.http.gate import AdmissionGate
    from qa_service.http.server import server_threads
    from qa_service.settings import Settings

    defaults = Settings()
    gate = AdmissionGate(defaults.threads, defaults.max_queue, wait_seconds=5)
    release = threading.Event()
    admitted: list[bool] = []

    def client() -> None:
        ok = gate.enter()
        admitted.append(ok)
        if ok:
            release.wait(5)
            gate.leave()

    clients = [threading.Thread(target=client) for _ in range(16)]
    for c in clients:
        c.start()
    deadline = time.monotonic() + 5
    while gate.admitted < 16 and len(admitted) < 16 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gate.admitted == 16  # 4 answering, 12 waiting: nobody refused
    assert not gate.enter()  # the 17th would be
    release.set()
    for c in clients:
        c.join()
    assert admitted.count(True) == 16
    assert server_threads(defaults) == 17  # and a thread is left to refuse the 17th at once
