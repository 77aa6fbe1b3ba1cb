"""Admission control: a worker answers at most N requests at once and refuses the next at once.

Without it, a saturated server queues requests without bound (gunicorn's threads take connections as
they come, and its pool queue holds up to ``worker_connections`` per worker): every client waits longer
and longer and nothing says so. With it, a request that finds the worker full gets ``503`` with
``Retry-After`` in a millisecond, and the requests admitted keep a bounded latency. The server runs one
thread more than the limit, so that a thread is always free to refuse (see ``server.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask, g

from .errors import Overloaded


class InFlightGate:
    """A counter of requests being answered, with a ceiling."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the in-flight limit must be at least 1")
        self.limit = limit
        self._count = 0
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        """Requests admitted and not yet finished."""
        return self._count

    def try_enter(self) -> bool:
        """Admit one more request, unless ``limit`` are already in flight."""
        with self._lock:
            if self._count >= self.limit:
                return False
            self._count += 1
            return True

    def leave(self) -> None:
        """One admitted request finished."""
        with self._lock:
            self._count -= 1


def install_gate(app: Flask, limit: int, exempt: Callable[[], bool], retry_after: int = 1) -> InFlightGate:
    """Count every request but the exempt ones against ``limit``; refuse the excess with 503."""
    gate = InFlightGate(limit)

    @app.before_request
    def _admit() -> None:
        if exempt():
            return
        if not gate.try_enter():
            raise Overloaded(retry_after)
        g._qa_admitted = True

    @app.teardown_request
    def _release(_exc: BaseException | None) -> None:
        if g.pop("_qa_admitted", False):
            gate.leave()

    return gate
