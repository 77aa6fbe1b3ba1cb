"""The evaluation harness: question sets, loaders, metrics, calibration, and the statement sets measured
with the real model (the public datasets on a small sample, when ../shared/datasets is present)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa_service.cli import main
from qa_service.evaluation import (
    EvalQuestion,
    QuestionSet,
    calibrate,
    evaluate,
    first_hit,
    fit_rule,
    format_table,
    load_clapnq,
    load_jsonl_set,
    load_question_set,
    load_squad,
    prepare_index,
    resolve_gold,
    summarise,
)
from qa_service.evaluation.datasets import public_split
from qa_service.ranking import Evidence, RankingParams, Retriever
from qa_service.settings import Settings

from .helpers import CORPUS, DATA, read_jsonl

DATASETS = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"
SQUAD = DATASETS / "squad_v1.1_dev" / "dev-v1.1.json"
CLAPNQ = DATASETS / "clapnq_dev"
QUESTIONS = DATA / "statement_questions.jsonl"
TOP3_QUESTIONS = DATA / "statement_top3_questions.jsonl"
OUT_OF_SCOPE = DATA / "statement_out_of_scope.jsonl"


# -- the question sets themselves -----------------------------------------------------------------


def test_statement_sets_are_large_enough_and_cover_every_passage(retriever):
    rows = read_jsonl(QUESTIONS)
    assert len(rows) >= 40 and len(read_jsonl(OUT_OF_SCOPE)) >= 20
    assert {r["passage"] for r in rows} == {p.number for p in retriever.passages}
    kinds = {r["kind"] for r in read_jsonl(OUT_OF_SCOPE)}
    assert kinds == {"off_topic", "near_miss"}


@pytest.mark.parametrize("path", [QUESTIONS, TOP3_QUESTIONS], ids=lambda p: p.name)
def test_every_gold_substring_is_in_exactly_one_passage_the_stated_one(retriever, path):
    qset = load_jsonl_set(path, CORPUS)
    numbers = [p.number for p in retriever.passages]
    for row in read_jsonl(path):
        for gold in row["gold"]:
            single = EvalQuestion(row["question"], gold_texts=(gold,))
            ids = resolve_gold(QuestionSet("one", [single]), retriever.passages)[0]
            assert [numbers[i] for i in ids] == [row["passage"]], (row["question"], gold)
    assert len(qset.questions) == len(read_jsonl(path))


def test_public_split_holds_a_stable_third_out():
    keys = [f"article {i}/{n}" for i in range(60) for n in range(1, 11)]
    splits = [public_split(k) for k in keys]
    assert set(splits) == {"tune", "held_out"}
    assert 0.28 < splits.count("held_out") / len(splits) < 0.39
    assert splits == [public_split(k) for k in keys]  # a hash of the key, not of the process


def test_jsonl_questions_need_gold(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"question": "Who spoke?"}) + "\n")
    with pytest.raises(ValueError, match="without gold"):
        load_jsonl_set(path, CORPUS)


def test_unknown_set_is_refused(tmp_path):
    with pytest.raises(ValueError):
        load_question_set(str(tmp_path), CORPUS)


# -- metrics and calibration ----------------------------------------------------------------------


def test_first_hit_and_summary():
    assert first_hit([4, 2, 9], frozenset({9})) == 3
    assert first_hit([4, 2], frozenset({9})) is None
    report = summarise("full", [1, 2, None, 11])
    assert report.recall == {1: 0.25, 3: 0.5, 5: 0.5, 10: 0.5}
    assert report.mrr == pytest.approx((1 + 0.5) / 4)


def test_gold_substrings_match_case_and_space_insensitively(retriever):
    qset = QuestionSet("s", [EvalQuestion("q", gold_texts=("18   MEMBERS and\n8 observer",))])
    (ids,) = resolve_gold(qset, retriever.passages)
    assert [retriever.passages[i].number for i in ids] == [13]


def _evidence(dense: float, names: tuple[str, ...] = (), missing: str | None = None) -> Evidence:
    return Evidence(dense, dense, 0.5, names, missing, dense)


def test_fit_rule_flags_most_out_of_scope_within_the_budget():
    answerable = [_evidence(0.3 + i / 100) for i in range(40)]  # 0.30 .. 0.69
    out_of_scope = [_evidence(0.1), _evidence(0.2), _evidence(0.5, names=("Mars",)), _evidence(0.6)]
    rule = fit_rule(answerable, out_of_scope, max_answerable=0.05)  # may flag 2 answerable
    assert 0.31 < rule.threshold < 0.32
    assert [rule.flags(e) for e in out_of_scope] == [True, True, True, False]
    assert sum(rule.flags(e) for e in answerable) == 2
    figures = calibrate(answerable, out_of_scope, folds=4)
    assert figures.out_of_scope_flagged == 0.75 and figures.answerable_flagged == 0.05
    assert 0 <= figures.cv_out_of_scope_flagged <= 1


def test_ranking_params_overrides():
    params = RankingParams.from_settings(Settings(), ["dense_weight=0.7", "normalisation=minmax", "candidates=50"])
    assert (params.dense_weight, params.normalisation, params.candidates) == (0.7, "minmax", 50)
    for bad in ("nope=1", "dense_weight", "candidates=many"):
        with pytest.raises(ValueError):
            RankingParams.from_settings(Settings(), [bad])


# -- the statement sets with the real model -------------------------------------------------------


@pytest.fixture(scope="module")
def statement_report(retriever):
    qset = load_jsonl_set(QUESTIONS, CORPUS, OUT_OF_SCOPE)
    return evaluate(retriever, qset)


def test_statement_ranking_meets_its_targets(statement_report):
    modes = {m.mode: m for m in statement_report.modes}
    full = modes["full"]
    assert full.questions == len(read_jsonl(QUESTIONS))
    assert full.recall[1] >= 0.92
    assert full.recall[3] == 1.0
    for name, baseline in modes.items():
        if name != "full":
            assert full.recall[1] > baseline.recall[1], name
            assert full.mrr > baseline.mrr, name


def test_statement_no_answer_figures(statement_report):
    a = statement_report.abstention
    assert a.out_of_scope == len(read_jsonl(OUT_OF_SCOPE))
    assert a.answerable_flagged <= 0.05
    assert a.out_of_scope_flagged >= 0.80


def test_table_shows_every_ranking_and_abstention(statement_report):
    table = format_table([statement_report])
    for label in (
        "final ranking (full)",
        "convex 0.5",
        "convex 0.7",
        "dense only",
        "BM25 only",
        "out-of-scope flagged",
    ):
        assert label in table


@pytest.mark.slow  # the command loads the real model itself
def test_eval_command_prints_table_and_json(runner, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("QA_CORPUS_DIR", str(settings.corpus_dir))
    out = tmp_path / "eval.json"
    args = [
        "eval",
        str(QUESTIONS),
        "--out-of-scope",
        str(OUT_OF_SCOPE),
        "--mode",
        "full",
        "--mode",
        "bm25",
        "--limit",
        "10",
        "--json",
        str(out),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--calibrate",
    ]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "| statement_questions (10 q, 15 passages) | final ranking (full) |" in result.output
    assert "cross-validated" in result.output
    data = json.loads(out.read_text())
    (figures,) = data["sets"]
    assert set(figures["modes"]) == {"full", "bm25"}
    assert figures["abstention"]["out_of_scope_questions"] == 10
    assert runner.invoke(main, ["eval", "--mode", "sideways", str(QUESTIONS)]).exit_code == 2


@pytest.mark.slow  # the command loads the real model itself
def test_eval_misses_hide_the_held_out_questions_unless_asked(runner, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("QA_CORPUS_DIR", str(settings.corpus_dir))
    questions = tmp_path / "questions.jsonl"
    rows = [
        {"question": "What do bananas cost in Oslo this winter?", "gold": ["Statement by H.E."], "split": "tune"},
        {
            "question": "Which football club won in Lisbon last spring?",
            "gold": ["Statement by H.E."],
            "split": "held_out",
        },
    ]
    questions.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    args = ["eval", str(questions), "--mode", "full", "--misses", "5", "--cache-dir", str(tmp_path / "cache")]
    hidden = runner.invoke(main, args)
    assert hidden.exit_code == 0, hidden.output
    assert "bananas" in hidden.output and "football" not in hidden.output
    assert "held-out questions not shown" in hidden.output
    shown = runner.invoke(main, [*args, "--held-out-misses"])
    assert "bananas" in shown.output and "football" in shown.output
    assert "not shown" not in shown.output


# -- the public datasets, on a small sample -------------------------------------------------------


def _sample(qset: QuestionSet, per_document: int, questions: int) -> QuestionSet:
    """The set cut to the first ``per_document`` passages of each document, with (up to ``questions``
    of) the questions whose gold lies among them, spread over the documents."""
    assert qset.passages is not None
    seen: dict[str, int] = {}
    keep: list[int] = []
    for i, p in enumerate(qset.passages):
        seen[p.doc_id] = seen.get(p.doc_id, 0) + 1
        if seen[p.doc_id] <= per_document:
            keep.append(i)
    new_id = {old: new for new, old in enumerate(keep)}
    kept = [
        EvalQuestion(q.text, frozenset(new_id[g] for g in q.gold_ids))
        for q in qset.questions
        if q.gold_ids and q.gold_ids <= new_id.keys()
    ]
    step = max(1, len(kept) // questions)
    cut = QuestionSet(**{**qset.__dict__})
    cut.passages = [qset.passages[i] for i in keep]
    cut.questions = kept[::step][:questions]
    cut.out_of_scope = []
    cut.sources = {**qset.sources, "sample": f"{per_document} per document"}
    return cut


def _first(qset: QuestionSet, count: int) -> QuestionSet:
    """The set cut to its first ``count`` passages and the questions whose gold lies among them."""
    assert qset.passages is not None
    cut = QuestionSet(**{**qset.__dict__})
    cut.passages = qset.passages[:count]
    cut.questions = [q for q in qset.questions if q.gold_ids and max(q.gold_ids) < count]
    cut.out_of_scope = []
    cut.sources = {**qset.sources, "sample": f"first {count}"}
    return cut


@pytest.mark.skipif(not SQUAD.is_file(), reason="../shared/datasets is not present")
def test_squad_loader_and_a_sample(settings, encoder, tmp_path):
    qset = load_squad(SQUAD)
    assert len(qset.passages) == 2067 and len(qset.questions) == 10570
    assert all(len(q.gold_ids) == 1 for q in qset.questions)
    # A paragraph's questions share its split (none is chosen on while its neighbour is held out).
    split_of: dict[frozenset[int], set[str]] = {}
    for q in qset.questions:
        split_of.setdefault(q.gold_ids, set()).add(q.split)
    assert all(len(s) == 1 for s in split_of.values())
    held = sum(q.split == "held_out" for q in qset.questions) / len(qset.questions)
    assert 0.25 < held < 0.42
    sample = _sample(qset, 2, 60)  # 96 passages from 48 articles
    index = prepare_index(sample, settings, encoder, tmp_path)
    report = evaluate(Retriever(index, encoder), sample, ("full", "bm25", "dense"))
    full, bm25, dense = report.modes
    assert full.recall[5] >= 0.9
    assert full.mrr >= max(bm25.mrr, dense.mrr)


@pytest.mark.skipif(not CLAPNQ.is_dir(), reason="../shared/datasets is not present")
def test_clapnq_loader_and_a_sample(settings, encoder, tmp_path):
    qset = load_clapnq(CLAPNQ)
    assert len(qset.questions) == 300 and len(qset.out_of_scope) == 300
    assert 590 <= len(qset.passages) <= 597
    assert qset.embed_context is True
    sample = _first(qset, 50)  # the passages of the first answerable questions: 50 articles
    index = prepare_index(sample, settings, encoder, tmp_path)
    assert index.manifest.build_params["embed_context"] is True
    report = evaluate(Retriever(index, encoder), sample, ("full", "bm25"))
    full, bm25 = report.modes
    assert full.recall[3] >= 0.9 and full.mrr >= bm25.mrr
    # The cached build is reused when nothing changed.
    again = prepare_index(sample, settings, encoder, tmp_path)
    assert again.manifest.built_at == index.manifest.built_at
