"""Readers' feedback: the SQLite store (schema, concurrency), the API route and the page's plain form
(validation, guards), the counts and the export to a question set, and the CLI commands.

These run over the shipped corpus indexed with the fake encoder; the real server, the browser and
``qa-service eval`` on an export are in ``test_service_signals.py``.
"""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest

from qa_service.cli import main
from qa_service.corpus import fold
from qa_service.evaluation.datasets import load_jsonl_set
from qa_service.feedback import (
    FEEDBACK_FILE,
    SCHEMA_VERSION,
    FeedbackStore,
    Mark,
    export_question_set,
    feedback_stats,
)
from qa_service.http.app import create_app
from qa_service.index import ensure_index, load_index
from qa_service.ranking import Retriever
from qa_service.settings import Settings

from .helpers import CORPUS, STATEMENT_ID, FakeEncoder


@pytest.fixture(scope="module")
def fake_index(tmp_path_factory) -> Path:
    """The shipped corpus indexed once with the fake encoder."""
    folder = tmp_path_factory.mktemp("fb-index")
    ensure_index(Settings(corpus_dir=CORPUS, index_dir=folder), FakeEncoder())
    return folder


@pytest.fixture
def fb_settings(tmp_path, fake_index) -> Settings:
    return Settings(corpus_dir=CORPUS, index_dir=fake_index, data_dir=tmp_path / "data", index_poll_seconds=0)


def _app(settings: Settings):
    encoder = FakeEncoder()
    return create_app(settings, Retriever(ensure_index(settings, encoder), encoder))


@pytest.fixture
def fb_client(fb_settings):
    return _app(fb_settings).test_client()


def _rows(settings: Settings) -> list[sqlite3.Row]:
    with sqlite3.connect(settings.data_dir / FEEDBACK_FILE) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute("SELECT * FROM feedback ORDER BY id").fetchall()


def _passage_text(index_dir: Path, number: int) -> str:
    return next(p.text for p in load_index(index_dir).passages if p.number == number)


GOOD = {"question": "Who delivered the statement?", "document": STATEMENT_ID, "passage": 4, "helpful": True}


# -- the store -----------------------------------------------------------------------------------------


def test_store_is_created_in_wal_mode_at_the_current_schema_version(tmp_path):
    store = FeedbackStore(tmp_path / "new" / FEEDBACK_FILE)
    assert store.schema_version == SCHEMA_VERSION == 1
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    stored = store.add(Mark("q?", "doc", 1, "text", True, via="api"))
    again = FeedbackStore(store.path)  # opening again migrates nothing and loses nothing
    assert [m.id for m in again.marks()] == [stored] and again.count() == 1


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / FEEDBACK_FILE
    FeedbackStore(path)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(RuntimeError, match="newer"):
        FeedbackStore(path)


def _write_marks(path: str, count: int) -> None:
    store = FeedbackStore(Path(path))
    for n in range(count):
        store.add(Mark(f"question {n}", "doc", 1 + n % 5, "text", n % 2 == 0, via="api"))


def test_many_threads_and_processes_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / FEEDBACK_FILE
    store = FeedbackStore(path)
    threads = [threading.Thread(target=_write_marks, args=(str(path), 40)) for _ in range(8)]
    processes = [
        multiprocessing.get_context("spawn").Process(target=_write_marks, args=(str(path), 60)) for _ in range(3)
    ]
    for worker in [*threads, *processes]:
        worker.start()
    for worker in [*threads, *processes]:
        worker.join(timeout=60)
    assert all(p.exitcode == 0 for p in processes)
    marks = list(store.marks())
    assert len(marks) == 8 * 40 + 3 * 60
    assert len({m.id for m in marks}) == len(marks)


# -- the API --------------------------------------------------------------------------------------------


def test_api_stores_a_mark_and_answers_201_with_its_id(fb_client, fb_settings):
    r = fb_client.post("/api/v1/feedback", json={**GOOD, "comment": "  Exactly the speaker.  "})
    assert r.status_code == 201, r.get_json()
    assert r.get_json() == {"id": 1}
    row = dict(_rows(fb_settings)[0])
    assert row["question"] == GOOD["question"] and row["document"] == STATEMENT_ID and row["passage"] == 4
    assert row["helpful"] == 1 and row["comment"] == "Exactly the speaker." and row["via"] == "api"
    assert row["passage_text"] == _passage_text(fb_settings.index_dir, 4)
    assert row["request_id"] == r.headers["X-Request-ID"]
    assert row["created_at"].endswith("Z")


@pytest.mark.parametrize(
    "body, code",
    [
        ({**GOOD, "document": "no-such-statement"}, "unknown_document"),
        ({**GOOD, "passage": 99}, "unknown_passage"),
        ({**GOOD, "passage": 0}, "invalid_passage"),
        ({**GOOD, "passage": True}, "invalid_passage"),
        ({**GOOD, "passage": "4"}, "invalid_passage"),
        ({**GOOD, "passage": 4.5}, "invalid_passage"),
        ({k: v for k, v in GOOD.items() if k != "passage"}, "missing_passage"),
        ({**GOOD, "helpful": "yes"}, "invalid_helpful"),
        ({**GOOD, "helpful": 1}, "invalid_helpful"),
        ({k: v for k, v in GOOD.items() if k != "helpful"}, "missing_helpful"),
        ({k: v for k, v in GOOD.items() if k != "question"}, "missing_question"),
        ({**GOOD, "question": "   "}, "empty_question"),
        ({**GOOD, "question": "x" * 1001}, "question_too_long"),
        ({k: v for k, v in GOOD.items() if k != "document"}, "missing_document"),
        ({**GOOD, "document": "  "}, "invalid_document"),
        ({**GOOD, "document": ["a"]}, "invalid_document"),
        ({**GOOD, "comment": "x" * 501}, "comment_too_long"),
        ({**GOOD, "comment": "bell\x07"}, "invalid_comment"),
        ({**GOOD, "comment": 5}, "invalid_comment"),
        ({**GOOD, "rating": 5}, "unknown_field"),
        (["not", "an", "object"], "invalid_body"),
    ],
)
def test_api_refuses_bad_marks_with_a_clear_400(fb_client, fb_settings, body, code):
    r = fb_client.post("/api/v1/feedback", json=body)
    assert r.status_code == 400
    error = r.get_json()["error"]
    assert error["code"] == code and error["message"] and error["request_id"] == r.headers["X-Request-ID"]
    assert not (fb_settings.data_dir / FEEDBACK_FILE).is_file() or _rows(fb_settings) == []


def test_api_says_which_document_and_passage_are_unknown(fb_client):
    message = fb_client.post("/api/v1/feedback", json={**GOOD, "passage": 99}).get_json()["error"]["message"]
    assert "no passage 99" in message and "15" in message


def test_api_takes_a_500_character_comment_and_2_0_as_passage_2(fb_client):
    assert fb_client.post("/api/v1/feedback", json={**GOOD, "comment": "é" * 500}).status_code == 201
    assert fb_client.post("/api/v1/feedback", json={**GOOD, "passage": 2.0, "comment": None}).status_code == 201


def test_api_media_type_json_and_size_errors(fb_client):
    r = fb_client.post("/api/v1/feedback", data="question=x", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415 and r.get_json()["error"]["code"] == "unsupported_media_type"
    r = fb_client.post("/api/v1/feedback", data='{"question": "a", "question": "b"}', content_type="application/json")
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "duplicate_field"
    r = fb_client.post("/api/v1/feedback", data="{nope", content_type="application/json")
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "invalid_json"
    r = fb_client.post("/api/v1/feedback", data="x" * 20000, content_type="application/json")
    assert r.status_code == 413 and r.get_json()["error"]["code"] == "payload_too_large"
    assert fb_client.get("/api/v1/feedback").status_code == 405


def test_api_key_guards_the_api_but_not_the_page_form(fb_settings):
    client = _app(fb_settings.replace(api_key="s3cret-key-for-tests")).test_client()
    r = client.post("/api/v1/feedback", json=GOOD)
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"
    assert client.post("/api/v1/feedback", json=GOOD, headers={"X-API-Key": "s3cret-key-for-tests"}).status_code == 201
    page = client.get("/?q=Who+delivered+the+statement%3F").get_data(as_text=True)
    assert "app.js" not in page and 'action="/feedback"' in page  # no script with a key: the plain form
    form = {**{k: str(v).lower() if k == "helpful" else str(v) for k, v in GOOD.items()}, "back": "/?q=who"}
    assert client.post("/feedback", data=form).status_code == 303
    assert len(_rows(fb_settings)) == 2


def test_rate_limit_applies_to_feedback(fb_settings):
    client = _app(fb_settings.replace(rate_limit="2/minute")).test_client()
    statuses = [client.post("/api/v1/feedback", json=GOOD).status_code for _ in range(3)]
    assert statuses == [201, 201, 429]


# -- the page's plain form --------------------------------------------------------------------------------


def _form(**changes) -> dict:
    form = {"question": "terrorism", "document": STATEMENT_ID, "passage": "3", "helpful": "false"}
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def test_page_form_stores_and_goes_back_to_the_same_answers_with_thanks(fb_client, fb_settings):
    answers = fb_client.post("/api/v1/ask", json={"question": "terrorism", "top_k": 5}).get_json()["answers"]
    passage = answers[2]["source"]["passage"]  # one of the five the page shows, not the first
    r = fb_client.post("/feedback", data=_form(passage=str(passage), back="/?q=terrorism&k=5&fb_doc=old&fb_p=1"))
    assert r.status_code == 303
    assert r.headers["Location"] == f"/?q=terrorism&k=5&fb_doc={STATEMENT_ID}&fb_p={passage}#feedback-notice"
    row = dict(_rows(fb_settings)[0])
    assert (row["passage"], row["helpful"], row["via"]) == (passage, 0, "page")
    page = fb_client.get(r.headers["Location"]).get_data(as_text=True)
    assert f"Thank you: your feedback on passage {passage} was recorded." in page
    assert page.count("Thank you: your feedback was recorded.") == 1  # the card marked, and only it
    assert page.count('class="feedback-form"') == 4  # the other four answers keep their buttons


@pytest.mark.parametrize("back", ["https://evil.example/?q=x", "//evil.example/", "/documents/x", ""])
def test_page_form_only_goes_back_to_the_question_page(fb_client, back):
    r = fb_client.post("/feedback", data=_form(back=back))
    assert r.status_code == 303
    assert r.headers["Location"].startswith(f"/?fb_doc={STATEMENT_ID}&fb_p=3")


def test_page_form_refuses_cross_site_posts_and_bad_fields(fb_client, fb_settings):
    r = fb_client.post("/feedback", data=_form(), headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    r = fb_client.post("/feedback", data=_form(passage="x"), headers={"Accept": "text/html"})
    assert r.status_code == 400 and "text/html" in r.content_type
    assert "Request id:" in r.get_data(as_text=True)
    for bad in (_form(helpful="maybe"), _form(passage="99"), _form(document="nope"), _form(question=None)):
        assert fb_client.post("/feedback", data=bad).status_code == 400
    assert not (fb_settings.data_dir / FEEDBACK_FILE).is_file() or _rows(fb_settings) == []


def test_every_answer_on_the_page_has_the_buttons(fb_client):
    page = fb_client.get("/?q=terrorism&k=3").get_data(as_text=True)
    assert page.count('<button type="submit" name="helpful" value="true">Helpful</button>') == 3
    assert page.count('<button type="submit" name="helpful" value="false">Not helpful</button>') == 3
    assert 'role="group" aria-labelledby="fb-1"' in page and 'id="fb-1"' in page
    assert '<input type="hidden" name="back" value="/?q=terrorism&amp;k=3">' in page


# -- counts and export -----------------------------------------------------------------------------------


def _mark(question: str, passage: int, helpful: bool, passages, document: str = STATEMENT_ID) -> Mark:
    text = next(p.text for p in passages if p.number == passage)
    return Mark(question, document, passage, text, helpful)


def test_stats_count_per_question_and_passage(fake_index):
    passages = load_index(fake_index).passages
    marks = [
        _mark("Who spoke?", 4, True, passages),
        _mark("who  spoke?", 4, False, passages),  # the same question, other case and spacing
        _mark("Who spoke?", 4, True, passages),
        _mark("Who spoke?", 2, False, passages),
    ]
    rows = feedback_stats(marks)
    assert [(r.question, r.passage, r.helpful, r.unhelpful) for r in rows] == [
        ("Who spoke?", 4, 2, 1),
        ("Who spoke?", 2, 0, 1),
    ]
    assert rows[0].share_helpful == pytest.approx(2 / 3)


def test_export_makes_helpful_passages_gold_and_sends_unhelpful_questions_to_review(fake_index):
    passages = load_index(fake_index).passages
    marks = [
        _mark("Who spoke?", 4, True, passages),
        _mark("Who spoke?", 2, False, passages),
        _mark("When did Kazakhstan accede?", 2, True, passages),
        _mark("When did Kazakhstan accede?", 2, True, passages),
        _mark("How do I bake bread?", 7, False, passages),
        _mark("How do I bake bread?", 9, False, passages),
    ]
    result = export_question_set(marks, passages)
    assert [q["question"] for q in result.questions] == ["Who spoke?", "When did Kazakhstan accede?"]
    folded = [fold(p.text) for p in passages]
    for row in result.questions:
        (gold,) = row["gold"]
        (source,) = row["passages"]
        owners = [p.number for p, text in zip(passages, folded) if fold(gold) in text]
        assert owners == [source["passage"]], "the gold text must lie in exactly the marked passage"
    assert result.questions[1]["passages"] == [{"document": STATEMENT_ID, "passage": 2}]
    assert result.review == [
        {
            "question": "How do I bake bread?",
            "kind": "feedback_unhelpful",
            "marks": 2,
            "passages": [{"document": STATEMENT_ID, "passage": 7}, {"document": STATEMENT_ID, "passage": 9}],
        }
    ]
    assert result.skipped == []


def test_export_follows_a_renumbered_passage_and_skips_a_removed_one(fake_index):
    passages = load_index(fake_index).passages
    moved = Mark("Moved?", STATEMENT_ID, 1, next(p.text for p in passages if p.number == 5), True)
    gone = Mark("Gone?", STATEMENT_ID, 3, "A paragraph that the corpus no longer has.", True)
    result = export_question_set([moved, gone], passages)
    assert [q["passages"] for q in result.questions] == [[{"document": STATEMENT_ID, "passage": 5}]]
    assert len(result.skipped) == 1 and "no longer in the corpus" in result.skipped[0]


# -- the CLI ------------------------------------------------------------------------------------------------


def test_cli_stats_and_export_read_by_the_evaluation(runner, fb_client, fb_settings, monkeypatch, tmp_path):
    for body in (GOOD, {**GOOD, "helpful": False, "passage": 2}, {**GOOD, "question": "Bread?", "helpful": False}):
        assert fb_client.post("/api/v1/feedback", json=body).status_code == 201
    monkeypatch.setenv("QA_CORPUS_DIR", str(CORPUS))
    monkeypatch.setenv("QA_INDEX_DIR", str(fb_settings.index_dir))
    monkeypatch.setenv("QA_DATA_DIR", str(fb_settings.data_dir))

    stats = runner.invoke(main, ["feedback", "stats"])
    assert stats.exit_code == 0, stats.output
    assert "3 marks on 2 questions, 33% helpful" in stats.output
    as_json = json.loads(runner.invoke(main, ["feedback", "stats", "--json"]).output)
    assert {(r["question"], r["passage"], r["helpful"], r["unhelpful"]) for r in as_json} == {
        ("Who delivered the statement?", 4, 1, 0),
        ("Who delivered the statement?", 2, 0, 1),
        ("Bread?", 4, 0, 1),
    }

    out = tmp_path / "sets" / "feedback.jsonl"
    exported = runner.invoke(main, ["feedback", "export", str(out)])
    assert exported.exit_code == 0, exported.output
    review = tmp_path / "sets" / "feedback.review.jsonl"
    assert "1 questions with gold passages" in exported.output and str(review) in exported.output
    qset = load_jsonl_set(out, CORPUS, out_of_scope=review)
    assert [q.text for q in qset.questions] == ["Who delivered the statement?"]
    assert qset.out_of_scope == ["Bread?"] and qset.out_of_scope_kinds == ["feedback_unhelpful"]


def test_cli_says_when_there_is_no_feedback_yet(runner, monkeypatch, tmp_path):
    monkeypatch.setenv("QA_DATA_DIR", str(tmp_path / "empty"))
    result = runner.invoke(main, ["feedback", "stats"])
    assert result.exit_code == 2 and "no feedback yet" in result.output
