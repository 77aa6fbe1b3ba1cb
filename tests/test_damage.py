"""Damaged states of the index folder are rebuilt (QA_REBUILD=auto) or refused (never) with one clear line,
never a traceback; a running server logs a damaged candidate once; what a server answers from is what it
verified when it loaded it, whatever later happens to the files on disk."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from qa_service.http.app import create_app
from qa_service.index import IndexCorrupt, IndexProblem, current_build, ensure_index, load_index

from .helpers import ROOT, FakeEncoder, ask, free_port, request, wait_until_up


def _manifest(index_dir: Path, change) -> None:
    path = current_build(index_dir) / "manifest.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw = change(raw)
    path.write_text(json.dumps(raw), encoding="utf-8")


def _set(**fields):
    return lambda raw: {**raw, **fields}


def _without(name):
    return lambda raw: {k: v for k, v in raw.items() if k != name}


def _files_without(name):
    return lambda raw: {**raw, "files": {k: v for k, v in raw["files"].items() if k != name}}


def _replace_with_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()
    (path / "inside").write_text("x", encoding="utf-8")


def _builds_as_file(index_dir: Path) -> None:
    shutil.rmtree(index_dir / "builds")
    (index_dir / "builds").write_text("not a folder", encoding="utf-8")


#: Each damage and the words the one line about it must hold.
DAMAGES = {
    "current-bytes": (lambda d: (d / "CURRENT").write_bytes(b"\xb5\x01\xfe"), "CURRENT does not hold a build name"),
    "current-folder": (lambda d: _replace_with_folder(d / "CURRENT"), "CURRENT is not a file"),
    "current-empty": (lambda d: (d / "CURRENT").write_bytes(b""), "CURRENT does not hold a build name"),
    "current-path": (lambda d: (d / "CURRENT").write_text("../../etc\n"), "CURRENT does not hold a build name"),
    "current-missing-target": (lambda d: (d / "CURRENT").write_text("20990101T000000Z-1-000001\n"), "is gone"),
    "builds-a-file": (_builds_as_file, "builds is not a folder"),
    "files-null": (lambda d: _manifest(d, _set(files=None)), "field 'files' must be an object of string values"),
    "files-list": (lambda d: _manifest(d, _set(files=[])), "field 'files' must be an object of string values"),
    "files-empty": (lambda d: _manifest(d, _set(files={})), "the manifest has no checksum for"),
    "files-no-store": (lambda d: _manifest(d, _files_without("vectors.faiss")), "no checksum for vectors.faiss"),
    "files-outside": (lambda d: _manifest(d, _set(files={"../x": "0"})), "not a file of the build"),
    "next-id-null": (lambda d: _manifest(d, _set(next_id=None)), "field 'next_id' must be an integer, not null"),
    "dim-string": (lambda d: _manifest(d, _set(dim="64")), "field 'dim' must be an integer, not a string"),
    "dim-true": (lambda d: _manifest(d, _set(dim=True)), "field 'dim' must be an integer"),
    "count-negative": (lambda d: _manifest(d, _set(passages=-1)), "field 'passages' is negative"),
    "model-missing": (lambda d: _manifest(d, _without("model")), "field 'model' is missing"),
    "unknown-field": (lambda d: _manifest(d, _set(extra=1)), "unknown field 'extra'"),
    "not-an-object": (lambda d: _manifest(d, lambda raw: [raw]), "a JSON object is expected, not an array"),
    "store-null": (lambda d: _manifest(d, _set(vector_store=None)), "field 'vector_store' must be an object"),
    "plan-garbage": (
        lambda d: _manifest(d, lambda raw: {**raw, "vector_store": {"kind": "faiss", "plan": "ivf"}}),
        "unreadable index plan",
    ),
}


def _built(fake_settings):
    settings = fake_settings.replace(index_poll_seconds=0)
    ensure_index(settings, FakeEncoder())
    return settings


def _single_line(messages: list[str]) -> None:
    for message in messages:
        assert "\n" not in message and "Traceback" not in message, message


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_state_is_rebuilt_with_one_line(fake_settings, how, caplog):
    settings = _built(fake_settings)
    damage, detail = DAMAGES[how]
    damage(settings.index_dir)
    caplog.clear()

    with caplog.at_level(logging.WARNING, logger="qa_service"):
        app = create_app(settings, encoder=FakeEncoder())
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    about = [m for m in warnings if "rebuilding it" in m]
    assert len(about) == 1 and detail in about[0], warnings
    _single_line(warnings)
    assert not any(r.exc_info for r in caplog.records)
    assert app.test_client().get("/readyz").get_json()["passages"] == 15
    answer = app.test_client().post("/api/v1/ask", json={"question": "terrorism"}).get_json()
    assert answer["answers"] and answer["answers"][0]["source"]["document"]
    assert load_index(settings.index_dir).manifest.passages == 15  # the new build verifies
    assert (settings.index_dir / "builds").is_dir() and (settings.index_dir / "CURRENT").is_file()


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_state_is_refused_with_one_line_when_rebuilding_is_off(fake_settings, how):
    settings = _built(fake_settings).replace(rebuild="never")
    damage, detail = DAMAGES[how]
    damage(settings.index_dir)

    with pytest.raises(IndexProblem) as info:
        create_app(settings, encoder=FakeEncoder())
    message = str(info.value)
    assert detail in message and "QA_REBUILD=never forbids rebuilding it" in message
    assert "\n" not in message


def test_the_manifest_schema_accepts_what_a_build_writes(fake_settings):
    settings = _built(fake_settings)
    assert load_index(settings.index_dir).manifest.files  # round trip through IndexManifest.from_json


def _serve(settings, rebuild: str, port: int, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "QA_CORPUS_DIR": str(settings.corpus_dir),
        "QA_INDEX_DIR": str(settings.index_dir),
        "QA_MODEL_CACHE_DIR": str(settings.model_cache_dir),
        "QA_REBUILD": rebuild,
        "QA_WORKERS": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    command = [sys.executable, "-m", "qa_service", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


@pytest.mark.parametrize("how", ["current-bytes", "current-folder", "builds-a-file", "files-null", "next-id-null"])
def test_serve_refuses_a_damaged_state_with_one_line_and_a_failing_status(fake_settings, how, tmp_path):
    settings = _built(fake_settings)
    DAMAGES[how][0](settings.index_dir)
    log = tmp_path / "serve.log"
    process = _serve(settings, "never", 1, log)
    try:
        assert process.wait(timeout=180) != 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    output = log.read_text(errors="replace")
    assert "Traceback" not in output and "Booting worker" not in output, output
    lines = [line for line in output.splitlines() if "cannot start:" in line]
    assert len(lines) == 1 and DAMAGES[how][1] in lines[0], output


@pytest.mark.slow
def test_serve_rebuilds_a_damaged_current_and_answers(fake_settings, tmp_path):

    settings = _built(fake_settings)  # built by the fake model: the real one rebuilds it anyway
    (settings.index_dir / "CURRENT").write_bytes(b"\xb5\x01\xfe")
    port = free_port()
    log = tmp_path / "serve.log"
    process = _serve(settings, "auto", port, log)
    try:
        wait_until_up(port, process, timeout=300)
        status, _, body, _ = ask(port, "What does Kazakhstan propose against terrorism?")
        assert status == 200 and json.loads(body)["answers"]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    output = log.read_text(errors="replace")
    assert "Traceback" not in output
    assert sum("CURRENT does not hold a build name" in line for line in output.splitlines()) == 1


# --- the watcher of a running app ----------------------------------------------------------------------


@pytest.mark.parametrize("how", ["current-bytes", "current-folder", "builds-a-file", "files-null", "dim-string"])
def test_a_running_app_logs_a_damaged_candidate_once_and_keeps_answering(fake_settings, how, caplog):
    settings = _built(fake_settings)
    app = create_app(settings, encoder=FakeEncoder())
    client = app.test_client()
    before = client.post("/api/v1/ask", json={"question": "terrorism financing"}).get_json()["answers"]
    watcher = app.extensions["qa_index_watcher"]
    if how.startswith("current") or how == "builds-a-file":
        DAMAGES[how][0](settings.index_dir)
    else:  # a new build, damaged, named in CURRENT
        from qa_service.index import build_index

        build_index(settings.replace(max_passage_tokens=200), FakeEncoder())
        DAMAGES[how][0](settings.index_dir)
    caplog.clear()

    with caplog.at_level(logging.INFO, logger="qa_service"):
        for _ in range(5):
            assert watcher.check() is False
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and DAMAGES[how][1] in errors[0].getMessage(), [r.getMessage() for r in errors]
    assert "still answering from" in errors[0].getMessage() and not errors[0].exc_info
    after = client.post("/api/v1/ask", json={"question": "terrorism financing"}).get_json()["answers"]
    assert after == before


# --- files changed under a running server ----------------------------------------------------------------

#: A real gunicorn server (two workers) over a corpus large enough that questions score windows the vector
#: search did not return, from ``windows.npy``'s vectors (with a few passages, every one is returned).
_SERVER = """
import sys
from pathlib import Path
from qa_service.http.app import create_app
from qa_service.http.server import run
from qa_service.index import ensure_index
from qa_service.ranking import Retriever
from qa_service.settings import Settings
from tests.helpers import FakeEncoder

corpus, index, port = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
settings = Settings(corpus_dir=corpus, index_dir=index, host="127.0.0.1", port=port, workers=2, threads=2,
                    index_poll_seconds=0, log_level="warning", rebuild="never")

def factory():
    encoder = FakeEncoder()
    return create_app(settings, Retriever(ensure_index(settings, encoder), encoder))

run(settings, app_factory=factory)
"""

_TOPICS = "water energy oceans climate trade debt health schools women refugees nuclear peacekeeping".split()


def _large_corpus(corpus: Path) -> None:
    for n in range(24):
        topic, other = _TOPICS[n % len(_TOPICS)], _TOPICS[(n * 5 + 3) % len(_TOPICS)]
        paragraphs = [
            f"Paragraph {k} on {topic} and {other}: the delegation of country {n} asked the assembly to act on "
            f"{topic}, noting that {other} and {_TOPICS[(n + k) % len(_TOPICS)]} also matter to its people."
            for k in range(10)
        ]
        (corpus / f"statement-{n:02d}.txt").write_text(f"Statement {n} on {topic}\n\n" + "\n\n".join(paragraphs))


QUESTIONS = [f"what was said about {topic} and {other}?" for topic in _TOPICS for other in _TOPICS[:2]] + [
    "terrorism",
    "financing of terrorism",
]


def _answers(port: int) -> list:
    out = []
    for question in QUESTIONS:
        status, _, body, _ = ask(port, question, timeout=30)
        assert status == 200, body
        answers = json.loads(body)["answers"]
        out.append([(a["source"]["document"], a["source"]["passage"], a["score"]) for a in answers])
    return out


def _worker_pids(server: subprocess.Popen) -> set[int]:
    return {int(pid) for pid in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()}


@pytest.mark.parametrize("how", ["rewritten", "truncated"])
def test_index_files_changed_under_a_running_server_change_nothing(fake_settings, tmp_path, how):

    _large_corpus(fake_settings.corpus_dir)
    ensure_index(fake_settings, FakeEncoder())
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(fake_settings.corpus_dir), str(fake_settings.index_dir), str(port)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_up(port, server)
        before = _answers(port)
        workers = _worker_pids(server)
        build = current_build(fake_settings.index_dir)
        for name in ("windows.npy", "arrays.npz", "vectors.faiss", "passages.jsonl"):
            path = build / name
            if how == "rewritten":  # same size, other bytes, in place (same inode)
                size = path.stat().st_size
                with open(path, "r+b") as fh:
                    fh.seek(128)
                    fh.write(os.urandom(size - 128))
            else:
                os.truncate(path, 0)
        assert _answers(port) == before
        assert server.poll() is None and _worker_pids(server) == workers  # no worker died (SIGBUS) or restarted
        assert request(port, "GET", "/readyz")[0] == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
    output = log.read_text(errors="replace")
    assert "SIGBUS" not in output and "Traceback" not in output, output


def test_a_build_changed_after_its_checksums_were_read_is_refused(fake_settings):
    """Loading hashes the bytes it parses: a file that no longer matches is damage, never half-used."""
    settings = _built(fake_settings)
    windows = current_build(settings.index_dir) / "windows.npy"
    raw = bytearray(windows.read_bytes())
    raw[-1] ^= 0xFF
    windows.write_bytes(bytes(raw))
    with pytest.raises(IndexCorrupt, match="windows.npy does not match its checksum"):
        load_index(settings.index_dir)


def test_loaded_vectors_are_in_memory_and_read_only(fake_settings):
    settings = _built(fake_settings)
    data = load_index(settings.index_dir, settings)
    assert not isinstance(data.window_vectors, __import__("numpy").memmap)
    assert not data.window_vectors.flags.writeable
