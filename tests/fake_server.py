"""``qa-service serve`` with the tests' fast fake encoder: the real production server (gunicorn, the
service's worker, every guard, the access log) without loading the model.

Settings come from ``QA_*`` environment variables as for the real command; the index is built with the
fake encoder in ``QA_INDEX_DIR``. Start it from a test with :func:`fake_server`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .conftest import ROOT, FakeEncoder
from .support import free_port, wait_until_up


@contextmanager
def fake_server(tmp: Path, **env: str) -> Iterator[tuple[int, Path]]:
    """Serve on a free loopback port until the block ends; yields the port and the server's log file.

    ``env`` sets ``QA_*`` variables (``QA_WORKERS`` defaults to 2, the production layout). The server
    leads its own process group, which is stopped as a whole.
    """
    port = free_port()
    log = tmp / "server.log"
    variables = {
        **os.environ,
        "QA_CORPUS_DIR": str(ROOT / "corpus"),
        "QA_INDEX_DIR": str(tmp / "index"),
        "QA_HOST": "127.0.0.1",
        "QA_PORT": str(port),
        "QA_WORKERS": "2",
        "QA_INDEX_POLL_SECONDS": "0",
        **env,
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.fake_server"],
            env=variables,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_up(port, process)
        yield port, log
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def main() -> None:
    from qa_service.http.app import create_app
    from qa_service.http.server import run
    from qa_service.index import ensure_index
    from qa_service.ranking import Retriever
    from qa_service.settings import Settings

    settings = Settings.from_env()
    ensure_index(settings, FakeEncoder())

    def factory():
        encoder = FakeEncoder()
        return create_app(settings, Retriever(ensure_index(settings, encoder), encoder))

    run(settings, app_factory=factory)


if __name__ == "__main__":
    main()
