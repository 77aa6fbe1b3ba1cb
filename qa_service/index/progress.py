"""Showing a build's progress: a bar per phase in a terminal, a log line every few seconds otherwise.

A build reports ``(phase, done, total)`` through its ``Progress`` callback: ``reading`` (documents read
and split), ``embedding`` (texts run through the model), ``storing`` (vectors added to the vector store).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TextIO

log = logging.getLogger("qa_service.index.progress")

#: Called with (phase, done, total) while a build runs: "reading" (documents), "embedding" (texts),
#: "storing" (vectors added to the vector store).
Progress = Callable[[str, int, int], None]


class BuildProgress:
    """A ``Progress`` callback: a tqdm bar per phase when ``stream`` is a terminal, else a log line at most
    every ``interval`` seconds (and at the end of each phase) with phase, counts, rate and time left."""

    def __init__(self, stream: TextIO | None = None, interval: float = 5.0, terminal: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.interval = interval
        self.terminal = self.stream.isatty() if terminal is None else terminal
        self._phase = ""
        self._bar = None
        self._started = 0.0
        self._logged = 0.0
        self._finished = False

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if phase != self._phase:
            self.close()
            self._phase, self._started, self._logged, self._finished = phase, now, now, False
            if self.terminal:
                from tqdm import tqdm

                self._bar = tqdm(
                    desc=phase, total=total, unit="text" if phase == "embedding" else "item", file=self.stream
                )
        if self._bar is not None:
            self._bar.total = total
            self._bar.n = done
            self._bar.refresh()
        elif not self._finished and (now - self._logged >= self.interval or done >= total):
            self._logged = now
            log.info("%s", describe(phase, done, total, now - self._started))
        self._finished = done >= total  # the end of a phase is said once

    def close(self) -> None:
        """End the current phase's bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def describe(phase: str, done: int, total: int, seconds: float) -> str:
    """One line: phase, counts, rate and time left (when it can be told)."""
    rate = done / seconds if seconds > 0 else 0.0
    line = f"{phase}: {done}/{total}"
    if total:
        line += f" ({100 * done / total:.0f}%)"
    if rate > 0:
        line += f", {rate:.1f}/s"
        if done < total:
            line += f", about {_duration((total - done) / rate)} left"
    return line + f", {_duration(seconds)} so far"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"
