"""A multi-document corpus over HTTP: filters by document, country and years, answers grouped by
document, each answer with its document's metadata, and the form's corpus picker (fake encoder)."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from qa_service.http.app import create_app
from qa_service.index import Filter as Filters
from qa_service.index import ensure_index
from qa_service.ranking import Retriever
from qa_service.settings import Settings

from .helpers import STATEMENT_ID, FakeEncoder

DOCS = {
    "FJI_78_2023": (
        "FJI",
        2023,
        "Fiji",
        [
            "Rising seas threaten every island in the Pacific and climate finance has not arrived in time.",
            "Climate adaptation for islands needs grants, not loans, and the Assembly must act this year.",
        ],
    ),
    "KAZ_79_2024": (
        "KAZ",
        2024,
        "Kazakhstan",
        [
            "Kazakhstan closed the Semipalatinsk nuclear test site and calls for nuclear disarmament by all.",
            "Climate change dries the Aral Sea; Kazakhstan asks for water cooperation across Central Asia.",
        ],
    ),
    "KAZ_47_1992": (
        "KAZ",
        1992,
        "Kazakhstan",
        [
            "Kazakhstan joined the United Nations this year and renounces the nuclear arsenal it inherited.",
            "The young republic seeks trade, investment and partners for its market reforms.",
        ],
    ),
}


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    root = tmp_path_factory.mktemp("multi")
    corpus = root / "corpus"
    corpus.mkdir()
    for name, (country, year, country_name, paragraphs) in DOCS.items():
        (corpus / f"{name}.txt").write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
        meta = {
            "title": f"{country_name}: General Debate statement ({year})",
            "country": country,
            "year": year,
            "speaker": f"Speaker of {country_name}",
            "post": "Minister",
        }
        (corpus / f"{name}.meta.json").write_text(json.dumps(meta), encoding="utf-8")
    settings = Settings(corpus_dir=corpus, index_dir=root / "index", no_answer_threshold=0.0)
    encoder = FakeEncoder()
    retriever = Retriever(ensure_index(settings, encoder), encoder)
    app = create_app(settings, retriever)
    app.config.update(TESTING=True)
    return app


@pytest.fixture
def mclient(multi):
    return multi.test_client()


def _ask(client, **body):
    return client.post("/api/v1/ask", json={"question": "climate nuclear Kazakhstan", "top_k": 5, **body})


def _validate(client, body):
    doc = client.get("/api/v1/openapi.json").get_json()
    jsonschema.Draft202012Validator(
        {"$ref": "#/components/schemas/AskResponse", "components": doc["components"]}
    ).validate(body)


def test_answers_carry_their_documents_metadata(mclient):
    body = _ask(mclient).get_json()
    _validate(mclient, body)
    assert len(body["answers"]) == 5
    for a in body["answers"]:
        meta = a["source"]["metadata"]
        assert meta["country"] == a["source"]["document"][:3]
        assert meta["speaker"].startswith("Speaker of") and meta["post"] == "Minister"


@pytest.mark.parametrize(
    "filters, documents",
    [
        ({"country": "kaz"}, {"KAZ_79_2024", "KAZ_47_1992"}),
        # Every passage of both countries (the attribution passages say "Kazakhstan" too, as the question does).
        ({"country": ["FJI", "KAZ"], "top_k": 10}, set(DOCS)),
        ({"document": "KAZ_47_1992"}, {"KAZ_47_1992"}),
        ({"year_from": 2023}, {"FJI_78_2023", "KAZ_79_2024"}),
        ({"year_to": 2000}, {"KAZ_47_1992"}),
        ({"year_from": 2024, "year_to": 2024, "country": "KAZ"}, {"KAZ_79_2024"}),
        ({"year_from": 2024, "country": "FJI"}, set()),
        ({"year_from": 2024, "year_to": 2000}, set()),
        ({"year_from": 2023.0, "year_to": 2023.0}, {"FJI_78_2023"}),
    ],
)
def test_filters_restrict_the_answers(mclient, filters, documents):
    body = _ask(mclient, **filters).get_json()
    _validate(mclient, body)
    got = {a["source"]["document"] for a in body["answers"]}
    assert got == documents
    if not documents:
        assert body["no_answer"] is True


@pytest.mark.parametrize(
    "body, code",
    [
        ({"document": "NOPE_1_2000"}, "unknown_document"),
        ({"country": "XXX"}, "unknown_country"),
        ({"country": ["XXX", "YYY"]}, "unknown_country"),
        ({"country": ["KAZ", "YYY"]}, "unknown_country"),
    ],
)
def test_filters_naming_what_the_corpus_lacks_are_400(mclient, body, code):
    """Names the corpus does not have are refused, not answered with nothing (tests/test_collection_page.py
    checks the messages and suggestions)."""
    r = _ask(mclient, **body)
    assert r.status_code == 400
    assert r.get_json()["error"]["code"] == code


def test_get_filters_are_comma_separated(mclient):
    r = mclient.get(
        "/api/v1/ask", query_string={"question": "nuclear", "country": "FJI,KAZ", "year_to": "1999", "top_k": "5"}
    )
    assert r.status_code == 200, r.get_json()
    assert {a["source"]["document"] for a in r.get_json()["answers"]} == {"KAZ_47_1992"}


def test_group_by_document(mclient):
    body = _ask(mclient, group_by_document=True, top_k=2).get_json()
    _validate(mclient, body)
    docs = [a["source"]["document"] for a in body["answers"]]
    assert len(docs) == 2 == len(set(docs))
    assert [a["rank"] for a in body["answers"]] == [1, 2]
    for a in body["answers"]:
        for more in a.get("more", []):
            assert more["source"]["document"] == a["source"]["document"]
            assert more["score"] <= a["score"]
    assert any(a.get("more") for a in body["answers"])


@pytest.mark.parametrize(
    "body, code",
    [
        ({"country": 7}, "invalid_country"),
        ({"document": ["ok", 3]}, "invalid_document"),
        ({"year_from": "2020"}, "invalid_year_from"),
        ({"year_to": True}, "invalid_year_to"),
        ({"year_from": 2023.5}, "invalid_year_from"),
        ({"year_to": 10_000}, "invalid_year_to"),
        ({"document": ["d"] * 11}, "invalid_document"),
        ({"country": "X" * 17}, "invalid_country"),
        ({"group_by_document": "yes"}, "invalid_group_by_document"),
        ({"colour": "red"}, "unknown_field"),
    ],
)
def test_bad_filters_are_400(mclient, body, code):
    r = _ask(mclient, **body)
    assert r.status_code == 400
    assert r.get_json()["error"]["code"] == code


def test_bad_get_filters_are_400(mclient):
    for params, code in (
        ({"year_from": "soon"}, "invalid_year_from"),
        ({"group_by_document": "maybe"}, "invalid_group_by_document"),
    ):
        r = mclient.get("/api/v1/ask", query_string={"question": "nuclear", **params})
        assert r.status_code == 400 and r.get_json()["error"]["code"] == code


def test_form_has_a_corpus_picker_and_filters(mclient):
    html = mclient.get("/").get_data(as_text=True)
    assert 'class="filters"' in html
    # No country_name in these sidecars: the code's ISO name stands in.
    assert '<select name="country">' in html and '<option value="KAZ">Kazakhstan (KAZ)</option>' in html
    assert 'name="year_from"' in html and 'min="1992"' in html and 'max="2024"' in html
    assert html.count('<option value="KAZ_') == 2
    r = mclient.get("/", query_string={"q": "nuclear test site", "country": "KAZ", "year_from": "2024", "k": "5"})
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert set(re.findall(r'href="/documents/([A-Z]{3}_\d+_\d{4})\?p=', page)) == {"KAZ_79_2024"}
    assert "Speaker of Kazakhstan, Minister" in page
    assert '<option value="KAZ" selected>' in page


def test_form_groups_by_statement_and_reports_bad_filters(mclient):
    page = mclient.get("/", query_string={"q": "climate", "group_by_document": "true", "k": "3"}).get_data(as_text=True)
    assert page.count('class="answer"') == 3
    assert 'class="more"' in page
    r = mclient.get("/", query_string={"q": "climate", "year_from": "soon"})
    assert r.status_code == 400 and "year_from" in r.get_data(as_text=True)


def test_single_document_corpus_has_no_picker(client):
    assert 'class="filters"' not in client.get("/").get_data(as_text=True)


def test_retriever_filters_by_document(retriever):
    result = retriever.ask("terrorism", 3, filters=Filters(documents=frozenset({STATEMENT_ID})))
    assert len(result.answers) == 3
    assert retriever.ask("terrorism", 3, filters=Filters(countries=frozenset({"USA"}))).answers == ()


def test_cli_ask_takes_the_same_filters(runner, monkeypatch, settings, retriever):
    from qa_service.cli import main

    monkeypatch.setenv("QA_CORPUS_DIR", str(settings.corpus_dir))
    monkeypatch.setenv("QA_INDEX_DIR", str(settings.index_dir))
    result = runner.invoke(main, ["ask", "--json", "-k", "2", "--country", "kaz", "--year-from", "2020", "Who spoke?"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert [a["source"]["metadata"]["country"] for a in body["answers"]] == ["KAZ", "KAZ"]
    unknown = runner.invoke(main, ["ask", "--json", "--country", "Kazakhstan", "Who spoke?"])
    assert unknown.exit_code == 2 and "Did you mean Kazakhstan (KAZ)?" in unknown.output
    assert runner.invoke(main, ["ask", "--year-from", "20210", "Who spoke?"]).exit_code == 2
