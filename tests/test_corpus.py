"""Passage splitting on the real statement and on small made-up layouts; metadata; fingerprints."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa_service.corpus import (
    chunk_spans,
    corpus_fingerprint,
    load_corpus,
    load_document,
    parse_front_matter,
    split_passages,
    split_sentences,
)

from .conftest import CORPUS, STATEMENT_ID

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
    path = _write(tmp_path, "a.txt", "Title Here\n\nFirst paragraph is here and it\nwraps a little.\n\nSecond one.\n")
    doc = load_document(path, tmp_path)
    got = split_passages(doc)
    assert [p.text for p in got] == ["First paragraph is here and it wraps a little.", "Second one."]
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
    path = _write(tmp_path, "fm.md", "---\ntitle: \"My Title\"\nyear: 2001\n---\nBody text is here.\n")
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
