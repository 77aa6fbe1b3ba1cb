"""Splitting a document into passages, from its layout.

Paragraphs are inferred from the layout, which varies between files: blank-line paragraphs, one
paragraph per (long) line, and text hard-wrapped at a fixed width with no blank lines. In wrapped text a
line ends a paragraph when it ends a sentence and the next line's first word would have fitted on it.
Salutations ("Mr. Chairman,", a list of those addressed) and closing thanks are dropped; short title lines
and Markdown headings become the section context of the passages that follow; a run of short unpunctuated
lines that names who made the statement, a post, the agenda item or a date (a letterhead) is kept as one
passage, line breaks preserved, because people ask who spoke and when.

Lines are read as a reader sees them (:class:`_Line`): Markdown emphasis and quote markers are not text;
page numbers and running footers are dropped (a page break in mid-sentence is closed up); a word hyphenated
across a line break is joined (see :func:`_mark_hyphens`). How a passage's text then relates to its source
range is said in :class:`~.passages.Passage`.
"""

from __future__ import annotations

import bisect
import re
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from .documents import Document
from .passages import Passage
from .sentences import chunk_spans, fits, split_sentences
from .text import source_index, strip_markup

#: Bumped whenever splitting changes, so that indexes built by an older splitter count as stale.
SPLITTER_VERSION = "9"

_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")
_SALUTATION = re.compile(
    r"^(?:(?:mr|mrs|ms|madam|madame|mister)\.?\s+(?:chair(?:man|woman|person)?|president|"
    r"vice[- ]chair(?:man|person)?|secretary[- ]general|co-chairs?)"
    r"|(?:your\s+)?excellenc(?:y|ies)|distinguished\s+(?:delegates|colleagues|participants)"
    r"|ladies\s+and\s+gentlemen|dear\s+(?:colleagues|friends)|co-chairs?)"
    r"(?:\s*(?:,|and)\s*[\w .\-]+)?\s*[,:;!.]?$",
    re.IGNORECASE,
)
_THANKS = re.compile(r"^(?:i\s+)?thank\s+you(?:\s+(?:very|so)\s+much)?\b.{0,40}$", re.IGNORECASE)
_ALNUM = re.compile(r"\w")


# A line longer than this many times the wrap width is a paragraph on its own line.
_LONG_LINE_FACTOR = 1.6
_MIN_WRAP_WIDTH = 50
# A letterhead block has at most this many lines, of at most this many characters each.
_MAX_BLOCK_LINES = 8
_MAX_BLOCK_LINE_CHARS = 200
# A passage's section context is made of at most this many headings, and this many characters.
_MAX_SECTION_HEADINGS = 3
_MAX_SECTION_CHARS = 200
# Paragraphs under this many words are fragments and join a neighbour.
_TINY_WORDS = 8
# A document whose median paragraph is under this many words is laid out as speech notes ...
_SPEECH_MEDIAN_WORDS = 20
# ... and its paragraphs are packed into passages of about this many words.
_PACK_WORDS = 60

_DECORATION = re.compile(r"^(?:#{1,6}\s+)?(?:[-*•–]\s+|\d{1,3}[.)]\s+)?[*_]*|[*_]+$")
# Words a title does not end with, but a wrapped line often does ("On behalf of the").
_OPEN_ENDINGS = frozenset(
    "a an the of and or but to in on at by for with from as that which who whose our my your its their "
    "his her this these those is are was were be will would should shall can could may must among between "
    "into onto upon about over under through towards toward against within across during than via".split()
)
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+\S")
_BULLET = re.compile(r"^(?:[-*•–]\s|\d{1,3}[.)]\s)")
_ADDRESS = re.compile(
    r"^(?:(?:dear|honou?rable|esteemed|distinguished|respected|excellenc(?:y|ies)"
    r"|your\s+(?:majest|royal|excellenc|highness)\w*"
    r"|(?:his|her)\s+(?:excellency|majesty|royal\s+highness)|mr\.?|mrs\.?|ms\.?|madam|madame|monsieur|señor"
    r"|ladies\s+and\s+gentlemen|ambassadors|delegates|colleagues|friends|ministers"
    r"|president of the general assembly|secretary-general|heads?\s+of\s+(?:state|government|delegation)"
    r"|fellow\s+(?:leaders|delegates))\b)",
    re.IGNORECASE,
)


# Page furniture: a page number ("18", "- 3 -", "Page 2|6", "Page 3 of 5"), a page number beside a UN job
# number ("23 08-53122"), a UN document symbol running at the top of a page ("A/63/PV.13").
_PAGE_FURNITURE = re.compile(
    r"^(?:[-–—]\s*)?\d{1,3}(?:\s*[-–—])?$|^page\s*\d{1,4}(?:\s*(?:\||/|of)\s*\d{1,4})?$"
    r"|^\d{1,4}\s+\d{2}-\d{5}$|^\d{2}-\d{5}\s+\d{1,4}$|^[A-Z]/\d{1,3}/PV\.\d{1,4}$",
    re.IGNORECASE,
)
# A page number beside a short mark ("z 11"): a running footer when the document repeats it.
_RUNNING_MARK = re.compile(r"^\S{1,3}\s+\d{1,3}$|^\d{1,3}\s+\S{1,3}$")
# A list number alone on its line ("7."), its text lost; but "Goal\n16." ends a wrapped sentence.
_LIST_NUMBER = re.compile(r"^\d{1,3}[.)]$")
# A word hyphenated across a line break: the line ends with a letter or digit and a hyphen ("non-").
_LINE_END_HYPHEN = re.compile(r"[^\W_]-$")
_HYPHEN_TAIL = re.compile(r"([^\W\d_]+)-$")
_HYPHEN_HEAD = re.compile(r"^[^\W\d_]+")
_HYPHENATED_WORD = re.compile(r"[^\W_]+(?:-[^\W_]+)*")
# A line that only addresses the audience names one of them and makes no sentence (no pronoun, no verb).
_ADDRESSEE = re.compile(
    r"\b(?:president|secretary[- ]general|excellenc\w*|majest\w*|highness\w*|ladies|gentlem[ae]n|delegates"
    r"|delegations|heads?\s+of\s+(?:state|government|delegation)|leaders|colleagues|friends|compatriots"
    r"|ambassadors?|chair(?:man|woman|person)?|guests)\b",
    re.IGNORECASE,
)
# The only words in lower case that a line of address holds besides those addressed ("and", "of", "dear").
_ADDRESS_WORDS = frozenset(
    "a an the of and or to in on at for from with all other different dear distinguished esteemed honourable "
    "honorable respected fellow my your his her our mr mrs ms madam sir general assembly".split()
)
_LOWER_WORD = re.compile(r"(?<![\w’'-])[a-z][\w’'-]*")
_TITLE_START = re.compile(r"(?:h\.\s?e\.\s+|the\s+)?(?:president|secretary)", re.IGNORECASE)
_SENTENCE_WORD = re.compile(
    r"\b(?:I|[Ww]e|[Uu]s|[Oo]ur|[Tt]hey|[Tt]heir|[Ii]ts?|is|are|was|were|be|been|will|would|shall|should|can"
    r"|could|may|must|has|have|had|do|does|did|that|which|who)\b"
)
# What only a letterhead holds: who made the statement ("Statement by"), the agenda item, a date.
_MONTH = r"(?:january|february|march|april|may|june|july|august|september|october|november|december)"
_LETTERHEAD_EVIDENCE = re.compile(
    r"\b(?:statement|address|speech|remarks|intervention)\b.{0,80}\bby\b|\bagenda\s+item\b"
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}\s+\d{{4}}\b|\b{_MONTH}\s+(?:\d{{1,2}}(?:st|nd|rd|th)?,?\s+)?\d{{4}}\b"
    r"|\b(?:permanent\s+representative|(?:prime\s+)?minister\s+(?:of|for)|head\s+of\s+(?:the\s+)?delegation)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Line:
    """A source line as a reader sees it: ``clean`` is its text without Markdown markup and without
    whitespace at either end; ``shifts`` (see :func:`~.text.strip_markup`) say where each character of
    ``clean`` stands in the line, which starts at ``start`` in the source. ``hyphen`` is "keep" or "drop"
    when the line ends with a word hyphenated across the line break, joined to the next line's first word
    with or without its hyphen."""

    number: int  # 1-based
    start: int  # character offset of the line's first character in the source
    clean: str
    shifts: tuple[tuple[int, int], ...] = ((0, 0),)
    hyphen: str = ""

    def source(self, i: int) -> int:
        """The source offset of character ``i`` of ``clean``."""
        return self.start + source_index(self.shifts, i)


# ---------------------------------------------------------------------------------------------
# Splitting into passages


def split_passages(
    doc: Document,
    count_tokens: Callable[[str], int] | None = None,
    max_tokens: int = 256,
) -> list[Passage]:
    """Split a document into numbered passages that a reader would call paragraphs.

    Args:
        doc: the document to split.
        count_tokens: counts the model's word pieces in a text; a paragraph over ``max_tokens`` is
            split at sentence boundaries so that the model sees all of it. Without it, words are
            counted and weighted as 4/3 word pieces each.
        max_tokens: the model's input limit in word pieces.
    """
    counter = count_tokens or _estimate_tokens
    lines = _source_lines(doc.text, doc.body_offset)
    groups = _pack_fragments(_group_lines(lines), counter, max_tokens)
    passages: list[Passage] = []
    section = ""
    pending_headings: list[str] = []
    for group in groups:
        if group.kind == "heading":
            pending_headings.append(" ".join(_bare(ln.clean) for ln in group.lines))
            continue
        if pending_headings:
            section = ": ".join(pending_headings[-_MAX_SECTION_HEADINGS:])[:_MAX_SECTION_CHARS]
            pending_headings = []
        for piece in _split_long(group.kind, group.lines, counter, max_tokens):
            passages.append(_make_passage(doc, len(passages) + 1, group.kind, section, piece))
    return _with_roles(passages)


_CLOSING_START = re.compile(
    r"^(?:in\s+conclusion|to\s+conclude|in\s+closing|let\s+me\s+conclude|i\s+(?:would\s+like\s+to\s+)?conclude"
    r"|finally|lastly|in\s+summary|to\s+sum\s+up)\b",
    re.IGNORECASE,
)


def _with_roles(passages: list[Passage]) -> list[Passage]:
    """The passages with their place in the speech (:data:`~.passages.ROLES`): a letterhead block; the
    first paragraph after the first letterhead (or the first paragraph); the closing, from a paragraph that
    opens with "In conclusion"/"Finally" to the end, or else the last paragraph; the rest is body."""
    roles = ["letterhead" if p.kind == "block" else "body" for p in passages]
    paragraphs = [i for i, p in enumerate(passages) if p.kind != "block"]
    if not paragraphs:
        return passages
    blocks = [i for i, p in enumerate(passages) if p.kind == "block"]
    after = [i for i in paragraphs if blocks and i > blocks[0]]
    opening = after[0] if after else paragraphs[0]
    closing_from = next((i for i in paragraphs if i > opening and _CLOSING_START.match(passages[i].text)), None)
    closing = [i for i in paragraphs if closing_from is not None and i >= closing_from] or [paragraphs[-1]]
    if len(paragraphs) > 1:
        roles[opening] = "opening"
        for i in closing:
            if i != opening:
                roles[i] = "closing"
    return [replace(p, role=r) if r != p.role else p for p, r in zip(passages, roles)]


def _estimate_tokens(text: str) -> int:
    return (_count_words(text) * 4 + 2) // 3


def _source_lines(text: str, body_offset: int) -> list[_Line]:
    """The body's lines, cleaned of markup, without page furniture, with line-break hyphens marked."""
    lines: list[_Line] = []
    offset = 0
    for number, raw in enumerate(text.split("\n"), start=1):
        if offset >= body_offset:
            clean, shifts = strip_markup(raw)
            lines.append(_Line(number, offset, clean, shifts))
        offset += len(raw) + 1
    return _mark_hyphens(_drop_page_furniture(lines), text, body_offset)


def _drop_page_furniture(lines: list[_Line]) -> list[_Line]:
    """The lines without page numbers, running footers and list numbers left without their text.

    A page break in the middle of a sentence (the text before it leaves its sentence open) is closed up:
    the furniture and the blank lines around it go, so that the two halves of the sentence meet. Elsewhere
    the furniture becomes a blank line.
    """
    marks = Counter(ln.clean for ln in lines if len(ln.clean) <= 12 and _RUNNING_MARK.match(ln.clean))
    out: list[_Line] = []
    last_text = ""  # the last line kept that is not blank
    closing_up = False
    for line in lines:
        text = line.clean
        if not text:
            if not closing_up:
                out.append(line)
            continue
        list_number = _LIST_NUMBER.match(text)
        furniture = _PAGE_FURNITURE.match(text) or marks.get(text, 0) > 1 or list_number
        if furniture and not (list_number and last_text and _open(last_text)):
            if last_text and _open(last_text):
                while out and not out[-1].clean:
                    out.pop()
                closing_up = True
            elif not closing_up:
                out.append(replace(line, clean="", shifts=((0, 0),)))
            continue
        closing_up = False
        out.append(line)
        last_text = text
    return out


def _mark_hyphens(lines: list[_Line], text: str, body_offset: int) -> list[_Line]:
    """The lines, each that ends with a word hyphenated across the line break marked "keep" or "drop".

    The two halves are always joined; the hyphen is dropped only when the document writes the joined word
    elsewhere without a hyphen and never with one ("peace-" + "making" where it writes "peacemaking"). A
    hyphen before a capital or a digit ("Secretary-" + "General", "post-" + "2015") and every other
    hyphen stay: in the UN statements every word broken at a line end is a compound ("non-proliferation").
    """
    pairs: dict[int, tuple[str, str]] = {}  # line index -> the halves that might be one word, or ("", "")
    following = ""  # the next line's text that is not blank
    for i in range(len(lines) - 1, -1, -1):
        clean = lines[i].clean
        if clean.endswith("-") and following[:1].isalnum() and _LINE_END_HYPHEN.search(clean[-2:]):
            tail, head = _HYPHEN_TAIL.search(clean), _HYPHEN_HEAD.match(following)
            one_word = tail and head and head.group().islower()
            pairs[i] = (tail.group(1).lower(), head.group()) if one_word else ("", "")
        following = clean or following
    if not pairs:
        return lines
    wanted = {t + h for t, h in pairs.values() if t} | {f"{t}-{h}" for t, h in pairs.values() if t}
    seen = set()
    if wanted:
        for match in _HYPHENATED_WORD.finditer(text, body_offset):
            word = match.group().lower()
            if word in wanted:
                seen.add(word)
    out = list(lines)
    for i, (tail, head) in pairs.items():
        drop = bool(tail) and tail + head in seen and f"{tail}-{head}" not in seen
        out[i] = replace(lines[i], hyphen="drop" if drop else "keep")
    return out


_NON_SPACE = re.compile(r"\S+")


def _count_words(text: str) -> int:
    """``len(text.split())`` without a list of the words (a 20 MB line has millions of them)."""
    if len(text) < 10_000:
        return len(text.split())
    return sum(1 for _ in _NON_SPACE.finditer(text))


def _wrap_width(lines: Sequence[_Line]) -> int:
    """The width the hard-wrapped part of a document was wrapped at (0 when nothing is wrapped)."""
    lengths = [len(ln.clean) for ln in lines if 40 <= len(ln.clean) <= 130]
    if len(lengths) < 3:
        return 0
    lengths.sort()
    # A high percentile, not the maximum: a wrapper may overshoot its width on a long word.
    return max(_MIN_WRAP_WIDTH, lengths[int(0.9 * (len(lengths) - 1))])


def _bare(text: str) -> str:
    """A line without list bullets and Markdown emphasis around it."""
    return _DECORATION.sub("", text).strip()


def _is_salutation(text: str) -> bool:
    """A line that only addresses the audience ("Mr. Chairman,", "Distinguished delegates,") or thanks it."""
    if len(text) > _MAX_BLOCK_LINE_CHARS:  # its bare form would be over 110 characters: no need to make it
        return False
    bare = _bare(text)
    if len(bare) > 110 or not bare:
        return False
    if _SALUTATION.match(bare) or _THANKS.match(bare):
        return True
    # "Distinguished President of the General Assembly," / "Your Majesties, Excellencies, ...": forms of
    # address that do not make a sentence, ending with a comma or colon (or very short).
    if not _ADDRESS.match(bare) or _SENTENCE_END.search(bare.rstrip(",;:!… ")):
        return False
    return bare[-1] in ",;:!…" or len(bare.split()) <= 5


def _is_heading_line(text: str) -> bool:
    if _MARKDOWN_HEADING.match(text):
        return True
    if len(text) > 90:
        return False
    words = text.split()
    return (
        0 < len(words) <= 10
        and words[-1].lower() not in _OPEN_ENDINGS
        and not _SENTENCE_END.search(text)
        and text[-1] not in ",;:"
        and not text[0].islower()
        and not _LINE_END_HYPHEN.search(text)
    )


def _continues(previous: str, following: str) -> bool:
    """Whether ``following`` carries on the sentence that ``previous`` leaves open.

    True when ``previous`` ends without a full stop and ``following`` starts in lower case: a page
    break or a stray blank line fell in the middle of a sentence.
    """
    return bool(following) and following[0].islower() and not _SENTENCE_END.search(previous)


def _ends_open(line: str) -> bool:
    """Whether a line ends with a word that no paragraph ends with ("of", "the", "this")."""
    last = line[line.rfind(" ") + 1 :]
    return last.lower() in _OPEN_ENDINGS


def _open(line: str) -> bool:
    """Whether a line leaves a sentence open: no full stop at its end, and not a title line."""
    return not _SENTENCE_END.search(line) and not _is_heading_line(line)


@dataclass
class _Group:
    """Consecutive source lines that form one heading, paragraph or letterhead block.

    ``joined`` says that only blank lines separate it from the group before (no heading, salutation
    or other dropped line), so the two may be packed into one passage.
    """

    kind: str
    lines: list[_Line]
    joined: bool = False

    def words(self) -> int:
        return sum(_count_words(ln.clean) for ln in self.lines)


def _group_lines(lines: Sequence[_Line]) -> list[_Group]:
    """Group source lines into headings, paragraphs and letterhead blocks."""
    width = _wrap_width(lines)
    long_line = int(width * _LONG_LINE_FACTOR) if width else 10**9
    runs: list[tuple[list[_Line], bool]] = []  # (lines, joined to the run before)
    current: list[_Line] = []
    joined = False  # whether the next run to start follows the previous one with only blank lines between

    def close() -> None:
        nonlocal current, joined
        if current:
            runs.append((current, joined))
            current = []
            joined = True

    def next_text(i: int) -> str:
        for k in range(i + 1, len(lines)):  # no slice: a copy per blank line would be quadratic
            if lines[k].clean:
                return lines[k].clean
        return ""

    for i, line in enumerate(lines):
        text = line.clean
        if not text:
            # A blank line ends a paragraph, unless a sentence (or a hyphenated word) runs on across it: the
            # next line starts in lower case, or this one ends with a word no paragraph ends with ("the").
            if current and (
                current[-1].hyphen
                or _continues(current[-1].clean, next_text(i))
                or (_ends_open(current[-1].clean) and next_text(i)[:1].isalnum())
            ):
                continue
            close()
            continue
        if _MARKDOWN_HEADING.match(text):
            # A Markdown heading stands alone, whatever follows it.
            close()
            runs.append(([line], False))
            joined = False
            continue
        if not _ALNUM.search(text) or (_is_salutation(text) and not (current and _open(current[-1].clean))):
            # Noise, or a salutation (unless it is the middle of a wrapped sentence: "... to congratulate
            # / Mr. Sam Kutesa on his election").
            close()
            joined = False
            continue
        if len(text) >= long_line:
            # One paragraph on one long line, amid wrapped text; but a line that leaves its sentence
            # open runs on into the next (lines joined or broken unevenly by the text's extraction).
            if not (current and _open(current[-1].clean)):
                close()
            current.append(line)
            if not _open(text) and not _continues(text, next_text(i)):
                close()
            continue
        current.append(line)
        nxt = lines[i + 1].clean if i + 1 < len(lines) else ""
        if _ends_paragraph(text, nxt, width):
            close()
    close()

    groups: list[_Group] = []
    after_dropped = False
    index = {ln.number: k for k, ln in enumerate(lines)}
    for run, run_joined in runs:
        for n, (kind, part) in enumerate(_classify_run(run, width, next_text(index[run[-1].number]))):
            if kind == "salutation":
                after_dropped = True
                continue
            groups.append(_Group(kind, part, run_joined and n == 0 and not after_dropped))
            after_dropped = False
    return groups


def _ends_paragraph(text: str, next_text: str, width: int) -> bool:
    """Whether a wrapped line ends its paragraph: it ends a sentence and was broken early."""
    if not _SENTENCE_END.search(text):
        return False
    if not width or not next_text:
        return True
    first_word = _NON_SPACE.search(next_text).group()
    return len(text) + 1 + len(first_word) <= width


def _is_letterhead(run: list[_Line], width: int) -> bool:
    """A short run of short lines that reads as one unit: a speaker, a post, an agenda item, a date.

    Besides its shape (no line ends a sentence), it must say what only a letterhead says: who made the
    statement ("Statement by"), a post, the agenda item or a date; and it does not end open, as the lead-in
    to a quotation ("..., who said:") or a sentence cut by a page break ("... a meeting of") does.
    """
    texts = [ln.clean for ln in run]
    if len(texts) > _MAX_BLOCK_LINES or any(_BULLET.match(t) or len(t) > _MAX_BLOCK_LINE_CHARS for t in texts):
        return False
    if any(_SENTENCE_END.search(t) or (width and len(t) >= width) for t in texts):
        return False
    last = texts[-1]
    if last[-1] in ":;" or last.split()[-1].lower() in _OPEN_ENDINGS:
        return False
    joined = " ".join(texts)
    # A wrapped paragraph whose sentences all end mid-line is not a letterhead.
    return bool(_LETTERHEAD_EVIDENCE.search(joined)) and len(split_sentences(joined)) == 1


def _is_address(text: str) -> bool:
    """A line that only addresses the audience: a salutation, or a list of those addressed ("President of
    the General Assembly,", "Secretary-General of the United Nations,", "-Heads of Delegation,")."""
    if len(text) > _MAX_BLOCK_LINE_CHARS:
        return False
    bare = _bare(text).lstrip("-–—−•·* ")
    if not bare or _is_salutation(bare):
        return bool(bare)
    # One that ends with a full stop must open as an address does ("His Excellency ...", "President of ..."),
    # and so must one with no punctuation (not a title: "The President's Journey").
    opens_as_address = bool(_ADDRESS.match(bare) or _TITLE_START.match(bare))
    punctuated = bare[-1] in ",;:" or "," in bare
    ends_sentence = bool(_SENTENCE_END.search(bare.rstrip(",;: ")))
    return (
        len(bare.split()) <= 16
        and (opens_as_address or (punctuated and not ends_sentence))
        and bool(_ADDRESSEE.search(bare))
        and all(w in _ADDRESS_WORDS or _ADDRESSEE.fullmatch(w) for w in _LOWER_WORD.findall(bare))
        and not _SENTENCE_WORD.search(bare)
        and not _LETTERHEAD_EVIDENCE.search(bare)
    )


def _classify_run(run: list[_Line], width: int, following: str = "") -> list[tuple[str, list[_Line]]]:
    """Label a run of lines: paragraph, or a letterhead block, with any leading heading lines; or a
    salutation, to drop, when every line only addresses the audience and the address is not cut short by a
    stray blank line ("... President of the 79th General" / "Assembly."): its last line ends with a stop
    or a comma, or ``following`` (the next line of text) is not a fragment of it."""
    last = run[-1].clean
    closed = last[-1] in ",;:.!…" or _is_salutation(last) or not following or len(following.split()) >= 3
    if closed and not _MARKDOWN_HEADING.match(run[0].clean) and all(_is_address(ln.clean) for ln in run):
        return [("salutation", run)]
    if len(run) == 1:
        text = run[0].clean
        if _MARKDOWN_HEADING.match(text) or (_is_heading_line(text) and (not width or len(text) < 0.6 * width)):
            return [("heading", run)]
        return [("paragraph", run)]
    # A run of short lines none of which ends a sentence: headings, or a letterhead block.
    if (
        len(run) <= 2
        and all(_is_heading_line(ln.clean) for ln in run)
        and all(not width or len(ln.clean) < width for ln in run)
    ):
        return [("heading", [ln]) for ln in run]
    if _is_letterhead(run, width):
        return [("block", run)]
    # Title lines directly above a paragraph, with no blank line between them.
    head: list[tuple[str, list[_Line]]] = []
    while (
        len(run) > 1
        and _is_heading_line(run[0].clean)
        and len(run[0].clean) < 0.6 * (width or 100)
        and not _continues(run[0].clean, run[1].clean)
    ):
        head.append(("heading", [run[0]]))
        run = run[1:]
    return head + [("paragraph", run)]


def _pack_fragments(groups: list[_Group], count_tokens: Callable[[str], int], max_tokens: int) -> list[_Group]:
    """Join paragraphs too short to stand alone with their neighbours, within the token limit.

    Some statements are laid out as speech notes, a phrase or a sentence per line: when the median
    paragraph (of ten or more) is under :data:`_SPEECH_MEDIAN_WORDS` words, consecutive paragraphs are packed into
    passages of about :data:`_PACK_WORDS` words. In any layout a fragment under :data:`_TINY_WORDS` words
    joins the paragraph before it (or after it, when it comes first), and a paragraph that ends with a colon
    (the lead-in to a quotation or a list) joins the one it introduces. Only paragraphs separated by
    nothing but blank lines are joined, so a passage's source range holds exactly its text.
    """
    paragraph_words = [g.words() for g in groups if g.kind == "paragraph"]
    if not paragraph_words:
        return groups
    speech = len(paragraph_words) >= 10 and statistics.median(paragraph_words) < _SPEECH_MEDIAN_WORDS

    def fit_together(a: _Group, b: _Group) -> bool:
        text, _ = _layout("paragraph", [(ln, 0, len(ln.clean)) for ln in a.lines + b.lines])
        return fits(text, count_tokens, max_tokens)

    packed: list[_Group] = []
    for group in groups:
        last = packed[-1] if packed else None
        if (
            last is not None
            and group.kind == "paragraph"
            and last.kind == "paragraph"
            and group.joined
            and (
                group.words() < _TINY_WORDS
                or last.words() < _TINY_WORDS
                or (speech and last.words() < _PACK_WORDS)
                or last.lines[-1].clean.endswith(":")
            )
            and fit_together(last, group)  # counted last: most paragraphs are too long to join anyway
        ):
            last.lines = last.lines + group.lines
            continue
        packed.append(_Group(group.kind, list(group.lines), group.joined))
    return packed


def _split_long(
    kind: str, group: list[_Line], count_tokens: Callable[[str], int], max_tokens: int
) -> list[list[tuple[_Line, int, int]]]:
    """Cut a paragraph over the token (or character) limit at sentence boundaries.

    Returns pieces, each a list of (line, start, end) slices of lines (offsets within their ``clean`` text).
    """
    whole = [(ln, 0, len(ln.clean)) for ln in group]
    text, starts = _layout(kind, whole)
    if kind == "block" or fits(text, count_tokens, max_tokens):
        return [whole]

    def position(char: int) -> tuple[int, int]:
        """The (slice index, offset in its line) of a character of the joined text (not a space between)."""
        idx = bisect.bisect_right(starts, char) - 1
        return idx, whole[idx][1] + char - starts[idx]

    spans = split_sentences(text)
    chunks = chunk_spans(text, spans, count_tokens, max_tokens, overlap=0)
    pieces: list[list[tuple[_Line, int, int]]] = []
    for start, end in chunks:
        first_idx, first_off = position(start)
        last_idx, last_off = position(end - 1)
        piece = []
        for idx in range(first_idx, last_idx + 1):
            ln, a, b = whole[idx]
            piece.append((ln, first_off if idx == first_idx else a, last_off + 1 if idx == last_idx else b))
        pieces.append(piece)
    return pieces


def _layout(kind: str, slices: Sequence[tuple[_Line, int, int]]) -> tuple[str, list[int]]:
    """The text of consecutive line slices, and where each slice starts in it.

    A block keeps its line breaks; a paragraph's lines are joined by one space, except a word hyphenated
    across the line break, whose halves are joined with no space (and without the hyphen when it is
    marked "drop").
    """
    parts: list[str] = []
    starts: list[int] = []
    offset = 0
    for n, (ln, a, b) in enumerate(slices):
        nxt = slices[n + 1] if n + 1 < len(slices) else None
        hyphen = ln.hyphen if kind != "block" and nxt is not None and b == len(ln.clean) and nxt[1] == 0 else ""
        part = ln.clean[a : b - 1] if hyphen == "drop" else ln.clean[a:b]
        separator = "" if nxt is None or hyphen else ("\n" if kind == "block" else " ")
        starts.append(offset)
        parts.append(part + separator)
        offset += len(part) + len(separator)
    return "".join(parts), starts


def _make_passage(doc: Document, number: int, kind: str, section: str, piece: list[tuple[_Line, int, int]]) -> Passage:
    text, _ = _layout(kind, piece)
    (first, a, _), (last, _, b) = piece[0], piece[-1]
    sentences = tuple(_line_spans(text)) if kind == "block" else tuple(split_sentences(text))
    return Passage(
        doc_id=doc.id,
        doc_title=doc.title,
        number=number,
        text=text,
        first_line=first.number,
        last_line=last.number,
        start_char=first.source(a),
        end_char=last.source(b - 1) + 1,
        kind=kind,
        section=section,
        sentences=sentences,
    )


def _line_spans(text: str) -> Iterable[tuple[int, int]]:
    offset = 0
    for part in text.split("\n"):
        yield offset, offset + len(part)
        offset += len(part) + 1


#: Put before a letterhead block when it is embedded: the block's lines (a name, a post, a date) say
