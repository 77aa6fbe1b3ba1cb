"""A real Milvus standalone server (``milvus-server`` from the ``milvus`` package) for the tests.

Started once per session on free loopback ports in its own process group (the wrapper forks the real
``milvus run standalone``), and stopped as a group. Import the ``milvus_server`` fixture into a test
module to use it; it yields the server's URI.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import free_ports

#: The component ports ``milvus-server`` takes options for; each gets a free loopback port.
PORT_OPTIONS = (
    "--proxy-port",
    "--etcd-port",
    "--root-coord-port",
    "--proxy-internal-port",
    "--query-coord-port",
    "--query-node-port",
    "--index-coord-port",
    "--index-node-port",
    "--data-coord-port",
    "--data-node-port",
)
START_SECONDS = 180


def _milvus_server_command() -> str:
    found = Path(sys.executable).with_name("milvus-server")
    if found.exists():
        return str(found)
    which = shutil.which("milvus-server")
    if which is None:
        pytest.fail("milvus-server is missing: install the test extra (pip install -e '.[test]')")
    return which


def _ready(uri: str) -> bool:
    from pymilvus import MilvusClient

    try:
        client = MilvusClient(uri, timeout=3)
        client.list_collections()
        client.close()
        return True
    except Exception:
        return False


def _stop(process: subprocess.Popen) -> None:
    """Stop the server's whole process group: SIGTERM, then SIGKILL if it lingers."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # the forked standalone may outlive the wrapper
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory) -> Iterator[str]:
    """The URI (``http://127.0.0.1:PORT``) of a Milvus standalone server running for the session."""
    data = tmp_path_factory.mktemp("milvus-server")
    ports = free_ports(len(PORT_OPTIONS))
    command = [_milvus_server_command(), "--data", str(data)]
    for option, port in zip(PORT_OPTIONS, ports):
        command += [option, str(port)]
    log = open(data / "server.log", "wb")  # noqa: SIM115 - closed after the server stops
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"http://127.0.0.1:{ports[0]}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while not _ready(uri):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (data / "server.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"milvus-server did not start on {uri}:\n{tail}")
            time.sleep(1)
        yield uri
    finally:
        _stop(process)
        log.close()
