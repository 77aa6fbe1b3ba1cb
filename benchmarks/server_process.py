"""Starting and stopping `qa-service serve` for the benchmark scripts (bench.py, load_test.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def free_port() -> int:
    """A port nobody listens on right now, on loopback."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def serve_command(port: int) -> list[str]:
    """`qa-service serve` on loopback, from this environment."""
    script = Path(sys.executable).parent / "qa-service"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "qa_service"]
    return [*command, "serve", "--host", HOST, "--port", str(port)]


def start(port: int, env: dict[str, str], log_file: Path) -> subprocess.Popen:
    """Start the server in its own process group, its output appended to ``log_file``; do not wait."""
    with open(log_file, "ab") as fh:
        return subprocess.Popen(
            serve_command(port), env=env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_ready(port: int, server: subprocess.Popen, limit: float = 120.0, poll: float = 0.01) -> None:
    """Return once /readyz answers 200; raise if the server exits or ``limit`` seconds pass."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}; see its log")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(poll)
    stop(server)
    raise TimeoutError("the server did not become ready")


def stop(server: subprocess.Popen, grace: float = 40.0) -> None:
    """Stop the server (SIGTERM, then SIGKILL to its group after ``grace`` seconds) and wait for it."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
