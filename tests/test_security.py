"""Web security: response headers, output escaping, the optional API key and the optional rate limit
(the app on a fake encoder: no model)."""

from __future__ import annotations

import hmac
import re

import pytest

from qa_service.http import api as api_module
from qa_service.http.app import create_app
from qa_service.settings import Settings, SettingsError

from .helpers import STATEMENT_ID

KEY = "s3cret-key-0123456789abcdef"


def _app(settings, retriever, **changes):
    app = create_app(settings.replace(index_poll_seconds=0, **changes), retriever)
    app.config.update(TESTING=True)
    return app


# --- headers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/?q=terrorism",
        f"/documents/{STATEMENT_ID}",
        "/api/v1/ask?question=terrorism",
        "/api/v1/nope",
        "/no/such/page",
        "/static/style.css",
        "/healthz",
        "/api/v1/openapi.json",
    ],
)
def test_security_headers_on_every_response(client, path):
    r = client.get(path)
    csp = dict(part.strip().split(" ", 1) for part in r.headers["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'"  # no inline script, no eval, nothing external
    assert "unsafe" not in r.headers["Content-Security-Policy"]
    assert csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'" and csp["base-uri"] == "'none'"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_headers_on_errors_raised_before_the_view(client):
    r = client.post("/api/v1/ask", data="x" * 20000, content_type="application/json")
    assert r.status_code == 413
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


def test_page_has_no_inline_script_or_handlers(client):
    html = client.get("/", query_string={"q": "terrorism"}).get_data(as_text=True)
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert 'src="/static/' in tag
    assert not re.search(r"<script\b[^>]*>\s*[^<\s]", html), "inline script"
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
    assert "javascript:" not in html


# --- escaping ----------------------------------------------------------------------------------------

EVIL = [
    '<script>alert("x")</script>',
    '"><img src=x onerror=alert(1)>',
    "'><svg/onload=alert(1)>",
    "</title><script>alert(1)</script>",
    "terrorism <b>bold</b> & <i>co</i>",
]


@pytest.mark.parametrize("evil", EVIL)
def test_question_is_shown_as_text_on_the_page(client, evil):
    html = client.get("/", query_string={"q": evil}).get_data(as_text=True)
    assert evil not in html
    assert "<script>alert" not in html and "<img" not in html and "<svg" not in html and "<i>" not in html
    escaped = evil.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert escaped in html or escaped.replace('"', "&#34;").replace("'", "&#39;") in html


def test_errors_do_not_echo_markup(client):
    html = client.get("/documents/<script>alert(1)</script>", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "<script>alert(1)" not in html
    body = client.get("/api/v1/documents/<script>").get_json()
    assert body["error"]["code"] == "document_not_found"  # JSON, served as application/json with nosniff


def test_api_answers_are_json_not_html(client):
    r = client.get("/api/v1/ask", query_string={"question": "<script>alert(1)</script> terrorism"})
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert r.headers["X-Content-Type-Options"] == "nosniff"


# --- API key -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keyed(served_settings, fake_retriever):
    return _app(served_settings, fake_retriever, api_key=KEY)


@pytest.mark.parametrize(
    "headers, message",
    [
        ({}, "An API key is required"),
        ({"X-API-Key": "wrong"}, "not valid"),
        ({"X-API-Key": KEY[:-1]}, "not valid"),
        ({"X-API-Key": KEY + "x"}, "not valid"),
        ({"Authorization": f"Basic {KEY}"}, "An API key is required"),
        ({"Authorization": "Bearer "}, "An API key is required"),
        ({"Authorization": "Bearer nope"}, "not valid"),
        ({"X-API-Key": "ключ"}, "not valid"),
    ],
)
def test_missing_or_wrong_key_is_401(keyed, headers, message):
    client = keyed.test_client()
    for r in (
        client.post("/api/v1/ask", json={"question": "terrorism"}, headers=headers),
        client.get("/api/v1/documents", headers=headers),
        client.get(f"/api/v1/documents/{STATEMENT_ID}", headers=headers),
    ):
        assert r.status_code == 401
        assert r.is_json and r.get_json()["error"]["code"] == "unauthorized"
        assert message in r.get_json()["error"]["message"]
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert KEY not in r.get_data(as_text=True)


@pytest.mark.parametrize(
    "headers", [{"X-API-Key": KEY}, {"Authorization": f"Bearer {KEY}"}, {"Authorization": f"bearer {KEY}"}]
)
def test_right_key_is_accepted(keyed, headers):
    r = keyed.test_client().post("/api/v1/ask", json={"question": "terrorism", "top_k": 1}, headers=headers)
    assert r.status_code == 200 and len(r.get_json()["answers"]) == 1


def test_key_is_checked_before_the_body(keyed):
    r = keyed.test_client().post("/api/v1/ask", data="{not json", content_type="application/json")
    assert r.status_code == 401


def test_probes_page_and_openapi_stay_open(keyed):
    client = keyed.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/", query_string={"q": "terrorism"}).status_code == 200
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["components"]["securitySchemes"]["apiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert doc["security"] == [{"apiKey": []}, {"bearer": []}]
    assert doc["paths"]["/healthz"]["get"]["security"] == []


def test_no_key_by_default(client):
    assert client.post("/api/v1/ask", json={"question": "terrorism"}).status_code == 200
    doc = client.get("/api/v1/openapi.json").get_json()
    assert "securitySchemes" not in doc["components"] and "security" not in doc


def test_key_comparison_is_constant_time(keyed, monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(api_module.hmac, "compare_digest", spy)
    keyed.test_client().get("/api/v1/documents", headers={"X-API-Key": "short"})
    keyed.test_client().get("/api/v1/documents", headers={"X-API-Key": KEY})
    # Both comparisons went through compare_digest, on digests of equal length whatever the key's.
    assert calls == [(32, 32), (32, 32)]


def test_key_match():
    assert api_module.keys_match(KEY, KEY)
    assert not api_module.keys_match(KEY, KEY.upper())
    assert not api_module.keys_match("", KEY)


def test_key_setting_is_checked_and_hidden():
    with pytest.raises(SettingsError):
        Settings(api_key="has space").validate()
    assert KEY not in repr(Settings(api_key=KEY))


# --- rate limit --------------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after(served_settings, fake_retriever):
    app = _app(served_settings, fake_retriever, rate_limit="3/minute")
    client = app.test_client()
    statuses = [client.get("/api/v1/ask", query_string={"question": "terrorism"}).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    # The limit is per client, across routes: the page and the documents count too.
    r = client.get("/api/v1/documents")
    assert r.status_code == 429
    body = r.get_json()
    assert body["error"]["code"] == "too_many_requests"
    assert "3 per 1 minute" in body["error"]["message"]
    assert 0 < int(r.headers["Retry-After"]) <= 60
    assert r.headers["X-RateLimit-Limit"] == "3"
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert client.get("/", query_string={"q": "terrorism"}).status_code == 429
    # Probes and static files are never limited.
    for _ in range(5):
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        assert client.get("/static/style.css").status_code == 200
    # Another client has its own budget.
    other = client.get("/api/v1/documents", environ_overrides={"REMOTE_ADDR": "127.0.0.2"})
    assert other.status_code == 200


def test_rate_limit_page_for_browsers_is_html(served_settings, fake_retriever):
    app = _app(served_settings, fake_retriever, rate_limit="1/minute")
    client = app.test_client()
    assert client.get("/", headers={"Accept": "text/html"}).status_code == 200
    r = client.get("/", headers={"Accept": "text/html"})
    assert r.status_code == 429 and r.mimetype == "text/html"
    assert "Retry-After" in r.headers


def test_no_rate_limit_by_default(client):
    statuses = {client.get("/api/v1/documents").status_code for _ in range(50)}
    assert statuses == {200}
    assert "X-RateLimit-Limit" not in client.get("/api/v1/documents").headers


def test_rate_limit_setting_is_checked():
    with pytest.raises(SettingsError, match="QA_RATE_LIMIT"):
        Settings(rate_limit="lots").validate()
    Settings(rate_limit="10/second;300/hour").validate()


def test_page_works_without_the_api_when_a_key_is_set(keyed, client):
    # The open page must not depend on the protected API: no script that would call it without a key.
    assert "app.js" in client.get("/").get_data(as_text=True)
    html = keyed.test_client().get("/", query_string={"q": "terrorism"}).get_data(as_text=True)
    assert "app.js" not in html
    assert html.count('class="answer"') == 3  # answered by the server
