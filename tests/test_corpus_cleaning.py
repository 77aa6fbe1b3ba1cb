"""Clean passages from real files: Markdown, letterheads, page furniture and line-break hyphens.

Small made-up texts modelled on the layouts of the UN General Debate statements (no text of the dataset is
copied here), then one scan of all 415 statements when ../shared is beside this checkout.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qa_service.corpus import load_corpus, load_document, split_passages
from qa_service.corpus.text import source_index, strip_markup

from .helpers import CORPUS, UNGD_DATASET


def _split(tmp_path: Path, text: str, name: str = "s.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    doc = load_document(path, tmp_path)
    return doc, split_passages(doc)


def _alnum(text: str) -> str:
    return re.sub(r"[\W_]", "", text)


def _assert_reads_its_source(doc, passages, furniture: tuple[str, ...] = ()) -> None:
    """What a passage's text is to its source range: the same letters and digits in the same order (less the
    page furniture named), from the range's first character to its last; sentences cover the text."""
    for p in passages:
        source = doc.text[p.start_char : p.end_char]
        kept = "\n".join(ln for ln in source.split("\n") if ln.strip() not in furniture)
        assert _alnum(p.text) == _alnum(kept), (p.number, p.text, source)
        assert source[0] == p.text[0] and source[-1] == p.text[-1], (p.number, source)
        assert " ".join(p.text[a:b] for a, b in p.sentences).split() == p.text.split()


def _no_markup(passages) -> None:
    for p in passages:
        assert "**" not in p.text and not re.search(r"(?<![\w*])\*(?=\S)|(?<=\S)\*(?!\w)", p.text), p.text
        assert not p.text.startswith(("#", ">")), p.text


# ---------------------------------------------------------------------------------------------
# Markdown


def test_strip_markup_keeps_where_each_character_stands():
    lines = ["  **Bold** text *em* and 5 * 3, a*b  ", "> *“A quote.”*", "plain", "** ** x", "Sirs,**", "* item *e*"]
    for line in lines:
        text, shifts = strip_markup(line)
        assert [line[source_index(shifts, i)] for i in range(len(text))] == list(text)
    assert strip_markup("  **Bold** text *em* and 5 * 3, a*b  ")[0] == "Bold text em and 5 * 3, a*b"
    assert strip_markup("> *“A quote.”*")[0] == "“A quote.”"
    assert strip_markup("* item *e*")[0] == "* item e"  # a bullet is text


def test_emphasis_is_never_shown_and_offsets_point_at_the_words(tmp_path):
    text = (
        "Our **first priority** is *peace*, as the *Pact for the Future* says in its opening words.\n\n"
        "**We will never give up on the people of the region and their right to live in peace.**\n"
    )
    doc, passages = _split(tmp_path, text)
    assert [p.text for p in passages] == [
        "Our first priority is peace, as the Pact for the Future says in its opening words.",
        "We will never give up on the people of the region and their right to live in peace.",
    ]
    # The range runs from the first word kept to the last: the markup around the passage is outside it.
    assert doc.text[passages[1].start_char : passages[1].end_char] == passages[1].text
    assert passages[0].sentence_texts == [passages[0].text]
    _assert_reads_its_source(doc, passages)


def test_markdown_headings_are_section_context_not_passages(tmp_path):
    body = "This paragraph is long enough to set the width of the lines of this document, as speeches do. " * 2
    text = (
        "### 2. Gratitude to the International Community\n\n"
        f"{body}\n\n"
        "### 3. Relevance of the General Debate Theme\n"
        f"{body.replace('This', 'That')}\n\n"
        "---\n\n"
        "### 4. Global Challenges and UN Priorities\n\n"
        "### 5. The President’s Journey\n\n"
        f"{body.replace('This', 'Our')}\n"
    )
    doc, passages = _split(tmp_path, text)
    assert [p.section for p in passages] == [
        "Gratitude to the International Community",
        "Relevance of the General Debate Theme",
        "Global Challenges and UN Priorities: The President’s Journey",
    ]
    assert not any("#" in p.text or "Relevance" in p.text for p in passages)
    _assert_reads_its_source(doc, passages)


def test_quote_markers_go_and_a_lead_in_joins_its_quotation(tmp_path):
    text = (
        "The founder of our nation declared, many years ago, in words that we still hold dear:\n\n"
        "> *“We stand by the Charter and will make our full contribution to peace.”*\n\n"
        "Our country has stood by this commitment in every decade since its independence.\n"
    )
    doc, passages = _split(tmp_path, text)
    assert passages[0].text == (
        "The founder of our nation declared, many years ago, in words that we still hold dear: "
        "“We stand by the Charter and will make our full contribution to peace.”"
    )
    assert len(passages) == 2
    _assert_reads_its_source(doc, passages)


# ---------------------------------------------------------------------------------------------
# Letterheads: only a real one is a block

LETTERHEAD = (
    "Statement by H.E. Mr. John Example,\n"
    "Permanent Representative of the Republic of Examplestan\n"
    "to the United Nations,\n"
    'on agenda item 7: "Measures to protect the oceans"\n'
    "3 October 2021\n"
)
OPENING = "My delegation congratulates you on your election and assures you of our full support this year.\n"
BODY = "\n".join(
    f"Our country has worked for {topic} since independence, and it will go on doing so with all its partners."
    for topic in ("peace", "development", "disarmament")
)


def test_a_real_letterhead_stays_one_block(tmp_path):
    doc, passages = _split(tmp_path, LETTERHEAD + "\n" + OPENING + "\n" + BODY)
    assert passages[0].kind == "block" and {p.kind for p in passages[1:]} == {"paragraph"}
    assert passages[0].text == LETTERHEAD.strip()
    assert passages[0].role == "letterhead"


def test_the_shipped_statement_keeps_its_letterhead():
    (doc,) = load_corpus(CORPUS)
    blocks = [p for p in split_passages(doc) if p.kind == "block"]
    assert len(blocks) == 1 and blocks[0].text.startswith("Statement by H.E. Yerzhan Kazykhanov,")


@pytest.mark.parametrize(
    "opening",
    [
        # A salutation block, with bullets and bold (dropped).
        "President of the 79th Session of the General Assembly, Mr. Jan Example,\n"
        "United Nations Secretary-General, Mr. António Guterres,\n"
        "Excellencies Heads of State and Government,\n"
        "Ladies and Gentlemen,\n",
        "**• Mr António Guterres, Secretary-General of the United Nations**\n"
        "**• Distinguished Heads of State and Government**\n"
        "**• Ladies and Gentlemen, Delegates**\n",
        "-Your Excellency Jan Example\n"
        "President of the 79th Session of the United Nations General Assembly,\n"
        "-Heads of Delegation,\n",
        "The President of the General Assembly,\n"
        "The Secretary General of the United Nations,\n"
        "Distinguished delegates\n",
    ],
)
def test_a_salutation_block_is_dropped(tmp_path, opening):
    doc, passages = _split(tmp_path, opening + "\n" + OPENING)
    assert [p.text for p in passages] == [OPENING.strip()]


@pytest.mark.parametrize(
    ("text", "joined"),
    [
        # The lead-in to a quotation: it joins the quotation.
        (
            "I would like to end by quoting a great leader of our continent,\nwho said:\n\n"
            "“It always seems impossible until it is done.”\n",
            "I would like to end by quoting a great leader of our continent, who said: “It always seems",
        ),
        (
            "Our conclusion is clear:\n**The next leader of this institution must be a woman.**\n",
            "Our conclusion is clear: The next leader of this institution must be a woman.",
        ),
        # A sentence cut by a stray blank line: its tail joins it.
        (
            "As we approach the second half of this decade, solidarity is key to\n"
            "achieving targets under Agenda 2030 and the Sustainable\n\nDevelopment Goals.\n",
            "achieving targets under Agenda 2030 and the Sustainable Development Goals.",
        ),
        # ... or by one before a capital, after a word no paragraph ends with ("this").
        (
            "This is what the monument in memory of the\n1994 victims, recently built in the gardens of this\n\n"
            "United Nations building, stands to remind the world.\n",
            "in the gardens of this United Nations building, stands to remind the world.",
        ),
        # A sentence cut by a page number and blank lines.
        (
            "We are planning to convene, in the coming year, a meeting of\n18\n\n\n"
            "Foreign Ministers of interested States to discuss security issues.\n",
            "a meeting of Foreign Ministers of interested States",
        ),
        # Closing cries in bold, and lines in emphasis with their translation.
        (
            "**God bless our country!**\n**God bless our continent!**\n**God bless Africa and the world!**\n",
            "God bless our country! God bless our continent! God bless Africa and the world!",
        ),
        (
            "*Ri’ tinamit kayala ku ya rutzil uwach.*\n*(The people of our country greet the world.)*\n",
            "uwach.",
        ),
        # A wrapped sentence left unfinished by the speaker.
        (
            "And, in our own continent, the growing presence of drug\ntrafficking and organized crime\n",
            "And, in our own continent, the growing presence of drug trafficking and organized crime",
        ),
    ],
)
def test_what_only_looks_like_a_letterhead_is_a_paragraph(tmp_path, text, joined):
    doc, passages = _split(tmp_path, OPENING + "\n" + text)
    assert not any(p.kind == "block" for p in passages), [p.text for p in passages]
    assert any(joined in p.text for p in passages), [p.text for p in passages]
    _assert_reads_its_source(doc, passages, furniture=("18",))


# ---------------------------------------------------------------------------------------------
# Page furniture


def test_page_numbers_and_footers_are_dropped(tmp_path):
    sentence = "The Organization must be reformed so that it can meet the challenges of the new century."
    text = (
        f"{sentence}\nz 11\n{sentence}\nPage 2|6\n{sentence}\n\n23 08-53122\n\n{sentence}\nA/63/PV.13\n"
        f"{sentence}\nz 11\n- 4 -\n{sentence}\n"
    )
    doc, passages = _split(tmp_path, text)
    furniture = ("z 11", "Page 2|6", "23 08-53122", "A/63/PV.13", "- 4 -")
    assert not any(f in p.text for p in passages for f in furniture)
    assert " ".join(p.text for p in passages).count(sentence) == 6
    _assert_reads_its_source(doc, passages, furniture)


def test_a_wrapped_sentence_ending_in_a_number_keeps_it(tmp_path):
    text = "We are committed to the goals of the Agenda and to achieving Goal\n16.\n"
    doc, passages = _split(tmp_path, text)
    assert passages[0].text.endswith("Goal 16.")


# ---------------------------------------------------------------------------------------------
# Line-break hyphens


def test_line_break_hyphens_join_their_halves(tmp_path):
    text = (
        "Kazakhstan accords priority to the issue of the non-\n"
        "proliferation of nuclear weapons, and we thank the Secretary-\n"
        "General for his report for the years 2017-\n"
        "2018. We support all peace-\n"
        "making efforts, for peacemaking is the work of the United Nations.\n"
        "We favour the post-\n\n"
        "2015 agenda and all non-\n"
        "communicable disease programmes of the inter-\n"
        "State bodies.\n"
    )
    doc, passages = _split(tmp_path, text)
    joined = " ".join(p.text for p in passages)
    for word in ["non-proliferation", "Secretary-General", "2017-2018.", "post-2015", "non-communicable"]:
        assert word in joined
    assert "inter-State bodies" in joined
    # The document writes "peacemaking" and never "peace-making": the hyphen was the line break's.
    assert "all peacemaking efforts" in joined
    assert "- " not in joined
    _assert_reads_its_source(doc, passages)


def test_a_long_paragraph_cut_at_sentences_keeps_its_joined_words(tmp_path):
    unit = "Sentence {} of the Council speaks of non-\nproliferation and of peace. And then the Council\n"
    path = tmp_path / "l.txt"
    path.write_text("".join(unit.format(i) for i in range(30)) + "closes.\n", encoding="utf-8")
    doc = load_document(path, tmp_path)
    passages = split_passages(doc, count_tokens=lambda t: len(t.split()), max_tokens=40)
    assert len(passages) > 3
    assert all("non-proliferation" in p.text and "non- " not in p.text for p in passages)
    _assert_reads_its_source(doc, passages)


# ---------------------------------------------------------------------------------------------
# The six layouts of the UN statements, made up: no letterhead block, no markup, every word in place

_SENTENCES = [
    "The world community places many hopes in this unique international organization.",
    "We believe that the reform of the Security Council is long overdue and must be completed.",
    "Our country has closed its nuclear test site and renounced the weapons it inherited.",
    "Climate change threatens the very existence of small island developing States.",
    "We call on all Member States to honour their commitments under the Paris Agreement.",
    "Development, peace and human rights are the three pillars of the United Nations.",
]


def _wrapped(width: int, paragraphs: int = 6) -> str:
    """Paragraphs hard-wrapped at ``width`` columns with no blank lines between them."""
    import textwrap

    out = []
    for k in range(paragraphs):
        body = " ".join(_SENTENCES[(k + j) % len(_SENTENCES)] for j in range(3))
        out.extend(textwrap.wrap(body, width))
    return "\n".join(out) + "\n"


def _layouts() -> dict[str, str]:
    wrapped78 = _wrapped(78).split("\n")
    wrapped78.insert(7, "\n \n14\n")  # a page break (and its number) in the middle of a paragraph
    notes = "\n\n".join(f"{s[:-1]}" for s in _SENTENCES * 3) + "\n"
    return {
        "wrapped_78_with_page_break": "\n".join(wrapped78),
        "wrapped_55_with_joined_lines": _wrapped(55).replace("organization.\n", "organization. ", 1),
        "one_paragraph_per_line": "\n".join(" ".join(_SENTENCES[k:] + _SENTENCES[:k]) for k in range(6)) + "\n",
        "blank_lines_bullets_and_emphasis": (
            "**In the Name of God, the Most Gracious, the Most Merciful**\n\n"
            "- Mr. President of the General Assembly,\n- Excellencies, Ladies and Gentlemen,\n\n"
            + "\n\n".join(f"**{s}** {' '.join(_SENTENCES)}" for s in _SENTENCES[:3])
            + "\n"
        ),
        "speech_notes": notes,
        "wrapped_with_blank_lines_mid_sentence": _wrapped(70).replace(" the ", " the\n\n", 3),
    }


@pytest.mark.parametrize("name", sorted(_layouts()))
def test_made_up_layouts_have_no_false_letterhead_and_no_markup(tmp_path, name):
    doc, passages = _split(tmp_path, _layouts()[name])
    assert passages
    assert not any(p.kind == "block" for p in passages), name
    _no_markup(passages)
    _assert_reads_its_source(doc, passages, furniture=("14",))
    assert all(len(p.text.split()) >= 8 for p in passages), [p.text for p in passages]


# ---------------------------------------------------------------------------------------------
# All 415 statements

_FOOTER_LINE = re.compile(
    r"^\s*(?:\d{1,3}[.)]?|page\s*\d{1,3}(?:\s*(?:\||/|of)\s*\d{1,3})?|[a-z]\s+\d{1,3}|\d{1,3}\s+\d{2}-\d{5}"
    r"|\d{2}-\d{5}\s+\d{1,3}|A/\d{1,3}/PV\.\d{1,3})\s*$",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def ungd_passages():
    files = sorted((UNGD_DATASET / "txt").glob("*/*.txt"))
    if not files:
        pytest.skip(f"the UN General Debate subset is not at {UNGD_DATASET} (../shared beside this checkout)")
    docs = [load_document(path, path.parent) for path in files]
    return [(doc, split_passages(doc)) for doc in docs]


def test_all_statements_are_clean(ungd_passages):
    assert len(ungd_passages) == 415
    for doc, passages in ungd_passages:
        lines = doc.text.split("\n")
        _no_markup(passages)
        for p in passages:
            source_lines = lines[p.first_line - 1 : p.last_line]
            assert not any(re.match(r"\s*#{1,6}\s", ln) for ln in source_lines), (doc.id, p.number)
            footers = {ln.strip() for ln in source_lines if _FOOTER_LINE.match(ln)}
            _assert_reads_its_source(doc, [p], tuple(footers))
            # No half of a word left at a line break: "non- proliferation".
            texts = [ln.strip() for ln in source_lines if ln.strip()]
            for line, following in zip(texts, texts[1:]):
                if re.search(r"[^\W_]-$", line) and following[:1].isalnum():
                    assert f"{line.split()[-1]} {following.split()[0]}" not in p.text, (doc.id, p.number)
        # None of the 415 has a letterhead of speaker, post, agenda item and date (each of the 21 blocks the
        # splitter used to find was a salutation, a fragment, a page number or the lead-in to a quotation).
        assert not any(p.kind == "block" for p in passages), doc.id
