"""The page and API over a collection (many documents), fake encoder: wording for one or many documents,
country names with codes, the corpus's own example questions (``examples.json``) or derived ones, and
documents or countries the corpus lacks refused with 400 and close matches."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from qa_service.corpus import (
    EXAMPLES_FILE,
    corpus_files,
    corpus_fingerprint,
    read_examples,
)
from qa_service.http.app import create_app
from qa_service.index import ensure_index
from qa_service.ranking import Retriever
from qa_service.settings import Settings

from .helpers import CORPUS, FakeEncoder

#: id: (country code, country name or "" for none in the sidecar, year, speaker, paragraphs)
COLLECTION = {
    "KAZ_79_2024": (
        "KAZ",
        "Kazakhstan",
        2024,
        "Murat Nurtleu",
        [
            "Kazakhstan closed the Semipalatinsk nuclear test site and calls for nuclear disarmament by all.",
            "Climate change dries the Aral Sea; Kazakhstan asks for water cooperation across Central Asia.",
        ],
    ),
    "FJI_78_2023": (
        "FJI",
        "Fiji",
        2023,
        "Sitiveni Rabuka",
        [
            "Rising seas threaten every island in the Pacific and climate finance has not arrived in time.",
            "Climate adaptation for islands needs grants, not loans, and the Assembly must act this year.",
        ],
    ),
    "PAK_79_2024": (
        "PAK",
        "",
        2024,
        "Shehbaz Sharif",
        [
            "Floods displaced millions and climate finance for developing countries must reach those in need.",
            "Pakistan calls for dialogue on Kashmir and for nuclear restraint in South Asia.",
        ],
    ),
}


def make_collection(root: Path, examples: list | None = None) -> Settings:
    """A corpus folder of :data:`COLLECTION` (with ``examples`` as its examples.json when given) and
    settings for it; the index is built by the caller."""
    corpus = root / "corpus"
    corpus.mkdir(parents=True)
    for doc_id, (code, name, year, speaker, paragraphs) in COLLECTION.items():
        (corpus / f"{doc_id}.txt").write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
        meta = {"title": f"{name or code}: General Debate statement ({year})", "country": code, "year": year}
        meta.update({"speaker": speaker, "post": "Head of Government"})
        if name:
            meta["country_name"] = name
        (corpus / f"{doc_id}.meta.json").write_text(json.dumps(meta), encoding="utf-8")
    if examples is not None:
        (corpus / EXAMPLES_FILE).write_text(json.dumps(examples), encoding="utf-8")
    return Settings(corpus_dir=corpus, index_dir=root / "index", data_dir=root / "data")


def collection_app(settings: Settings, **overrides):
    """The app over a built collection index (fake encoder)."""
    settings = settings.replace(**overrides) if overrides else settings
    encoder = FakeEncoder()
    app = create_app(settings, Retriever(ensure_index(settings, encoder), encoder))
    app.config.update(TESTING=True)
    return app


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    return collection_app(make_collection(tmp_path_factory.mktemp("collection")), index_poll_seconds=0)


@pytest.fixture
def cclient(collection):
    return collection.test_client()


def _page(client, **params) -> tuple[int, str]:
    r = client.get("/", query_string=params)
    return r.status_code, r.get_data(as_text=True)


# -- wording ---------------------------------------------------------------------------------------------


def test_the_collection_page_speaks_of_statements(cclient):
    status, html = _page(cclient)
    assert status == 200
    assert "<title>Ask the collection</title>" in html
    assert '<p class="kicker">Ask the collection</p>' in html and "<h1>3 statements</h1>" in html
    assert "The answers are passages of the statements, best first" in html
    assert "answers are passages of the statements, ranked" in html
    assert "passages of the statement," not in html and "Ask the statement" not in html


def test_the_one_statement_page_keeps_its_words(client):
    html = client.get("/").get_data(as_text=True)
    assert "<title>Ask the statement</title>" in html
    assert "The answers are passages of the statement, best first" in html
    assert "answers are passages of the statement, ranked" in html
    assert 'data-no-answer="The statement does not seem to answer this question."' in html


def test_no_answer_over_a_collection_says_none_of_the_statements(tmp_path):
    app = collection_app(make_collection(tmp_path), no_answer_threshold=0.99, index_poll_seconds=0)
    html = app.test_client().get("/", query_string={"q": "How do I bake bread?"}).get_data(as_text=True)
    assert "<strong>None of the statements seems to answer this question.</strong>" in html
    assert 'data-no-answer="None of the statements seems to answer this question."' in html


# -- country names -----------------------------------------------------------------------------------------


def test_the_picker_names_countries_with_their_codes(cclient):
    _, html = _page(cclient)
    options = re.findall(r'<option value="([A-Z]{3})"[^>]*>([^<]*)</option>', html)
    assert options == [("FJI", "Fiji (FJI)"), ("KAZ", "Kazakhstan (KAZ)"), ("PAK", "Pakistan (PAK)")]  # its ISO name
    _, chosen = _page(cclient, country="kaz")
    assert '<option value="KAZ" selected>Kazakhstan (KAZ)</option>' in chosen


def test_answer_cards_name_the_country(cclient):
    _, html = _page(cclient, q="nuclear disarmament climate finance", k="5")
    cards = re.findall(r'<p class="source-doc">(.*?)</p>', html)
    assert len(cards) == 5
    for card in cards:
        doc = re.search(r'href="/documents/([A-Z]{3}_\d+_\d{4})"', card).group(1)
        # PAK's sidecar has no country_name: its ISO name stands in.
        label = {"KAZ": "Kazakhstan (KAZ)", "FJI": "Fiji (FJI)", "PAK": "Pakistan (PAK)"}[COLLECTION[doc][0]]
        assert f'<span class="country">{label}</span>' in card


def test_the_api_still_gives_codes_and_names_as_the_metadata_has_them(cclient):
    body = cclient.post("/api/v1/ask", json={"question": "nuclear", "top_k": 5}).get_json()
    for answer in body["answers"]:
        meta = answer["source"]["metadata"]
        assert meta["country"] == answer["source"]["document"][:3]
        assert meta.get("country_name", "") == COLLECTION[answer["source"]["document"]][1]


# -- example questions -------------------------------------------------------------------------------------


def _examples(html: str) -> list[str]:
    return re.findall(r'<button class="example" type="submit" name="q" value="[^"]*">([^<]*)</button>', html)


def test_the_shipped_corpus_has_its_own_examples_file():
    examples = read_examples(CORPUS)
    assert examples is not None and len(examples) == 5
    assert examples[0] == "Who delivered the statement, and when?"
    assert all(p.suffix in (".txt", ".md") for p in corpus_files(CORPUS))


def test_the_one_statement_page_shows_the_shipped_examples(client):
    html = client.get("/").get_data(as_text=True)
    assert [e.replace("&#39;", "'") for e in _examples(html)] == read_examples(CORPUS)
    assert 'placeholder="e.g. When did Kazakhstan accede to the nuclear terrorism convention?"' in html


def test_a_collection_without_examples_gets_derived_ones(cclient):
    _, html = _page(cclient)
    examples = _examples(html)
    assert examples[0] == "Who spoke for Kazakhstan in 2024?"  # the latest year, then by title
    topics = examples[1:]
    assert topics and all(re.fullmatch(r"What is said about [a-z]+ [a-z]+\?", q) for q in topics)
    assert "What is said about climate finance?" in topics  # in two of the three statements
    # Derived examples are real questions: each gets answers.
    for question in examples:
        assert cclient.get("/api/v1/ask", query_string={"question": question}).get_json()["answers"]


def test_examples_json_is_shown_and_read_again_when_it_changes(tmp_path):
    settings = make_collection(tmp_path, examples=["What did Fiji ask of the Assembly?", "  ", "Who spoke?"])
    client = collection_app(settings, index_poll_seconds=0).test_client()
    assert _examples(client.get("/").get_data(as_text=True)) == ["What did Fiji ask of the Assembly?", "Who spoke?"]
    (settings.corpus_dir / EXAMPLES_FILE).write_text(json.dumps(["Which island states spoke of rising seas?"]))
    assert _examples(client.get("/").get_data(as_text=True)) == ["Which island states spoke of rising seas?"]
    (settings.corpus_dir / EXAMPLES_FILE).write_text("[]")
    html = client.get("/").get_data(as_text=True)
    assert 'id="examples"' not in html
    assert "placeholder=" not in re.search(r'<input id="q"[^>]*>', html).group(0)


@pytest.mark.parametrize("content", ['{"examples": ["a"]}', "[1, 2]", "not json", '["' + "x" * 5000 + '"]'])
def test_a_broken_examples_file_is_logged_once_and_derived_ones_shown(tmp_path, caplog, content):
    settings = make_collection(tmp_path)
    (settings.corpus_dir / EXAMPLES_FILE).write_text(content)
    client = collection_app(settings, index_poll_seconds=0).test_client()
    with caplog.at_level(logging.WARNING, logger="qa_service.http.pages"):
        pages = [client.get("/") for _ in range(2)]
    assert all(p.status_code == 200 for p in pages)
    assert _examples(pages[0].get_data(as_text=True))[0] == "Who spoke for Kazakhstan in 2024?"
    warnings = [r for r in caplog.records if "example questions" in r.getMessage()]
    assert len(warnings) == 1 and EXAMPLES_FILE in warnings[0].getMessage()


def test_examples_are_not_part_of_the_corpus_fingerprint(tmp_path):
    """Examples change no passage, vector or answer: editing them leaves a good index fresh."""
    settings = make_collection(tmp_path)
    before = corpus_fingerprint(settings.corpus_dir)
    (settings.corpus_dir / EXAMPLES_FILE).write_text('["Who spoke?"]')
    assert corpus_fingerprint(settings.corpus_dir) == before


# -- documents and countries the corpus lacks --------------------------------------------------------------


@pytest.mark.parametrize(
    "filters, code, suggestions, says",
    [
        ({"country": "Kazakhstan"}, "unknown_country", ["KAZ"], "Did you mean Kazakhstan (KAZ)?"),
        ({"country": ["FJI", "Fidji"]}, "unknown_country", ["FJI"], "Did you mean Fiji (FJI)?"),
        # No country_name in its metadata: named by its ISO code's name.
        ({"country": "Pakistan"}, "unknown_country", ["PAK"], "Did you mean Pakistan (PAK)?"),
        ({"country": "ZZZ"}, "unknown_country", [], "ISO codes of the documents' metadata (FJI, KAZ, PAK)"),
        ({"document": "KAZ_79_2024.txt"}, "unknown_document", ["KAZ_79_2024"], "Did you mean KAZ_79_2024?"),
        ({"document": "kaz_79_2024"}, "unknown_document", ["KAZ_79_2024"], "Did you mean KAZ_79_2024?"),
        ({"document": "FJI_79_2024"}, "unknown_document", ["FJI_78_2023"], "GET /api/v1/documents"),
    ],
)
def test_unknown_names_are_400_with_close_matches(cclient, filters, code, suggestions, says):
    for response in (
        cclient.post("/api/v1/ask", json={"question": "climate", **filters}),
        cclient.get(
            "/api/v1/ask",
            query_string={
                "question": "climate",
                **{k: ",".join(v) if isinstance(v, list) else v for k, v in filters.items()},
            },
        ),
    ):
        assert response.status_code == 400
        error = response.get_json()["error"]
        assert error["code"] == code
        assert error["suggestions"][: len(suggestions)] == suggestions
        if not suggestions:
            assert error["suggestions"] == []
        assert says in error["message"]


def test_known_names_that_match_nothing_together_still_answer_200(cclient):
    r = cclient.post("/api/v1/ask", json={"question": "climate", "country": "FJI", "year_from": 2024})
    assert r.status_code == 200 and r.get_json()["answers"] == []


def test_the_page_shows_the_unknown_name_as_a_message(cclient):
    status, html = _page(cclient, q="nuclear", country="Kazakhstan")
    assert status == 400
    message = re.search(r'<p class="error" role="alert">([^<]*)</p>', html).group(1).replace("&#39;", "'")
    assert "No document of country 'KAZAKHSTAN'" in message and "Did you mean Kazakhstan (KAZ)?" in message
    status, html = _page(cclient, q="nuclear", document="KAZ_79_2024.txt")
    assert status == 400 and "Did you mean KAZ_79_2024?" in html


def test_the_openapi_document_describes_the_refusal(cclient):
    doc = cclient.get("/api/v1/openapi.json").get_json()
    for method in ("get", "post"):
        described = doc["paths"]["/api/v1/ask"][method]["responses"]["400"]["description"]
        assert "unknown_document" in described and "unknown_country" in described
    error = doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]
    assert error["suggestions"]["type"] == "array"
