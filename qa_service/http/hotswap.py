"""Swapping a newer index build into a running service, without a restart and without losing a request.

``qa-service build`` writes a new build beside the one in use and then renames ``CURRENT`` over to it.
A running worker notices the new name, loads the build (verifying its checksums and that it was built
from this corpus, model and settings), makes a new retriever and swaps it in. Requests already in
flight finish with the retriever they started with (see ``state.py``). A build that fails its checks is
logged and left alone: the service keeps answering from the index it has.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..index import IndexData, IndexProblem, IndexUnavailable, current_build, describe_problem, load_fresh_index
from ..ranking import Retriever
from .state import ServiceState

log = logging.getLogger(__name__)


class IndexWatcher:
    """Looks for a newer build and swaps it in; ``check`` once, or ``start`` a polling thread."""

    def __init__(self, state: ServiceState, make_retriever: Callable[[IndexData], Retriever]) -> None:
        self.state = state
        self.make_retriever = make_retriever
        self._refused: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._check_lock = threading.Lock()

    def check(self) -> bool:
        """Swap in the build named by ``CURRENT`` if it is new and sound. True when a swap happened.

        A candidate that cannot be used (a damaged ``CURRENT``, a build that fails its checks) is logged
        once, in one line, and then left alone until ``CURRENT`` names something else.
        """
        with self._check_lock:
            settings = self.state.settings
            serving = self.state.current.index.build or "the index loaded at start"
            try:
                build = current_build(settings.index_dir)
            except IndexProblem as exc:
                self._refuse(f"CURRENT: {exc}", "a new index", describe_problem(exc, settings.index_dir), serving)
                return False
            if build is None or build.name in (self.state.current.index.build, self._refused):
                return False
            try:
                data = load_fresh_index(settings, self.state.current.encoder)
                retriever = self.make_retriever(data)
            except IndexUnavailable as exc:
                log.warning(
                    "not swapping in build %s yet: %s; will try again",
                    build.name,
                    describe_problem(exc, settings.index_dir),
                )
                return False
            except IndexProblem as exc:
                self._refuse(build.name, f"build {build.name}", describe_problem(exc, settings.index_dir), serving)
                return False
            self._refused = None
            old = self.state.swap(retriever)
            log.info(
                "swapped in index %s (%d documents, %d passages) in place of %s",
                data.build,
                data.manifest.documents,
                data.manifest.passages,
                old.index.build or "the index loaded at start",
            )
            return True

    def _refuse(self, candidate: str, what: str, problem: str, serving: str) -> None:
        """Log a candidate that cannot be swapped in, once."""
        if candidate != self._refused:
            self._refused = candidate
            log.error("not swapping in %s: %s; still answering from %s", what, problem, serving)

    def start(self, interval: float) -> None:
        """Check every ``interval`` seconds in a daemon thread (it dies with the process)."""
        if self._thread is not None:
            return

        def loop() -> None:
            last_failure = ""
            while not self._stop.wait(interval):
                try:
                    self.check()
                except Exception as exc:  # never let the watcher die; the service keeps its index
                    failure = f"{type(exc).__name__}: {exc}"
                    if failure != last_failure:
                        log.exception("checking for a new index failed (logged once until it changes)")
                    last_failure = failure
                else:
                    last_failure = ""

        self._thread = threading.Thread(target=loop, name="qa-index-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the polling thread (tests; a server process just exits)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
