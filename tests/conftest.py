"""Shared fixtures: settings on a temporary index folder, the real model loaded once per session,
a deterministic fake encoder for fast unit tests, the Flask app, client and CLI runner, and for the
browser tests the real server (``qa-service serve``) on 127.0.0.1 and one headless Chromium."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from qa_service.encoders import Encoder, make_encoder
from qa_service.http.app import create_app
from qa_service.index import ensure_index
from qa_service.ranking import RankingParams, Retriever
from qa_service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
DATA = Path(__file__).resolve().parent / "data"
#: Where the ONNX export of the model is cached across test runs (gitignored, like the service's own).
MODEL_CACHE = ROOT / "embeddings" / "models"
STATEMENT_ID = "kazakhstan-statement-measures-to-eliminate-international-terrorism"


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSON-lines file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class FakeEncoder:
    """A deterministic bag-of-words encoder: texts sharing words get similar unit vectors.

    Fast and model-free, for tests of storage, staleness and ranking mechanics.
    """

    def __init__(self, dim: int = 64, identity: str = "fake:bow-64") -> None:
        self._dim = dim
        self._identity = identity
        self.calls = 0

    @property
    def identity(self) -> str:
        return self._identity

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def max_tokens(self) -> int:
        return 256

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 2

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self._dim, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            h = int(hashlib.md5(word.encode()).hexdigest(), 16)
            v[h % self._dim] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def encode(
        self, texts: Sequence[str], batch_size: int = 32, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        self.calls += len(texts)
        if progress:
            progress(len(texts))
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self._dim), np.float32)

    def encode_spans(self, texts, spans, batch_size=32, progress=None):
        vectors = self.encode(texts, batch_size, progress)
        pooled = [
            np.stack([self._vector(t[a:b]) for a, b in s]) if s else np.zeros((0, self._dim), np.float32)
            for t, s in zip(texts, spans)
        ]
        return vectors, pooled

    def encode_query(self, text: str) -> np.ndarray:
        return self._vector(text)

    def warm_up(self) -> None:
        pass

    def prepare(self) -> None:
        pass

    def is_prepared(self) -> bool:
        return True


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped corpus."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture
def fake_settings(tmp_path: Path, corpus_copy: Path) -> Settings:
    """Settings on a temporary corpus copy and index folder."""
    return Settings(corpus_dir=corpus_copy, index_dir=tmp_path / "index")


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings for the real service: the shipped corpus, a session-wide temporary index."""
    return Settings.from_env(
        corpus_dir=CORPUS, index_dir=tmp_path_factory.mktemp("index"), model_cache_dir=MODEL_CACHE, rebuild="auto"
    )


@pytest.fixture(scope="session")
def encoder(settings: Settings) -> Encoder:
    """The real model behind the configured encoder (QA_ENCODER, the service's default), loaded once."""
    enc = make_encoder(settings)
    enc.warm_up()
    return enc


@pytest.fixture(scope="session")
def retriever(settings: Settings, encoder: Encoder) -> Retriever:
    """A retriever over the statement, built with the real model."""
    index = ensure_index(settings, encoder)
    return Retriever(index, encoder, RankingParams.from_settings(settings))


@pytest.fixture(scope="session")
def app(settings: Settings, retriever: Retriever):
    """The Flask app over the real retriever."""
    application = create_app(settings, retriever)
    application.config.update(TESTING=True)
    return application


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner():
    from click.testing import CliRunner

    return CliRunner()


# -- the real server and a real browser (tests/test_browser.py) ------------------------------------------

#: Debian's Chromium (``make test`` installs it when missing); no tool here downloads a browser.
CHROMIUM = Path(os.environ.get("QA_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
#: Screenshots of the main states of the page (git-ignored).
ARTIFACTS = ROOT / "test-artifacts" / "browser"


def _missing(reason: str) -> None:
    """Skip a test that needs something absent on a developer's machine; in CI, fail instead."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class LiveServer:
    """A running ``qa-service serve``: its base URL (no trailing slash) and its log file."""

    url: str
    log: Path


def _wait_until_ready(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"the server exited with {process.returncode}:\n{log.read_text(errors='replace')[-4000:]}"
            )
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the server was not ready within {timeout:.0f} s:\n{log.read_text(errors='replace')[-4000:]}")


@pytest.fixture(scope="session")
def live_server(
    settings: Settings, retriever: Retriever, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """``qa-service serve`` (gunicorn) on 127.0.0.1 and a free port, over the session's index.

    The ``retriever`` fixture has built the index; the server is told never to rebuild, so it serves
    exactly that one. One worker is enough for one browser and keeps the start short.
    """
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = {
        **os.environ,
        "QA_CORPUS_DIR": str(settings.corpus_dir),
        "QA_INDEX_DIR": str(settings.index_dir),
        "QA_MODEL_CACHE_DIR": str(settings.model_cache_dir),
        "QA_REBUILD": "never",
        "QA_WORKERS": "1",
        "QA_THREADS": "4",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    command = [sys.executable, "-m", "qa_service", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_until_ready(url, process, log, timeout=180)
        yield LiveServer(url, log)
    finally:
        # The server is the leader of its own process group: stop it and its workers, gently first.
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """One headless Debian Chromium for the session, driven by Playwright (never a downloaded browser)."""
    if not CHROMIUM.exists():
        _missing(f"Chromium is not at {CHROMIUM}: `make test` installs it (apt-get install chromium chromium-driver)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed: pip install -e '.[test]'")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
