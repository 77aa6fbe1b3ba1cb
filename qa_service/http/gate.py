"""Admission control: a worker answers a few requests at once, lets a few wait, and refuses the rest.

Without it, a saturated server queues requests without bound (gunicorn's threads take connections as
they come, and its pool queue holds up to ``worker_connections`` per worker): every client waits longer
and longer and nothing says so. With it, each worker answers at most ``slots`` requests at once, lets at
most ``queue`` more wait for a slot (each at most ``wait_seconds``), and answers any request beyond that
with ``503`` and ``Retry-After`` at once. The server runs ``slots + queue + 1`` threads per worker, so a
thread is always free to refuse (see ``server.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask, g

from ..errors import Overloaded


class AdmissionGate:
    """At most ``slots`` requests answered at once and ``queue`` waiting; the rest refused."""

    def __init__(self, slots: int, queue: int, wait_seconds: float) -> None:
        if slots < 1 or queue < 0 or wait_seconds < 0:
            raise ValueError("slots must be at least 1, queue and wait_seconds not negative")
        self.slots = slots
        self.queue = queue
        self.wait_seconds = wait_seconds
        self._free = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._admitted = 0

    @property
    def admitted(self) -> int:
        """Requests being answered or waiting for a slot."""
        return self._admitted

    @property
    def full(self) -> bool:
        """Whether a request arriving now would be refused (every slot and queue place taken)."""
        return self._admitted >= self.slots + self.queue

    def enter(self) -> bool:
        """Take a slot, waiting in the queue if there is room in it; False when refused."""
        with self._lock:
            if self._admitted >= self.slots + self.queue:
                return False
            self._admitted += 1
        if self._free.acquire(timeout=self.wait_seconds):
            return True
        with self._lock:
            self._admitted -= 1
        return False

    def leave(self) -> None:
        """An admitted request finished: its slot is free."""
        self._free.release()
        with self._lock:
            self._admitted -= 1


def install_gate(
    app: Flask, slots: int, queue: int, wait_seconds: float, exempt: Callable[[], bool], retry_after: int = 1
) -> AdmissionGate:
    """Put every request but the exempt ones through an :class:`AdmissionGate`; 503 when refused."""
    gate = AdmissionGate(slots, queue, wait_seconds)

    @app.before_request
    def _admit() -> None:
        if exempt():
            return
        if not gate.enter():
            raise Overloaded(retry_after)
        g._qa_admitted = True

    @app.teardown_request
    def _release(_exc: BaseException | None) -> None:
        if g.pop("_qa_admitted", False):
            gate.leave()

    return gate
