"""The service's signals through the real server (``qa-service serve``, two gunicorn workers, the real
model and index): readers' feedback from the API and from the page with and without JavaScript
(Chromium), exported and evaluated; a few hundred concurrent marks, none lost; /metrics summed over
both workers; request ids in the access log."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families

from qa_service.feedback import FEEDBACK_FILE

from .helpers import ROOT, STATEMENT_ID
from .servers import Service, running_service

pytestmark = pytest.mark.slow

QUESTION = "When did Kazakhstan accede to the nuclear terrorism convention?"
WHO = "Who delivered the statement, and when?"
OUT_OF_SCOPE = "How do I bake sourdough bread?"


@pytest.fixture(scope="module")
def service(settings, retriever, tmp_path_factory):
    """Two workers over the session's index (built by ``retriever``), feedback in a folder of their own."""
    with running_service(settings, tmp_path_factory.mktemp("signals"), workers=2) as running:
        yield running


def rows(service: Service) -> list[dict]:
    with sqlite3.connect(service.data_dir / FEEDBACK_FILE) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM feedback ORDER BY id")]


def scrape(service: Service) -> dict[tuple[str, tuple], float]:
    status, headers, body = service.call("GET", "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def delta(before: dict, after: dict, name: str, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_request_ids_reach_the_access_log_and_error_bodies(service):
    status, headers, body = service.call(
        "GET", "/api/v1/ask?question=terrorism", headers={"X-Request-ID": "trace-ok-1"}
    )
    assert status == 200 and headers["X-Request-ID"] == "trace-ok-1"
    status, headers, body = service.call("POST", "/api/v1/ask", {"question": ""}, {"X-Request-ID": "trace-err-2"})
    assert status == 400 and json.loads(body)["error"]["request_id"] == "trace-err-2"
    status, headers, body = service.call("GET", "/nowhere", headers={"X-Request-ID": "bad id"})
    made = json.loads(body)["error"]["request_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made) and headers["X-Request-ID"] == made
    logged = service.served_by(wait_for=["trace-ok-1", "trace-err-2", made])
    assert logged["trace-ok-1"][1] == 200 and logged["trace-err-2"][1] == 400 and logged[made][1] == 404


def test_metrics_after_a_short_load_are_summed_over_both_workers(service):
    before = scrape(service)
    ids = [f"load-{uuid.uuid4().hex}" for _ in range(40)]

    def ask(n_rid):
        n, rid = n_rid
        return service.call("GET", f"/api/v1/ask?question=terrorism+financing+{n}", headers={"X-Request-ID": rid})[0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(ask, enumerate(ids))) == [200] * 40
    for _ in range(3):
        assert service.call("GET", "/no/such/page")[0] == 404
    mark = {"question": QUESTION, "document": STATEMENT_ID, "passage": 2, "helpful": True}
    assert [service.call("POST", "/api/v1/feedback", mark)[0] for _ in range(5)] == [201] * 5
    after = scrape(service)

    # Both workers answered part of the load; the one that answered the scrape reports the sum.
    workers = {service.served_by(wait_for=ids)[rid][0] for rid in ids}
    assert len(workers) == 2, "the load should have reached both workers"
    assert delta(before, after, "qa_requests_total", route="api.ask", method="GET", status="200") == 40
    assert delta(before, after, "qa_request_duration_seconds_count", route="api.ask") == 40
    assert delta(before, after, "qa_encoder_seconds_count") == 40
    questions = delta(before, after, "qa_questions_total", no_answer="false")
    assert questions + delta(before, after, "qa_questions_total", no_answer="true") == 40
    assert delta(before, after, "qa_requests_total", route="unmatched", method="GET", status="404") == 3
    assert delta(before, after, "qa_feedback_total", helpful="true", via="api") == 5
    assert delta(before, after, "qa_requests_total", route="api.feedback", method="POST", status="201") == 5
    assert after[("qa_index_passages", ())] == 15 and after[("qa_index_documents", ())] == 1
    assert after[("qa_index_build_seconds", ())] > 0
    assert ("qa_rejected_requests_total", (("reason", "overloaded"),)) in after
    assert not any(dict(labels).get("route") == "metrics" for _, labels in after)


def test_a_few_hundred_concurrent_marks_are_all_stored(service):
    before = len(rows(service))
    marks = [
        {"question": f"Concurrent question {n}?", "document": STATEMENT_ID, "passage": 1 + n % 15, "helpful": n % 3 > 0}
        for n in range(300)
    ]
    ids = [f"fb-{n}-{uuid.uuid4().hex[:8]}" for n in range(300)]

    def post(n):
        return service.call("POST", "/api/v1/feedback", marks[n], {"X-Request-ID": ids[n]})

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(post, range(300)))
    assert [a[0] for a in answers] == [201] * 300
    stored_ids = [json.loads(a[2])["id"] for a in answers]
    assert len(set(stored_ids)) == 300
    stored = rows(service)
    assert len(stored) == before + 300
    by_rid = {r["request_id"]: r for r in stored}
    for n in (0, 1, 150, 299):
        row = by_rid[ids[n]]
        assert (row["question"], row["passage"], bool(row["helpful"])) == (
            marks[n]["question"],
            marks[n]["passage"],
            marks[n]["helpful"],
        )
    assert len({service.served_by(wait_for=ids)[rid][0] for rid in ids}) == 2, "both workers wrote"


def _cards(page) -> list[dict]:
    return page.evaluate(
        """() => [...document.querySelectorAll('#results .answer')].map(li => ({
            passage: Number((li.querySelector('input[name=passage]') || {value: NaN}).value),
            status: li.querySelector('.feedback-status').textContent,
        }))"""
    )


def test_feedback_from_api_and_page_then_export_and_eval(service, browser, tmp_path):
    # 1. The API.
    assert (
        service.call(
            "POST", "/api/v1/feedback", {"question": QUESTION, "document": STATEMENT_ID, "passage": 2, "helpful": True}
        )[0]
        == 201
    )
    start = len(rows(service))

    # 2. The page without JavaScript: a plain form, back to the same answers with a thank-you.
    plain = browser.new_context(java_script_enabled=False)
    page = plain.new_page()
    page.goto(f"{service.url}/?q={WHO}&k=3")
    first = _cards(page)[0]["passage"]
    with page.expect_navigation():
        page.locator("#results .answer").first.get_by_role("button", name="Helpful", exact=True).click()
    assert "fb_p=" in page.url and page.url.split("#")[0].startswith(f"{service.url}/?q=")
    notice = page.locator("#feedback-notice")
    assert notice.text_content() == f"Thank you: your feedback on passage {first} was recorded."
    assert page.locator("#results .answer").first.locator(".feedback-status").text_content() == (
        "Thank you: your feedback was recorded."
    )
    assert page.locator("#results .answer").count() == 3  # the same answers
    plain.close()

    # 3. The page with JavaScript: the API, no reload, a thank-you that takes the focus; mouse and keyboard.
    scripted = browser.new_context()
    page = scripted.new_page()
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(service.url + "/")
    page.get_by_label("Your question").fill(OUT_OF_SCOPE)
    page.keyboard.press("Enter")
    page.locator("#results .answer").nth(2).wait_for()
    page.evaluate("window.__samePage = true")
    passages = [c["passage"] for c in _cards(page)]
    page.locator("#results .answer").nth(0).get_by_role("button", name="Not helpful").click()
    status = page.locator("#results .answer").nth(0).locator(".feedback-status")
    status.filter(has_text="Thank you").wait_for()
    assert page.evaluate("document.activeElement.classList.contains('feedback-status')")
    second = page.locator("#results .answer").nth(1).get_by_role("button", name="Not helpful")
    second.focus()
    page.keyboard.press("Enter")
    page.locator("#results .answer").nth(1).locator(".feedback-status").filter(has_text="Thank you").wait_for()
    assert page.evaluate("window.__samePage") is True, "marking an answer reloaded the page"
    group = page.locator("#results .answer").nth(2).get_by_role("group")
    assert group.get_attribute("aria-labelledby") == "fb-3"
    assert not problems, problems
    scripted.close()

    # 4. The rows.
    new = rows(service)[start:]
    assert [(r["question"], r["passage"], r["helpful"], r["via"]) for r in new] == [
        (WHO, first, 1, "page"),
        (OUT_OF_SCOPE, passages[0], 0, "api"),
        (OUT_OF_SCOPE, passages[1], 0, "api"),
    ]

    # 5. Export, then evaluate the export with `qa-service eval`.
    out = tmp_path / "feedback.jsonl"
    env = {**service.env, "QA_REBUILD": "auto"}
    done = subprocess.run(
        [sys.executable, "-m", "qa_service", "feedback", "export", str(out)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    by_question = {row["question"]: row for row in exported}
    assert {"document": STATEMENT_ID, "passage": 2} in by_question[QUESTION]["passages"]
    assert by_question[WHO]["passages"] == [{"document": STATEMENT_ID, "passage": first}]
    review = [json.loads(line) for line in (tmp_path / "feedback.review.jsonl").read_text().splitlines()]
    assert OUT_OF_SCOPE in {r["question"] for r in review} and OUT_OF_SCOPE not in by_question

    # The whole export (other tests' marks too) and this test's two questions, as two sets of one run.
    ours = tmp_path / "ours.jsonl"
    ours.write_text("".join(json.dumps(by_question[q]) + "\n" for q in (QUESTION, WHO)))
    figures = tmp_path / "eval.json"
    review_file = str(tmp_path / "feedback.review.jsonl")
    command = [sys.executable, "-m", "qa_service", "eval", str(out), str(ours), "--out-of-scope", review_file]
    command += ["--mode", "full", "--json", str(figures), "--cache-dir", str(tmp_path / "eval-cache")]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    whole, mine = json.loads(figures.read_text())["sets"]
    assert whole["questions"] == len(exported) and mine["questions"] == 2
    # Each gold passage was among the three answers the reader marked: the service finds it again.
    assert mine["modes"]["full"]["recall@3"] == 1.0
    assert mine["abstention"]["out_of_scope_questions"] == len(review)
