"""Fixtures (helpers live in ``tests/helpers.py``) and the ``slow`` marker.

Two kinds of service:

- Without a model: ``app`` / ``client`` serve the shipped corpus through a bag-of-words
  :class:`~tests.helpers.FakeEncoder` (``fake_retriever``), for tests of the API, the page, validation and
  security; ``fake_settings`` / ``fake_encoder`` give a test its own corpus copy and index folder.
- With the real model, loaded once per session: ``settings``, ``encoder``, ``retriever``, ``real_app`` /
  ``real_client`` for what only the model gives (which passage ranks first), ``live_server``
  (``qa-service serve`` in a process) and ``browser`` (one headless Chromium).

Every test that uses a real-model fixture, directly or through another fixture, is marked ``slow`` at
collection (:data:`REAL_MODEL_FIXTURES`), so ``pytest -m "not slow"`` never loads the model; ``make test``
runs everything. A test that is not marked slow and still loads the model (an ONNX Runtime session, the
torch model or an ONNX export, in this process, fixtures included) fails, saying so.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa_service.encoders import Encoder, make_encoder, onnx_export
from qa_service.encoders.onnx_backend import OnnxEncoder
from qa_service.encoders.torch_backend import SentenceTransformerEncoder
from qa_service.http.app import create_app
from qa_service.index import ensure_index
from qa_service.ranking import RankingParams, Retriever
from qa_service.settings import Settings

from .helpers import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    CORPUS,
    MODEL_CACHE,
    FakeEncoder,
    LiveServer,
    start_server,
    stop_server,
)

# -- the slow marker ------------------------------------------------------------------------------------

#: Fixtures that load the real model (or drive the real server in a browser): their users are ``slow``.
REAL_MODEL_FIXTURES = frozenset({"encoder", "retriever", "real_app", "real_client", "live_server", "browser"})

#: Where the real model is made: an ONNX Runtime session, the sentence-transformers model, an ONNX export.
_MODEL_LOADERS = ((OnnxEncoder, "_load"), (SentenceTransformerEncoder, "_load"), (onnx_export, "_export"))
#: The test being set up, run or torn down, and whether it may load the model (outside a test: no).
_running = {"test": "collection", "slow": False}
_model_loads: list[str] = []
_guard = pytest.MonkeyPatch()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test using a real-model fixture (before ``-m`` selects)."""
    for item in items:
        if REAL_MODEL_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def _guarded(real, label: str):
    def load(*args, **kwargs):
        if not _running["slow"]:
            raise AssertionError(
                f"{_running['test']} loads the real model ({label}) but is not marked slow: use a real-model "
                f"fixture ({', '.join(sorted(REAL_MODEL_FIXTURES))}) or mark it with @pytest.mark.slow"
            )
        _model_loads.append(label)
        return real(*args, **kwargs)

    return load


def pytest_configure(config: pytest.Config) -> None:
    """Guard the model's loaders for the whole session, session- and module-scoped fixtures included."""
    for owner, name in _MODEL_LOADERS:
        _guard.setattr(owner, name, _guarded(getattr(owner, name), f"{owner.__name__}.{name}"))


def pytest_unconfigure(config: pytest.Config) -> None:
    _guard.undo()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before the test's fixtures are set up: may they and the test load the model?"""
    _running.update(test=item.nodeid, slow=item.get_closest_marker("slow") is not None)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    terminalreporter.write_line(f"real model loads in this process: {len(_model_loads)}")


# -- without a model --------------------------------------------------------------------------------------


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
def served_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings for the model-free app: the shipped corpus (read only), a session-wide temporary index."""
    return Settings(corpus_dir=CORPUS, index_dir=tmp_path_factory.mktemp("fake-index"))


@pytest.fixture(scope="session")
def fake_retriever(served_settings: Settings) -> Retriever:
    """A retriever over the shipped corpus on a :class:`FakeEncoder` (built once; ask it, do not change it)."""
    encoder = FakeEncoder()
    return Retriever(ensure_index(served_settings, encoder), encoder, RankingParams.from_settings(served_settings))


@pytest.fixture(scope="session")
def app(served_settings: Settings, fake_retriever: Retriever):
    """The Flask app over the shipped corpus, without the model (answers ranked by a fake encoder)."""
    application = create_app(served_settings, fake_retriever)
    application.config.update(TESTING=True)
    return application


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner():
    from click.testing import CliRunner

    return CliRunner()


# -- with the real model --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings for the real service: the shipped corpus, a session-wide temporary index.

    Loads nothing itself; the model is loaded by ``encoder``.
    """
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
def real_app(settings: Settings, retriever: Retriever):
    """The Flask app over the real retriever."""
    application = create_app(settings, retriever)
    application.config.update(TESTING=True)
    return application


@pytest.fixture
def real_client(real_app):
    return real_app.test_client()


def _missing(reason: str) -> None:
    """Skip a test that needs something absent on a developer's machine; in CI, fail instead."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def live_server(
    settings: Settings, retriever: Retriever, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """``qa-service serve`` (gunicorn) on 127.0.0.1 and a free port, over the session's index.

    The ``retriever`` fixture has built the index; the server is told never to rebuild, so it serves
    exactly that one. One worker is enough for one browser and keeps the start short.
    """
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
    log = tmp_path_factory.mktemp("server") / "server.log"
    args = ["-m", "qa_service", "serve", "--host", "127.0.0.1"]
    server = start_server(args, log, env=env, ready_path="/readyz", timeout=180)
    try:
        yield server
    finally:
        stop_server(server)


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
