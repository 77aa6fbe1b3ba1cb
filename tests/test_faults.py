"""Faults lose nothing: a damaged or stale index is noticed at start, logged and rebuilt (or, with
QA_REBUILD=never, the service refuses to start and says why); a build killed with SIGKILL leaves the
previous index in use; a new build is swapped into a running app without failing a request."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from qa_service.http.app import create_app
from qa_service.index import (
    IndexMismatch,
    IndexProblem,
    build_index,
    current_build,
    ensure_index,
    load_fresh_index,
    load_index,
)
from qa_service.ranking import Retriever

from .helpers import ROOT, STATEMENT_ID, FakeEncoder, GatedEncoder


def _tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != ".lock":
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _damage(index_dir: Path, how: str) -> None:
    build = current_build(index_dir)
    vectors = build / "vectors.faiss"
    if how == "truncated":
        vectors.write_bytes(vectors.read_bytes()[: vectors.stat().st_size // 2])
    elif how == "bit-flipped":
        raw = bytearray((build / "arrays.npz").read_bytes())
        raw[len(raw) // 2] ^= 0x01
        (build / "arrays.npz").write_bytes(bytes(raw))
    elif how == "file-deleted":
        (build / "passages.jsonl").unlink()
    elif how == "manifest-garbage":
        (build / "manifest.json").write_text("{not json", encoding="utf-8")
    elif how == "build-deleted":
        shutil.rmtree(build)
    elif how == "index-deleted":
        shutil.rmtree(index_dir)
    else:
        raise ValueError(how)


DAMAGES = {
    "truncated": ("damaged", "vectors.faiss does not match its checksum"),
    "bit-flipped": ("damaged", "arrays.npz does not match its checksum"),
    "file-deleted": ("damaged", "passages.jsonl is missing"),
    "manifest-garbage": ("damaged", "manifest is unreadable"),
    "build-deleted": ("damaged", "manifest.json is missing"),
    "index-deleted": ("no index", "there is no index in"),
}


# --- at start ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", DAMAGES)
def test_damaged_index_is_logged_and_rebuilt_at_start(fake_settings, how, caplog):
    settings = fake_settings.replace(index_poll_seconds=0)
    ensure_index(settings, FakeEncoder())
    before = current_build(settings.index_dir).name
    _damage(settings.index_dir, how)

    with caplog.at_level(logging.WARNING, logger="qa_service"):
        app = create_app(settings, encoder=FakeEncoder())
    kind, detail = DAMAGES[how]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(kind in m and detail in m and m.endswith("rebuilding it") for m in warnings), warnings
    ready = app.test_client().get("/readyz").get_json()
    assert ready["passages"] == 15 and ready["documents"] == 1
    assert current_build(settings.index_dir).name != before
    load_index(settings.index_dir)  # the new build verifies


@pytest.mark.parametrize("how", DAMAGES)
def test_damaged_index_refuses_to_start_with_rebuild_never(fake_settings, how):
    settings = fake_settings.replace(index_poll_seconds=0, rebuild="never")
    ensure_index(settings.replace(rebuild="auto"), FakeEncoder())
    _damage(settings.index_dir, how)
    state = _tree_digest(settings.index_dir) if settings.index_dir.exists() else None

    with pytest.raises(IndexProblem) as info:
        create_app(settings, encoder=FakeEncoder())
    kind, detail = DAMAGES[how]
    message = str(info.value)
    assert kind in message and detail in message
    assert "QA_REBUILD=never forbids rebuilding it" in message and "qa-service build" in message
    # Nothing was touched: the damage is there for the operator to look at.
    assert (_tree_digest(settings.index_dir) if settings.index_dir.exists() else None) == state


@pytest.mark.parametrize("change", ["model", "corpus", "settings"])
def test_index_from_something_else_is_noticed(fake_settings, change, caplog):
    settings = fake_settings.replace(index_poll_seconds=0)
    encoder = FakeEncoder()
    if change == "model":
        ensure_index(settings, FakeEncoder(identity="fake:another-model"))
        expect = "model differs"
    elif change == "corpus":
        ensure_index(settings, encoder)
        (settings.corpus_dir / "other.txt").write_text("Another statement, on fisheries.\n", encoding="utf-8")
        expect = "corpus_fingerprint differs"
    else:
        ensure_index(settings.replace(embed_context=not settings.embed_context), encoder)
        expect = "build_params differs"

    with pytest.raises(IndexMismatch, match=expect):
        create_app(settings.replace(rebuild="never"), encoder=encoder)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="qa_service"):
        app = create_app(settings, encoder=encoder)
    if change == "corpus":  # an ordinary update: said at INFO, no warning
        assert any(r.levelno == logging.INFO and "the corpus changed" in r.getMessage() for r in caplog.records)
        assert not any(r.levelno >= logging.WARNING for r in caplog.records)
    else:
        assert any("is stale" in r.getMessage() and expect in r.getMessage() for r in caplog.records)
    assert app.test_client().get("/readyz").status_code == 200
    load_fresh_index(settings, encoder)


def _serve_never(settings, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "QA_CORPUS_DIR": str(settings.corpus_dir),
        "QA_INDEX_DIR": str(settings.index_dir),
        "QA_MODEL_CACHE_DIR": str(settings.model_cache_dir),
        "QA_REBUILD": "never",
        "QA_PORT": "1",  # never bound: the service must stop before it serves
        **(env_extra or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "qa_service", "serve"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("how", ["truncated", "index-deleted", "other-model"])
def test_serve_refuses_to_start_with_a_clear_message(fake_settings, how):
    ensure_index(fake_settings, FakeEncoder())  # built by a fake model: "another model" for the real one
    if how != "other-model":
        _damage(fake_settings.index_dir, how)
    done = _serve_never(fake_settings)
    assert done.returncode != 0
    assert "cannot start:" in done.stderr
    assert "QA_REBUILD=never forbids rebuilding it: run `qa-service build` or set QA_REBUILD=auto" in done.stderr
    expected = {
        "truncated": "vectors.faiss does not match its checksum",
        "index-deleted": "there is no index in",
        "other-model": "model differs",
    }[how]
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
    assert "Booting worker" not in done.stderr  # refused before the server started


# --- builds killed halfway -----------------------------------------------------------------------------


def _wait_for_line(process: subprocess.Popen, needle: str, timeout: float) -> str:
    """Read the process's output until a line contains ``needle``."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"process ended before {needle!r}: {''.join(seen)}")
        seen.append(line)
        if needle in line:
            return line
    raise TimeoutError(f"{needle!r} not seen: {''.join(seen)}")


def test_build_killed_mid_embedding_leaves_the_previous_index(settings, encoder, retriever, tmp_path):
    """`qa-service build --force` with the real model, SIGKILLed while it embeds."""
    index_dir = tmp_path / "index"
    shutil.copytree(settings.index_dir, index_dir)
    before_build = current_build(index_dir).name
    before = _tree_digest(index_dir)
    # The reference encoder with every sentence embedded alone: the ONNX default embeds the statement in a
    # fraction of a second, too fast to be interrupted reliably.
    env = {
        **os.environ,
        "QA_CORPUS_DIR": str(settings.corpus_dir),
        "QA_INDEX_DIR": str(index_dir),
        "QA_BATCH_SIZE": "1",
        "QA_LOG_LEVEL": "info",
        "QA_ENCODER": "torch",
        "QA_SENTENCE_VECTORS": "separate",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "qa_service", "build", "--force"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = _wait_for_line(process, "embedding", timeout=120)
        texts = sum(int(word) for word in line.split() if word.isdigit())
        assert texts > 50  # one text per batch: well over a second of embedding left to interrupt
        time.sleep(0.3)
        assert process.poll() is None, "the build finished before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    assert current_build(index_dir).name == before_build
    assert _tree_digest(index_dir) == before  # not a byte changed
    # The service starts on it as it is, even with rebuilding off.
    data = load_fresh_index(settings.replace(index_dir=index_dir, rebuild="never"), encoder)
    assert data.build == before_build and data.manifest.passages == 15


_KILL_POINT_CHILD = """
import sys, time
from pathlib import Path
from qa_service.index import builds
from qa_service.index.vectors import faiss as faiss_store
from qa_service.settings import Settings
from qa_service.index import build_index
from tests.helpers import FakeEncoder

point = sys.argv[3]

def block():
    print("blocked", flush=True)
    time.sleep(600)

if point == "vectors":  # the new build half written in its temporary folder
    real_save = faiss_store.FaissVectorStore.save
    def save(self, folder):
        written = real_save(self, folder)
        block()
        return written
    faiss_store.FaissVectorStore.save = save
else:  # the new build complete in builds/, CURRENT not yet switched
    real_write = builds.write_atomic
    def write(path, text):
        if path.name == "CURRENT":
            block()
        real_write(path, text)
    builds.write_atomic = write

build_index(Settings(corpus_dir=Path(sys.argv[1]), index_dir=Path(sys.argv[2])), FakeEncoder())
"""


@pytest.mark.parametrize("point", ["vectors", "pointer"])
def test_build_killed_while_writing_leaves_the_previous_index(fake_settings, point):
    settings = fake_settings.replace(rebuild="never")
    first = ensure_index(settings.replace(rebuild="auto"), FakeEncoder())
    process = subprocess.Popen(
        [sys.executable, "-c", _KILL_POINT_CHILD, str(settings.corpus_dir), str(settings.index_dir), point],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for_line(process, "blocked", timeout=60)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    builds = settings.index_dir / "builds"
    leftovers = {p.name for p in builds.iterdir()} - {first.build}
    assert len(leftovers) == 1  # the dead build's folder, never named in CURRENT
    assert current_build(settings.index_dir).name == first.build
    data = ensure_index(settings, FakeEncoder())  # QA_REBUILD=never: starts on the previous build
    assert data.build == first.build and data.manifest.passages == 15
    # The next build cleans up after the dead one (its temporary folder) and takes over.
    second = build_index(settings, FakeEncoder())
    assert current_build(settings.index_dir).name == second.build
    assert not any(p.name.startswith(".tmp-") for p in builds.iterdir())


# --- hot swap while serving ----------------------------------------------------------------------------

NEW_DOCUMENT = "Fisheries statement\n\nThe delegation spoke about sustainable fisheries, fish stocks and oceans.\n"


def test_new_build_is_swapped_in_and_requests_in_flight_use_the_old_one(fake_settings, caplog):
    settings = fake_settings.replace(index_poll_seconds=0)
    encoder = GatedEncoder()
    app = create_app(settings, Retriever(ensure_index(settings, encoder), encoder))
    watcher = app.extensions["qa_index_watcher"]
    old_build = current_build(settings.index_dir).name
    question = {"question": "sustainable fisheries fish stocks oceans", "top_k": 3}

    encoder.hold = True
    with ThreadPoolExecutor(max_workers=1) as pool:
        in_flight = pool.submit(app.test_client().post, "/api/v1/ask", json=question)
        encoder.wait_entered(1)

        (settings.corpus_dir / "fisheries.txt").write_text(NEW_DOCUMENT, encoding="utf-8")
        new = build_index(settings, FakeEncoder())  # what `qa-service build` does from another process
        with caplog.at_level(logging.INFO, logger="qa_service"):
            assert watcher.check() is True
        assert watcher.check() is False  # nothing newer

        encoder.hold = False
        after = app.test_client().post("/api/v1/ask", json=question).get_json()
        assert after["answers"][0]["source"]["document"] == "fisheries"
        assert app.test_client().get("/readyz").get_json()["documents"] == 2

        encoder.release()
        before = in_flight.result()
    assert before.status_code == 200
    # Answered wholly from the index it started with: the new document did not exist there.
    assert {a["source"]["document"] for a in before.get_json()["answers"]} == {STATEMENT_ID}
    assert any(
        f"swapped in index {new.build}" in r.getMessage() and old_build in r.getMessage() for r in caplog.records
    )


def test_a_damaged_new_build_is_not_swapped_in(fake_settings, caplog):
    settings = fake_settings.replace(index_poll_seconds=0)
    encoder = FakeEncoder()
    app = create_app(settings, Retriever(ensure_index(settings, encoder), encoder))
    watcher = app.extensions["qa_index_watcher"]
    (settings.corpus_dir / "fisheries.txt").write_text(NEW_DOCUMENT, encoding="utf-8")
    new = build_index(settings, encoder)
    (settings.index_dir / "builds" / new.build / "vectors.faiss").write_bytes(b"garbage")

    with caplog.at_level(logging.ERROR, logger="qa_service"):
        assert watcher.check() is False
    assert any(
        f"not swapping in build {new.build}" in r.getMessage() and "damaged" in r.getMessage() for r in caplog.records
    )
    assert app.test_client().get("/readyz").get_json()["documents"] == 1  # still the old index
    assert app.test_client().post("/api/v1/ask", json={"question": "terrorism"}).status_code == 200
    assert watcher.check() is False  # refused once, not retried on every poll

    repaired = build_index(settings, encoder)
    assert watcher.check() is True
    assert app.test_client().get("/readyz").get_json()["documents"] == 2
    assert repaired.build != new.build


def test_swaps_under_load_fail_no_request(fake_settings):
    settings = fake_settings.replace(index_poll_seconds=0.05)
    encoder = FakeEncoder()
    app = create_app(settings, Retriever(ensure_index(settings, encoder), encoder))
    stop = threading.Event()
    statuses: list[int] = []

    def hammer() -> None:
        client = app.test_client()
        while not stop.is_set():
            statuses.append(client.post("/api/v1/ask", json={"question": "terrorism fisheries"}).status_code)
            statuses.append(client.get("/", query_string={"q": "terrorism"}).status_code)

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(3):
            (settings.corpus_dir / f"extra-{i}.txt").write_text(
                NEW_DOCUMENT.replace("Fisheries", f"Note {i}"), encoding="utf-8"
            )
            build_index(settings, encoder)
            deadline = time.monotonic() + 10
            while app.test_client().get("/readyz").get_json()["documents"] != i + 2:
                assert time.monotonic() < deadline, "the polling watcher never swapped the build in"
                time.sleep(0.02)
    finally:
        stop.set()
        for t in threads:
            t.join()
        app.extensions["qa_index_watcher"].stop()
    assert statuses and set(statuses) == {200}
