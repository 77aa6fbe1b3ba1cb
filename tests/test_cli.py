"""The qa-service command (real model; the index is the session's)."""

from __future__ import annotations

import json

import pytest

from qa_service.cli import main


@pytest.fixture
def env(monkeypatch, settings, retriever):
    monkeypatch.setenv("QA_CORPUS_DIR", str(settings.corpus_dir))
    monkeypatch.setenv("QA_INDEX_DIR", str(settings.index_dir))
    monkeypatch.setenv("QA_MODEL_CACHE_DIR", str(settings.model_cache_dir))


def test_ask_json(runner, env):
    result = runner.invoke(main, ["ask", "--json", "-k", "2", "Who delivered the statement?"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert len(body["answers"]) == 2
    assert set(body) == {"question", "answers", "no_answer", "took_ms"}


def test_ask_text(runner, env):
    result = runner.invoke(main, ["ask", "How many observer countries does CICA have?"])
    assert result.exit_code == 0, result.output
    assert "#1" in result.output and "passage 13" in result.output


def test_ask_refuses_bad_input(runner, env):
    assert runner.invoke(main, ["ask", "   "]).exit_code == 2
    assert runner.invoke(main, ["ask", "-k", "50", "terrorism"]).exit_code == 2


def test_build_reports_a_fresh_index(runner, env):
    result = runner.invoke(main, ["build"])
    assert result.exit_code == 0, result.output
    assert "1 documents, 15 passages" in result.output


def test_help_lists_commands(runner):
    result = runner.invoke(main, ["--help"])
    for command in ("build", "ask", "serve"):
        assert command in result.output
