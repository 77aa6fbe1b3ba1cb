"""The attribution passage: a document's facts from its metadata, as a passage of it, in the API and pages."""

from __future__ import annotations

import json
import re

import pytest

from qa_service.corpus import (
    METADATA_KIND,
    SPLITTER_VERSION,
    Document,
    attribution_text,
    document_passages,
    load_corpus,
    split_passages,
)
from qa_service.http.app import create_app
from qa_service.index import build_index, ensure_index
from qa_service.ranking import Retriever
from qa_service.ranking.roles import asks_speaker

from .helpers import CORPUS, ROOT, FakeEncoder

UNGD = {
    "title": "France: General Debate statement, session 79 (2024)",
    "country": "FRA",
    "country_name": "France",
    "session": 79,
    "year": 2024,
    "speaker": "Emmanuel Macron",
    "post": "President",
}


def _document(metadata: dict, text: str = "Mr President,\n\nWe stand for peace. We stand for law.\n") -> Document:
    return Document("FRA_79_2024", str(metadata.get("title", "T")), "FRA_79_2024.txt", text, "0" * 64, metadata)


def test_a_ungd_statement_says_who_spoke_for_which_country_and_when():
    assert attribution_text(UNGD, UNGD["title"]) == (
        "Statement by Emmanuel Macron, President of France, at the general debate of the 79th session of the "
        "United Nations General Assembly, in 2024."
    )


def test_the_shipped_statement_tells_its_letterhead_facts():
    (doc,) = load_corpus(CORPUS)
    assert attribution_text(doc.metadata, doc.title) == (
        "Statement by H.E. Yerzhan Kazykhanov, Permanent Representative of the Republic of Kazakhstan to the "
        "United Nations, on agenda item 100: Measures to Eliminate International Terrorism, on 12 October 2020."
    )


@pytest.mark.parametrize(
    ("metadata", "want"),
    [
        ({}, ""),
        ({"title": "Notes", "source": "somewhere"}, ""),  # nothing about who, for whom or when
        ({"country_name": "United Kingdom", "year": "2001"}, "Statement by the United Kingdom, in 2001."),
        ({"country": "KAZ", "year": 2024}, "Statement by Kazakhstan, in 2024."),  # the code's ISO name
        ({"country": "XYZ", "year": 2024}, "Statement by XYZ, in 2024."),  # a code that names no country
        ({"speaker": "A. B.", "country_name": "Chad"}, "Statement by A. B. for Chad."),
        (
            {"speaker": "X Y", "post": "Minister of Foreign Affairs", "country_name": "Netherlands", "session": 1},
            "Statement by X Y, Minister of Foreign Affairs of the Netherlands, at the 1st session of the United "
            "Nations General Assembly.",
        ),
        (
            {"speaker": "X", "session": 112, "date": "2024-02-30"},
            "Statement by X, at the 112th session of the United Nations General Assembly, on 2024-02-30.",
        ),  # not a real day: said as given
        (
            {"speaker": "X", "occasion": "the Security Council open debate"},
            "Statement by X, at the Security Council open debate.",
        ),
        ({"speaker": ["not", "text"], "post": True, "year": 2020}, "Statement, in 2020."),
        ({"speaker": "X", "session": -3}, "Statement by X."),  # no such session
        ({"speaker": "x" * 500, "year": 2020}, "Statement, in 2020."),  # no name is 500 characters long
    ],
)
def test_attribution_text_reads_whatever_facts_there_are(metadata, want):
    assert attribution_text(metadata) == want


def test_the_attribution_passage_follows_the_text_and_claims_no_source_lines():
    doc = _document(UNGD)
    text_passages = split_passages(doc)
    passages = document_passages(doc)
    assert passages[:-1] == text_passages  # the text's passages keep their numbers
    extra = passages[-1]
    assert extra.kind == METADATA_KIND and extra.role == "letterhead"
    assert extra.number == len(text_passages) + 1
    assert (extra.first_line, extra.last_line, extra.start_char, extra.end_char) == (0, 0, 0, 0)
    assert extra.sentence_texts == [extra.text]
    assert document_passages(doc, attribution=False) == text_passages
    assert document_passages(_document({"title": "Notes"})) == split_passages(_document({"title": "Notes"}))
    assert "attribution" in SPLITTER_VERSION  # changing the attribution text makes older indexes stale


def test_a_letterhead_that_names_the_speaker_needs_no_attribution_passage():
    (doc,) = load_corpus(CORPUS)
    assert document_passages(doc) == split_passages(doc)  # its letterhead block says it all already
    renamed = _document({**doc.metadata, "speaker": "Someone Else"}, doc.text)
    assert document_passages(renamed)[-1].kind == METADATA_KIND


@pytest.fixture
def ungd_settings(fake_settings):
    """The shipped statement and France's 2024 statement, whose text never says who delivered it."""
    (fake_settings.corpus_dir / "FRA_79_2024.txt").write_text(FRANCE, encoding="utf-8")
    (fake_settings.corpus_dir / "FRA_79_2024.meta.json").write_text(json.dumps(UNGD), encoding="utf-8")
    return fake_settings


FRANCE = (
    "Mr President of the General Assembly,\n\n"
    "I speak here on behalf of a country that will never forget what nations can achieve when united.\n\n"
    "We call for a reform of the Security Council and for new permanent members.\n"
)


def test_a_build_gives_attribution_passages_only_where_asked(ungd_settings):
    data = build_index(ungd_settings, FakeEncoder())
    details = [p for p in data.passages if p.kind == METADATA_KIND]
    assert [(p.doc_id, p.number) for p in details] == [("FRA_79_2024", 3)]
    assert data.manifest.build_params["attribution_passages"] is True
    off = build_index(ungd_settings.replace(attribution_passages=False), FakeEncoder())
    assert off.manifest.build_params["attribution_passages"] is False
    assert [p.to_dict() for p in off.passages] == [p.to_dict() for p in data.passages if p.kind != METADATA_KIND]


def test_metadata_names_count_as_known_without_attribution_passages(ungd_settings):
    data = build_index(ungd_settings.replace(attribution_passages=False), FakeEncoder())
    assert not any("Macron" in p.text or "2024" in p.text for p in data.passages)
    names = Retriever(data, FakeEncoder()).names
    # The names of a document's details are known although no passage tells them.
    assert names.unknown("Who spoke for France in 2024, Emmanuel Macron?") == []
    assert names.unknown("Who spoke for Uruguay in 2023?") == ["Uruguay", "2023"]


@pytest.fixture
def ungd_client(ungd_settings):
    encoder = FakeEncoder()
    retriever = Retriever(ensure_index(ungd_settings, encoder), encoder)
    app = create_app(ungd_settings, retriever)
    app.config.update(TESTING=True)
    return app.test_client()


def test_who_spoke_is_answered_by_the_documents_details(ungd_client):
    body = ungd_client.post("/api/v1/ask", json={"question": "Who spoke for France in 2024?"}).get_json()
    best = body["answers"][0]
    assert best["text"].startswith("Statement by Emmanuel Macron, President of France")
    assert best["source"]["document"] == "FRA_79_2024" and best["source"]["passage"] == 3
    assert best["source"]["kind"] == METADATA_KIND
    assert best["source"]["lines"] == [0, 0] and best["source"]["chars"] == [0, 0]
    others = ungd_client.post("/api/v1/ask", json={"question": "terrorism", "top_k": 5}).get_json()["answers"]
    assert {a["source"]["kind"] for a in others} - {METADATA_KIND} <= {"paragraph", "block"}
    doc = ungd_client.get("/api/v1/documents/FRA_79_2024").get_json()
    assert [p["kind"] for p in doc["passages"]] == ["paragraph", "paragraph", METADATA_KIND]
    assert doc["passages"][-1]["lines"] == [0, 0]


def test_the_pages_say_the_passage_comes_from_the_documents_details(ungd_client):
    html = ungd_client.get("/", query_string={"q": "Who spoke for France in 2024?"}).get_data(as_text=True)
    assert "Passage 3, from the document's details</a>" in html
    assert not re.search(r"Passage 3, lines? 0", html)
    page = ungd_client.get("/documents/FRA_79_2024").get_data(as_text=True)
    item = page[page.index('<li id="p-3"') :]
    assert "from the document's details, not in the file" in item[: item.index("</li>")]
    assert "Statement by Emmanuel Macron" in item


def test_the_script_shows_the_same_place_as_the_page():
    script = (ROOT / "qa_service" / "http" / "static" / "app.js").read_text(encoding="utf-8")
    assert 'source.kind === "metadata" ? "from the document\'s details"' in script


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("Which country says a few nations still shape the agenda?", True),
        ("Who warned that migration will grow?", True),
        ("Which country proposed that Central Asia be free of the death penalty?", True),
        ("Who proposed the counter-terrorism strategy that Kazakhstan welcomes?", False),  # a third party
        ("Who is the Permanent Representative of Kyrgyzstan?", False),
        ("Which country hosted the Second Congress?", False),
    ],
)
def test_questions_that_ask_who_said_it(question, asks):
    assert asks_speaker(question) is asks


def test_who_said_it_is_answered_by_the_passage_with_its_documents_details(ungd_settings):
    encoder = FakeEncoder()
    retriever = Retriever(ensure_index(ungd_settings.replace(attribution_passages=False), encoder), encoder)
    question = "Which country says we call for a reform of the Security Council and new permanent members?"
    result = retriever.ask(question)
    assert result.answers[0].passage.doc_id == "FRA_79_2024" and "France" not in result.answers[0].passage.text
    assert result.evidence.missing_answer is None  # France's statement says it: its details name France
    retriever._details = {}
    assert retriever.ask(question).evidence.missing_answer == "country"
