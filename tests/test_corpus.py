"""Passage splitting on the real statement and on small made-up layouts; metadata; fingerprints."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qa_service.corpus import (
    chunk_spans,
    corpus_fingerprint,
    country_name_of,
    load_corpus,
    load_document,
    parse_front_matter,
    split_passages,
    split_sentences,
)

from .helpers import CORPUS, STATEMENT_ID

# The boundaries decided for the statement: (first line, last line, kind) of each passage.
EXPECTED = [
    (3, 3, "paragraph"),
    (4, 4, "paragraph"),
    (5, 5, "paragraph"),
    (6, 10, "block"),  # speaker, post, agenda item, date
    (12, 14, "paragraph"),
    (16, 20, "paragraph"),
    (22, 28, "paragraph"),
    (29, 38, "paragraph"),
    (39, 44, "paragraph"),
    (45, 48, "paragraph"),
    (49, 57, "paragraph"),
    (58, 60, "paragraph"),
    (61, 69, "paragraph"),
    (71, 72, "paragraph"),
    (73, 74, "paragraph"),
]


@pytest.fixture(scope="module")
def statement():
    docs = load_corpus(CORPUS)
    assert [d.id for d in docs] == [STATEMENT_ID]
    return docs[0]


@pytest.fixture(scope="module")
def passages(statement):
    return split_passages(statement)


def test_statement_is_the_seed_byte_for_byte(statement):
    seed = Path(__file__).resolve().parents[2] / "shared" / "seed" / "000_8e3e9263e68266bc.txt"
    if not seed.is_file():
        pytest.skip("shared/seed is not beside this checkout")
    assert (CORPUS / statement.path).read_bytes() == seed.read_bytes()


def test_statement_metadata_comes_from_sidecar(statement):
    assert statement.metadata["speaker"] == "H.E. Yerzhan Kazykhanov"
    assert statement.metadata["date"] == "2020-10-12"
    assert statement.title.lower().startswith("kazakhstan against terrorism")


def test_statement_passage_count_and_boundaries(passages):
    assert [(p.first_line, p.last_line, p.kind) for p in passages] == EXPECTED
    assert [p.number for p in passages] == list(range(1, len(EXPECTED) + 1))


def test_no_passage_is_a_salutation_heading_or_noise(passages):
    for p in passages:
        assert not p.text.lower().startswith(("mr. chairman", "thank you")), p.text
        assert p.text not in ("Terrorism", "KAZAKHSTAN AGAINST TERRORISM", "|")
        assert len(p.text.split()) >= 5


def test_headings_become_section_context(passages):
    assert passages[0].section == "Terrorism: KAZAKHSTAN AGAINST TERRORISM"


def test_header_block_keeps_its_lines(passages):
    block = passages[3]
    assert block.text.split("\n") == [
        "Statement by H.E. Yerzhan Kazykhanov,",
        "Permanent Representative of the Republic of Kazakhstan",
        "to the United Nations,",
        'on agenda item 100: "Measures to Eliminate International Terrorism"',
        "12 October 2020",
    ]
    assert block.sentence_texts[-1] == "12 October 2020"


def test_wrapped_lines_are_joined_with_single_spaces(passages):
    p = passages[4]
    assert p.text == (
        "My delegation wishes to warmly congratulate you and other members of the Bureau on your election. "
        "We strongly believe that under your able guidance, our deliberations at this session will be fruitful."
    )


def test_offsets_point_at_the_source(statement, passages):
    lines = statement.text.split("\n")
    for p in passages:
        source = statement.text[p.start_char : p.end_char]
        assert source.split() == p.text.split()
        assert source.startswith(lines[p.first_line - 1].strip()[:20])
        assert source.endswith(lines[p.last_line - 1].strip()[-20:])


def test_sentences_cover_the_passage(passages):
    for p in passages:
        assert p.sentences, p.number
        joined = " ".join(p.text[a:b] for a, b in p.sentences)
        assert joined.split() == p.text.split()
    assert len(passages[7].sentences) == 6


def test_sentence_splitter_keeps_abbreviations():
    text = "Statement by H.E. Mr. Smith of the U.N. today. He spoke at 10 a.m. on item 5. Done!"
    assert [text[a:b] for a, b in split_sentences(text)] == [
        "Statement by H.E. Mr. Smith of the U.N. today.",
        "He spoke at 10 a.m. on item 5.",
        "Done!",
    ]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_blank_line_paragraphs(tmp_path):
    path = _write(
        tmp_path,
        "a.txt",
        "Title Here\n\nFirst paragraph is here and it\nwraps a little.\n\n"
        "The second paragraph stands here on its own feet.\n",
    )
    doc = load_document(path, tmp_path)
    got = split_passages(doc)
    assert [p.text for p in got] == [
        "First paragraph is here and it wraps a little.",
        "The second paragraph stands here on its own feet.",
    ]
    assert got[0].section == "Title Here"
    assert doc.title == "Title Here"


def test_long_paragraph_is_split_at_sentences_never_cut(tmp_path):
    sentences = [f"Sentence number {i} says something about topic {i} in plain words." for i in range(40)]
    path = _write(tmp_path, "long.txt", " ".join(sentences) + "\n")
    doc = load_document(path, tmp_path)
    got = split_passages(doc, count_tokens=lambda t: len(t.split()), max_tokens=60)
    assert len(got) > 1
    assert all(len(p.text.split()) <= 60 for p in got)
    assert " ".join(p.text for p in got) == " ".join(sentences)
    for p in got:
        assert doc.text[p.start_char : p.end_char] == p.text


def test_chunk_spans_overlap_and_cover():
    text = "A b c. D e f. G h i. J k l."
    spans = split_sentences(text)
    chunks = chunk_spans(text, spans, lambda t: len(t.split()), 6, overlap=1)
    assert [text[a:b] for a, b in chunks] == ["A b c. D e f.", "D e f. G h i.", "G h i. J k l."]


def test_front_matter_is_metadata_not_text(tmp_path):
    path = _write(tmp_path, "fm.md", '---\ntitle: "My Title"\nyear: 2001\n---\nBody text is here.\n')
    doc = load_document(path, tmp_path)
    assert doc.metadata == {"title": "My Title", "year": 2001}
    assert doc.title == "My Title"
    (passage,) = split_passages(doc)
    assert passage.text == "Body text is here."
    assert passage.first_line == 5
    assert doc.text[passage.start_char : passage.end_char] == "Body text is here."


def test_parse_front_matter_without_block():
    assert parse_front_matter("no front matter\n") == ({}, 0)


def test_corpus_files_and_fingerprint(tmp_path):
    _write(tmp_path, "b.md", "Hello there.\n")
    _write(tmp_path, "a.txt", "Hello.\n")
    _write(tmp_path, "notes.csv", "x,y\n")
    (tmp_path / ".hidden").mkdir()
    _write(tmp_path / ".hidden", "c.txt", "secret\n")
    assert [d.id for d in load_corpus(tmp_path)] == ["a", "b"]
    before = corpus_fingerprint(tmp_path)
    assert set(before) == {"a.txt", "b.md"}
    _write(tmp_path, "a.txt", "Hello, changed.\n")
    assert corpus_fingerprint(tmp_path)["a.txt"] != before["a.txt"]


# ---------------------------------------------------------------------------------------------
# Real UN General Debate statements (from ../shared, when it is beside this checkout): each has a
# different layout, and the splitter must find a reader's paragraphs in all of them.

UNGD = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "un_general_debate_subset" / "txt"


def _ungd(name: str):
    found = sorted(UNGD.glob(f"*/{name}.txt")) if UNGD.is_dir() else []
    if not found:
        pytest.skip("the UN General Debate subset is not beside this checkout")
    doc = load_document(found[0], found[0].parent)
    return doc, split_passages(doc)


# name -> a layout: hard wraps at ~78 columns with a page break mid-sentence; hard wraps at ~55 with
# some lines joined by the text extraction; one paragraph per line; blank-line paragraphs with bulleted
# salutations and Markdown emphasis; speech notes (a phrase per line, blank lines between); wrapped
# lines with blank lines falling mid-sentence.
LAYOUTS = ["KAZ_47_1992", "KAZ_67_2012", "CHE_78_2023", "MRT_79_2024", "GBR_79_2024", "USA_79_2024"]


@pytest.mark.parametrize("name", LAYOUTS)
def test_real_layouts_keep_every_word_in_place(name):
    doc, passages = _ungd(name)
    assert passages
    for p in passages:
        # The text reads its source range: the same letters and digits, less Markdown markup and the hyphens
        # of words broken across lines (tests/test_corpus_cleaning.py checks page furniture and the rest).
        source = doc.text[p.start_char : p.end_char]
        assert re.sub(r"[\W_]", "", source) == re.sub(r"[\W_]", "", p.text), (name, p.number)
        assert (source[0], source[-1]) == (p.text[0], p.text[-1])
        assert " ".join(p.text[a:b] for a, b in p.sentences).split() == p.text.split()
        assert len(p.text.split()) >= 8, (name, p.text)  # no fragments
        assert (len(p.text.split()) * 4 + 2) // 3 <= 256  # within the model's input


@pytest.mark.parametrize("name", LAYOUTS)
def test_real_layouts_drop_only_salutations(name):
    doc, passages = _ungd(name)
    kept = " ".join(p.text for p in passages).split()
    source = doc.text.split()
    assert len(kept) >= 0.95 * len(source), name


def test_hard_wrapped_statement_finds_its_paragraphs():
    doc, passages = _ungd("KAZ_47_1992")
    assert passages[0].text.startswith("First, I should like to express our profound satisfaction.")
    assert passages[0].text.endswith("at its current session.")
    assert passages[1].text.startswith("At the preceding session the Republic of Kazakhstan was unanimously admitted")
    # A whitespace line (a page break) in the middle of a sentence does not end the paragraph.
    assert "The world community places many hopes in this unique international organization" in passages[2].text
    assert 30 <= len(passages) <= 50


def test_wrapped_statement_with_joined_lines_and_a_first_line_that_looks_like_a_title():
    doc, passages = _ungd("KAZ_67_2012")
    assert passages[0].text.startswith("On behalf of the Republic of Kazakhstan, I would like to congratulate you")
    assert passages[0].text.endswith("for his skillful steering of the Assembly’s proceedings.")
    assert passages[0].section == ""


def test_one_paragraph_per_line():
    doc, passages = _ungd("CHE_78_2023")
    lines = [ln for ln in doc.text.split("\n") if ln.strip()]
    assert len(passages) >= len(lines) - 2  # each long line is a paragraph (very long ones are cut at sentences)
    assert passages[0].first_line == passages[0].last_line == 1


def test_blank_line_paragraphs_with_bulleted_salutations():
    doc, passages = _ungd("MRT_79_2024")
    texts = [p.text for p in passages]
    assert not any("Excellencies, Ladies and Gentlemen" in t for t in texts)
    assert texts[1].startswith("Allow me at the outset to extend my warmest congratulations")
    assert all(p.first_line == p.last_line for p in passages[1:5])


def test_speech_notes_are_packed_into_passages():
    doc, passages = _ungd("GBR_79_2024")
    lines = [ln for ln in doc.text.split("\n") if ln.strip()]
    assert len(lines) > 250 and len(passages) < 50
    words = sorted(len(p.text.split()) for p in passages)
    assert words[len(words) // 2] >= 50


def test_blank_lines_inside_a_sentence_do_not_split_it():
    doc, passages = _ungd("USA_79_2024")
    assert any("Israel and Egypt went to war but then forged a historic peace." in p.text for p in passages)
    assert not any(p.text.startswith("then forged") for p in passages)


def test_tiny_fragment_joins_its_paragraph(tmp_path):
    text = (
        "We have worked for peace in the region for many years and will go on doing so.\n\n"
        "Without fail.\n\n"
        "The second paragraph speaks of development, trade and the climate of the planet.\n"
    )
    doc = load_document(_write(tmp_path, "t.txt", text), tmp_path)
    got = split_passages(doc)
    assert [p.text for p in got] == [
        "We have worked for peace in the region for many years and will go on doing so. Without fail.",
        "The second paragraph speaks of development, trade and the climate of the planet.",
    ]
    assert (got[0].first_line, got[0].last_line) == (1, 3)


def test_salutations_of_several_forms_are_dropped(tmp_path):
    text = (
        "Distinguished President of the General Assembly,\n"
        "- Your Majesties, Excellencies, and Highnesses,\n"
        "**Ladies and Gentlemen,**\n\n"
        "It is an honour to address this Assembly on behalf of my country and its people.\n"
    )
    doc = load_document(_write(tmp_path, "s.txt", text), tmp_path)
    assert [p.text for p in split_passages(doc)] == [
        "It is an honour to address this Assembly on behalf of my country and its people."
    ]


@pytest.mark.parametrize(
    ("metadata", "name"),
    [
        ({"country": "KAZ"}, "Kazakhstan"),
        ({"country": "kaz", "country_name": "Republic of Kazakhstan"}, "Republic of Kazakhstan"),  # given wins
        ({"country": "IRN"}, "Iran"),  # the common name
        ({"country": "COD"}, "Democratic Republic of the Congo"),  # in reading order
        ({"country": "FR"}, "France"),
        ({"country": "XYZ"}, ""),
        ({}, ""),
    ],
)
def test_country_name_from_the_metadata_or_the_iso_code(metadata, name):
    assert country_name_of(metadata) == name
