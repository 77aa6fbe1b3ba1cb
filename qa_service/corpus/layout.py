"""Splitting a document into passages, from its layout.

Paragraphs are inferred from the layout, which varies between files: blank-line paragraphs, one
paragraph per (long) line, and text hard-wrapped at a fixed width with no blank lines. In wrapped text a
line ends a paragraph when it ends a sentence and the next line's first word would have fitted on it.
Salutations ("Mr. Chairman,") and closing thanks are dropped; short title lines become the section
context of the passages that follow; a run of short unpunctuated lines (a letterhead: speaker, post,
agenda item, date) is kept as one passage, line breaks preserved, because people ask who spoke and when.
"""

from __future__ import annotations

import bisect
import re
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from .documents import Document
from .passages import Passage
from .sentences import chunk_spans, fits, split_sentences

#: Bumped whenever splitting changes, so that indexes built by an older splitter count as stale.
SPLITTER_VERSION = "8"

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
    "his her this these those is are was were be will would should shall can could may must".split()
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


@dataclass(frozen=True)
class _Line:
    number: int  # 1-based
    start: int  # character offset of the line's first character in the source
    text: str  # without the line ending

    @property
    def stripped(self) -> str:
        return self.text.strip()

    @property
    def end(self) -> int:
        return self.start + len(self.text.rstrip())


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
            pending_headings.append(" ".join(_bare(ln.stripped) for ln in group.lines))
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
    lines: list[_Line] = []
    offset = 0
    for number, raw in enumerate(text.split("\n"), start=1):
        if offset >= body_offset:
            lines.append(_Line(number, offset, raw.rstrip("\r")))
        offset += len(raw) + 1
    return lines


_NON_SPACE = re.compile(r"\S+")


def _count_words(text: str) -> int:
    """``len(text.split())`` without a list of the words (a 20 MB line has millions of them)."""
    if len(text) < 10_000:
        return len(text.split())
    return sum(1 for _ in _NON_SPACE.finditer(text))


def _wrap_width(lines: Sequence[_Line]) -> int:
    """The width the hard-wrapped part of a document was wrapped at (0 when nothing is wrapped)."""
    lengths = [len(ln.stripped) for ln in lines if 40 <= len(ln.stripped) <= 130]
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
    )


def _continues(previous: str, following: str) -> bool:
    """Whether ``following`` carries on the sentence that ``previous`` leaves open.

    True when ``previous`` ends without a full stop and ``following`` starts in lower case: a page
    break or a stray blank line fell in the middle of a sentence.
    """
    return bool(following) and following[0].islower() and not _SENTENCE_END.search(previous)


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
        return sum(_count_words(ln.stripped) for ln in self.lines)


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
            if lines[k].stripped:
                return lines[k].stripped
        return ""

    for i, line in enumerate(lines):
        text = line.stripped
        if not text:
            # A blank line ends a paragraph, unless a sentence runs on across it.
            if current and _continues(current[-1].stripped, next_text(i)):
                continue
            close()
            continue
        if not _ALNUM.search(text) or (_is_salutation(text) and not (current and _open(current[-1].stripped))):
            # Noise, or a salutation (unless it is the middle of a wrapped sentence: "... to congratulate
            # / Mr. Sam Kutesa on his election").
            close()
            joined = False
            continue
        if len(text) >= long_line:
            # One paragraph on one long line, amid wrapped text; but a line that leaves its sentence
            # open runs on into the next (lines joined or broken unevenly by the text's extraction).
            if not (current and _open(current[-1].stripped)):
                close()
            current.append(line)
            if not _open(text) and not _continues(text, next_text(i)):
                close()
            continue
        current.append(line)
        nxt = lines[i + 1].stripped if i + 1 < len(lines) else ""
        if _ends_paragraph(text, nxt, width):
            close()
    close()

    groups: list[_Group] = []
    for run, run_joined in runs:
        classified = _classify_run(run, width)
        for n, (kind, part) in enumerate(classified):
            groups.append(_Group(kind, part, run_joined if n == 0 else False))
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
    """A short run of short lines that reads as one unit: a speaker, a post, an agenda item, a date."""
    texts = [ln.stripped for ln in run]
    if len(texts) > _MAX_BLOCK_LINES or any(_BULLET.match(t) or len(t) > _MAX_BLOCK_LINE_CHARS for t in texts):
        return False
    if any(_SENTENCE_END.search(t) or (width and len(t) >= width) for t in texts):
        return False
    # A wrapped paragraph whose sentences all end mid-line is not a letterhead.
    return len(split_sentences(" ".join(texts))) == 1


def _classify_run(run: list[_Line], width: int) -> list[tuple[str, list[_Line]]]:
    """Label a run of lines: paragraph, or a letterhead block, with any leading heading lines."""
    if len(run) == 1:
        text = run[0].stripped
        if _is_heading_line(text) and (not width or len(text) < 0.6 * width):
            return [("heading", run)]
        return [("paragraph", run)]
    # A run of short lines none of which ends a sentence: headings, or a letterhead block.
    if (
        len(run) <= 2
        and all(_is_heading_line(ln.stripped) for ln in run)
        and all(not width or len(ln.stripped) < width for ln in run)
    ):
        return [("heading", [ln]) for ln in run]
    if _is_letterhead(run, width):
        return [("block", run)]
    # Title lines directly above a paragraph, with no blank line between them.
    head: list[tuple[str, list[_Line]]] = []
    while (
        len(run) > 1
        and _is_heading_line(run[0].stripped)
        and len(run[0].stripped) < 0.6 * (width or 100)
        and not _continues(run[0].stripped, run[1].stripped)
    ):
        head.append(("heading", [run[0]]))
        run = run[1:]
    return head + [("paragraph", run)]


def _pack_fragments(groups: list[_Group], count_tokens: Callable[[str], int], max_tokens: int) -> list[_Group]:
    """Join paragraphs too short to stand alone with their neighbours, within the token limit.

    Some statements are laid out as speech notes, a phrase or a sentence per line: when the median
    paragraph (of ten or more) is under :data:`_SPEECH_MEDIAN_WORDS` words, consecutive paragraphs are packed into
    passages of about :data:`_PACK_WORDS` words. In any layout a fragment under :data:`_TINY_WORDS` words
    joins the paragraph before it (or after it, when it comes first). Only paragraphs separated by
    nothing but blank lines are joined, so a passage's source range holds exactly its text.
    """
    paragraph_words = [g.words() for g in groups if g.kind == "paragraph"]
    if not paragraph_words:
        return groups
    speech = len(paragraph_words) >= 10 and statistics.median(paragraph_words) < _SPEECH_MEDIAN_WORDS

    def fit_together(a: _Group, b: _Group) -> bool:
        return fits(" ".join(ln.stripped for ln in a.lines + b.lines), count_tokens, max_tokens)

    packed: list[_Group] = []
    for group in groups:
        last = packed[-1] if packed else None
        if (
            last is not None
            and group.kind == "paragraph"
            and last.kind == "paragraph"
            and group.joined
            and (group.words() < _TINY_WORDS or last.words() < _TINY_WORDS or (speech and last.words() < _PACK_WORDS))
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

    Returns pieces, each a list of (line, start, end) slices of source lines (offsets within the line).
    """
    whole = [(ln, len(ln.text) - len(ln.text.lstrip()), len(ln.text.rstrip())) for ln in group]
    text = _join(kind, whole)
    if kind == "block" or fits(text, count_tokens, max_tokens):
        return [whole]
    # Where each slice starts in the joined text (slices are joined by one space, which stands for the
    # line break and maps to the start of the slice after it).
    starts: list[int] = []
    offset = 0
    for _line, a, b in whole:
        starts.append(offset)
        offset += b - a + 1

    def position(char: int) -> tuple[int, int]:
        """The (slice index, offset in its line) of a character of the joined text."""
        idx = bisect.bisect_right(starts, char + 1) - 1
        return idx, whole[idx][1] + max(0, char - starts[idx])

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


def _join(kind: str, slices: Sequence[tuple[_Line, int, int]]) -> str:
    parts = [ln.text[a:b].strip() for ln, a, b in slices]
    return ("\n" if kind == "block" else " ").join(p for p in parts if p)


def _make_passage(doc: Document, number: int, kind: str, section: str, piece: list[tuple[_Line, int, int]]) -> Passage:
    text = _join(kind, piece)
    first, last = piece[0], piece[-1]
    sentences = tuple(_line_spans(text)) if kind == "block" else tuple(split_sentences(text))
    return Passage(
        doc_id=doc.id,
        doc_title=doc.title,
        number=number,
        text=text,
        first_line=first[0].number,
        last_line=last[0].number,
        start_char=first[0].start + first[1],
        end_char=last[0].start + last[2],
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
