"""What a running app holds: its settings and its retriever, reachable from any request.

The retriever can be replaced while the app serves (a new build swapped in). A request reads it once and
keeps that one to its end, so a request in flight during a swap is answered wholly from the old index,
and every later request from the new one.
"""

from __future__ import annotations

import threading

from flask import current_app, g, has_request_context

from ..ranking import Retriever
from ..settings import Settings

EXTENSION_KEY = "qa_service"


class ServiceState:
    """The settings and the current retriever of one app."""

    def __init__(self, settings: Settings, retriever: Retriever) -> None:
        self.settings = settings
        self._retriever = retriever
        self._lock = threading.Lock()

    @property
    def retriever(self) -> Retriever:
        """The retriever of the current request (the one current when the request first asked)."""
        if not has_request_context():
            return self._retriever
        pinned = g.get("_qa_retriever")
        if pinned is None:
            pinned = g._qa_retriever = self._retriever
        return pinned

    @property
    def current(self) -> Retriever:
        """The retriever new requests get."""
        return self._retriever

    def swap(self, retriever: Retriever) -> Retriever:
        """Make ``retriever`` the one new requests get; returns the one it replaces."""
        with self._lock:
            old, self._retriever = self._retriever, retriever
        return old


def service() -> ServiceState:
    """The state of the app handling the current request."""
    return current_app.extensions[EXTENSION_KEY]
