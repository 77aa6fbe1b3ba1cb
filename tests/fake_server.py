"""``qa-service serve`` with the tests' fast fake encoder: the real production server (gunicorn, the
service's worker, every guard, the access log) without loading the model.

Settings come from ``QA_*`` environment variables as for the real command; the index is built with the
fake encoder in ``QA_INDEX_DIR``. Start it from a test with :func:`fake_server`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .helpers import CORPUS, FakeEncoder, free_port, start_server, stop_server


@contextmanager
def fake_server(tmp: Path, **env: str) -> Iterator[tuple[int, Path]]:
    """Serve on a free loopback port until the block ends; yields the port and the server's log file.

    ``env`` sets ``QA_*`` variables (``QA_WORKERS`` defaults to 2, the production layout). The server
    leads its own process group, which is stopped as a whole.
    """
    variables = {
        **os.environ,
        "QA_CORPUS_DIR": str(CORPUS),
        "QA_INDEX_DIR": str(tmp / "index"),
        "QA_HOST": "127.0.0.1",
        "QA_WORKERS": "2",
        "QA_INDEX_POLL_SECONDS": "0",
        **env,
    }
    server = start_server(["-m", "tests.fake_server"], tmp / "server.log", free_port(), variables)
    try:
        yield server.port, server.log
    finally:
        stop_server(server, timeout=40)


def main() -> None:
    from qa_service.http.app import create_app
    from qa_service.http.server import run
    from qa_service.index import ensure_index
    from qa_service.ranking import Retriever
    from qa_service.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    settings = Settings.from_env(port=parser.parse_args().port)
    ensure_index(settings, FakeEncoder())

    def factory():
        encoder = FakeEncoder()
        return create_app(settings, Retriever(ensure_index(settings, encoder), encoder))

    run(settings, app_factory=factory)


if __name__ == "__main__":
    main()
