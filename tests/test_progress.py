"""Build progress: a log line per phase every few seconds when the output is not a terminal."""

from __future__ import annotations

import io
import logging
import time

from qa_service.index.progress import BuildProgress, describe


def test_log_lines_name_the_phase_counts_rate_and_time_left(caplog):
    progress = BuildProgress(io.StringIO(), interval=0.0, terminal=False)
    with caplog.at_level(logging.INFO, logger="qa_service.index.progress"):
        progress("reading", 10, 415)
        progress("reading", 415, 415)
        progress("embedding", 0, 13000)
        time.sleep(0.01)
        progress("embedding", 500, 13000)
        progress("embedding", 13000, 13000)
        progress("embedding", 13000, 13000)  # the end of a phase is said once
        progress("storing", 0, 0)
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(":")[0] for line in lines] == [
        "reading",
        "reading",
        "embedding",
        "embedding",
        "embedding",
        "storing",
    ]
    assert lines[0].startswith("reading: 10/415 (2%)")
    assert lines[3].startswith("embedding: 500/13000 (4%)") and "left" in lines[3] and "/s" in lines[3]
    assert lines[4].startswith("embedding: 13000/13000 (100%)") and "left" not in lines[4]


def test_a_line_at_most_every_interval_within_a_phase(caplog):
    progress = BuildProgress(io.StringIO(), interval=3600, terminal=False)
    with caplog.at_level(logging.INFO, logger="qa_service.index.progress"):
        for done in range(1, 100):
            progress("embedding", done, 100)
        progress("embedding", 100, 100)
    assert [r.getMessage().split(",")[0] for r in caplog.records] == ["embedding: 100/100 (100%)"]


def test_describe_estimates_time_left():
    assert describe("embedding", 50, 150, 10.0) == "embedding: 50/150 (33%), 5.0/s, about 20 s left, 10 s so far"
    assert "min" in describe("embedding", 10, 10_000, 10.0)


def test_a_terminal_gets_a_bar_per_phase():
    out = io.StringIO()
    progress = BuildProgress(out, terminal=True)
    progress("reading", 5, 10)
    progress("embedding", 3, 30)
    progress.close()
    text = out.getvalue()
    assert "reading" in text and "embedding" in text and "3/30" in text
