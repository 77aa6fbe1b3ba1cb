"""The attribution passage: a document's facts from its metadata, as a passage of it, in the API and pages."""

from __future__ import annotations

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
from qa_service.index import build_index
from qa_service.ranking import Retriever

from .helpers import CORPUS, STATEMENT_ID, STATEMENT_PASSAGES, FakeEncoder

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
        ({"country": "KAZ", "year": 2024}, "Statement by KAZ, in 2024."),  # a code when no name is given
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


def test_a_build_without_attribution_passages_has_only_the_text(fake_settings):
    data = build_index(fake_settings.replace(attribution_passages=False), FakeEncoder())
    assert len(data.passages) == STATEMENT_PASSAGES - 1
    assert data.manifest.build_params["attribution_passages"] is False
    assert all(p.kind != METADATA_KIND for p in data.passages)


def test_metadata_names_count_as_known_without_attribution_passages(fake_settings):
    (fake_settings.corpus_dir / "notes.txt").write_text("We stand for peace and for the law.\n", encoding="utf-8")
    (fake_settings.corpus_dir / "notes.meta.json").write_text(
        '{"country": "MDA", "country_name": "Moldova", "speaker": "Maia Sandu", "year": 2024}', encoding="utf-8"
    )
    data = build_index(fake_settings.replace(attribution_passages=False), FakeEncoder())
    assert not any("Moldova" in p.text for p in data.passages)
    names = Retriever(data, FakeEncoder()).names
    # The names of a document's details are known although no passage tells them.
    assert names.unknown("Who spoke for Moldova in 2024, Maia Sandu?") == []
    assert names.unknown("Who spoke for Uruguay in 2023?") == ["Uruguay", "2023"]


def test_the_api_marks_the_attribution_passage_as_the_documents_details(client):
    body = client.post("/api/v1/ask", json={"question": "terrorism", "top_k": STATEMENT_PASSAGES}).get_json()
    sources = {a["source"]["passage"]: a["source"] for a in body["answers"]}
    details = sources[STATEMENT_PASSAGES]
    assert details["kind"] == METADATA_KIND and details["lines"] == [0, 0] and details["chars"] == [0, 0]
    assert {s["kind"] for n, s in sources.items() if n != STATEMENT_PASSAGES} <= {"paragraph", "block"}
    doc = client.get(f"/api/v1/documents/{STATEMENT_ID}").get_json()
    last = doc["passages"][-1]
    assert last["kind"] == METADATA_KIND and last["text"].startswith("Statement by H.E. Yerzhan Kazykhanov")
    assert last["number"] == STATEMENT_PASSAGES and last["lines"] == [0, 0]


def test_the_pages_say_the_passage_comes_from_the_documents_details(client):
    question = "Statement by Yerzhan Kazykhanov agenda item"
    html = client.get("/", query_string={"q": question, "k": STATEMENT_PASSAGES}).get_data(as_text=True)
    assert f"Passage {STATEMENT_PASSAGES}, from the document's details</a>" in html
    assert not re.search(rf"Passage {STATEMENT_PASSAGES}, lines? 0", html)
    page = client.get(f"/documents/{STATEMENT_ID}").get_data(as_text=True)
    item = page[page.index(f'<li id="p-{STATEMENT_PASSAGES}"') :]
    assert "from the document's details, not in the file" in item[: item.index("</li>")]


def test_the_script_shows_the_same_place_as_the_page():
    from .helpers import ROOT

    script = (ROOT / "qa_service" / "http" / "static" / "app.js").read_text(encoding="utf-8")
    assert 'source.kind === "metadata" ? "from the document\'s details"' in script
