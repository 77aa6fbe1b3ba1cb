"""Shared fixtures: settings on a temporary index folder, the real model loaded once per session,
a deterministic fake encoder for fast unit tests, and the Flask app, client and CLI runner."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from qa_service.app import create_app
from qa_service.encoder import SentenceTransformerEncoder
from qa_service.indexer import ensure_index
from qa_service.retriever import RankingParams, Retriever
from qa_service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
DATA = Path(__file__).resolve().parent / "data"
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

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: Callable[[int], None] | None = None) -> np.ndarray:
        self.calls += len(texts)
        if progress:
            progress(len(texts))
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self._dim), np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self._vector(text)

    def warm_up(self) -> None:
        pass


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
    return Settings.from_env(corpus_dir=CORPUS, index_dir=tmp_path_factory.mktemp("index"), rebuild="auto")


@pytest.fixture(scope="session")
def encoder(settings: Settings) -> SentenceTransformerEncoder:
    """The real model, loaded once per session."""
    enc = SentenceTransformerEncoder(settings.resolved_model(), settings.torch_threads, settings.query_cache_size)
    enc.warm_up()
    return enc


@pytest.fixture(scope="session")
def retriever(settings: Settings, encoder: SentenceTransformerEncoder) -> Retriever:
    """A retriever over the statement, built with the real model."""
    index = ensure_index(settings, encoder)
    params = RankingParams(dense_weight=settings.dense_weight, no_answer_threshold=settings.no_answer_threshold)
    return Retriever(index, encoder, params)


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
