"""Reading corpus documents and splitting them into passages with provenance.

A document is a `.txt` or `.md` file under the corpus folder. Its metadata (title, speaker, date, ...)
comes from an optional front-matter block at the top of the file (``---`` / ``key: value`` lines /
``---``) or from a sidecar ``<name>.meta.json`` beside it, so that a shipped file can stay byte for byte
as it was received.

Paragraphs are inferred from the layout, which varies between files: blank-line paragraphs, one
paragraph per (long) line, and text hard-wrapped at a fixed width with no blank lines. In wrapped text a
line ends a paragraph when it ends a sentence and the next line's first word would have fitted on it.
Salutations ("Mr. Chairman,") and closing thanks are dropped; short title lines become the section
context of the passages that follow; a run of short unpunctuated lines (a letterhead: speaker, post,
agenda item, date) is kept as one passage, line breaks preserved, because people ask who spoke and when.
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Bumped whenever splitting changes, so that indexes built by an older splitter count as stale.
SPLITTER_VERSION = "7"

DOCUMENT_SUFFIXES = (".txt", ".md")
SIDECAR_SUFFIX = ".meta.json"

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
_WORD = re.compile(r"\S+")
_ALNUM = re.compile(r"\w")

# Abbreviations after which a full stop does not end a sentence.
_ABBREVIATIONS = frozenset(
    ["mr", "mrs", "ms", "dr", "prof", "st", "no", "nos", "art", "arts", "para", "paras", "vol", "etc", "e.g", "i.e", "vs", "cf", "jr", "sr", "gen", "col", "lt", "h.e", "u.n", "u.s", "u.k", "e.u", "fig", "figs", "op", "cit", "ibid", "approx", "dept", "govt", "inc", "ltd", "co", "corp", "rev", "hon"]
)
_SENTENCE_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s+[\"“'(\[]?[A-Z0-9])")

# A line longer than this many times the wrap width is a paragraph on its own line.
_LONG_LINE_FACTOR = 1.6
_MIN_WRAP_WIDTH = 50
# A letterhead block has at most this many lines.
_MAX_BLOCK_LINES = 8
# Paragraphs under this many words are fragments and join a neighbour.
_TINY_WORDS = 8
# A document whose median paragraph is under this many words is laid out as speech notes ...
_SPEECH_MEDIAN_WORDS = 20
# ... and its paragraphs are packed into passages of about this many words.
_PACK_WORDS = 60

_DECORATION = re.compile(r"^(?:#{1,6}\s+)?(?:[-*•–]\s+|\d{1,3}[.)]\s+)?[*_]*|[*_]+$")
# Words a title does not end with, but a wrapped line often does ("On behalf of the").
_OPEN_ENDINGS = frozenset(
    ["a", "an", "the", "of", "and", "or", "but", "to", "in", "on", "at", "by", "for", "with", "from", "as", "that", "which", "who", "whose", "our", "my", "your", "its", "their", "his", "her", "this", "these", "those", "is", "are", "was", "were", "be", "will", "would", "should", "shall", "can", "could", "may", "must"]
)
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+\S")
_BULLET = re.compile(r"^(?:[-*•–]\s|\d{1,3}[.)]\s)")
_ADDRESS = re.compile(
    r"^(?:(?:dear|honou?rable|esteemed|distinguished|respected|excellenc(?:y|ies)|your\s+(?:majest|royal|excellenc|highness)\w*"
    r"|(?:his|her)\s+(?:excellency|majesty|royal\s+highness)|mr\.?|mrs\.?|ms\.?|madam|madame|monsieur|señor"
    r"|ladies\s+and\s+gentlemen|ambassadors|delegates|colleagues|friends|ministers|president of the general assembly|secretary-general|heads?\s+of\s+(?:state|government|delegation)|fellow\s+(?:leaders|delegates))\b)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Document:
    """One corpus file: its id (path without suffix), title, text and metadata."""

    id: str
    title: str
    path: str
    text: str
    sha256: str
    metadata: dict[str, str | int] = field(default_factory=dict)
    body_offset: int = 0  # characters of front matter before the body


@dataclass(frozen=True)
class Passage:
    """A paragraph of a document, with where it stands in the source.

    ``text`` has the source's line wraps joined by single spaces (a letterhead block keeps its line
    breaks). ``first_line``/``last_line`` are 1-based line numbers in the source file and
    ``start_char``/``end_char`` a half-open character range in it. ``sentences`` are half-open
    ranges into ``text``.
    """

    doc_id: str
    doc_title: str
    number: int
    text: str
    first_line: int
    last_line: int
    start_char: int
    end_char: int
    kind: str = "paragraph"  # "paragraph" or "block"
    section: str = ""
    sentences: tuple[tuple[int, int], ...] = ()

    @property
    def sentence_texts(self) -> list[str]:
        """The passage's sentences, in order."""
        return [self.text[a:b] for a, b in self.sentences]

    def to_dict(self) -> dict:
        """A JSON-ready form that :meth:`from_dict` reads back."""
        data = dict(self.__dict__)
        data["sentences"] = [list(s) for s in self.sentences]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Passage:
        """Rebuild a passage written by :meth:`to_dict`."""
        fields = dict(data)
        fields["sentences"] = tuple(tuple(s) for s in fields.get("sentences", ()))
        return cls(**fields)


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
# Loading documents


def corpus_files(corpus_dir: Path) -> list[Path]:
    """Every document file under ``corpus_dir``, in a stable order (hidden files skipped)."""
    if not corpus_dir.is_dir():
        return []
    found = [
        p
        for p in corpus_dir.rglob("*")
        if p.is_file()
        and p.suffix.lower() in DOCUMENT_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(corpus_dir).parts)
    ]
    return sorted(found, key=lambda p: p.relative_to(corpus_dir).as_posix())


def corpus_fingerprint(corpus_dir: Path) -> dict[str, str]:
    """SHA-256 of every document file and sidecar, keyed by path relative to ``corpus_dir``.

    Any change to this mapping (a file added, removed or edited) makes a built index stale.
    """
    prints: dict[str, str] = {}
    for path in corpus_files(corpus_dir):
        prints[path.relative_to(corpus_dir).as_posix()] = _sha256(path.read_bytes())
        sidecar = _sidecar_path(path)
        if sidecar.is_file():
            prints[sidecar.relative_to(corpus_dir).as_posix()] = _sha256(sidecar.read_bytes())
    return prints


def load_corpus(corpus_dir: Path) -> list[Document]:
    """Read every `.txt`/`.md` document under ``corpus_dir`` with its metadata."""
    return [load_document(path, corpus_dir) for path in corpus_files(corpus_dir)]


def load_document(path: Path, corpus_dir: Path) -> Document:
    """Read one document file, its front matter and its sidecar metadata."""
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    metadata, body_offset = parse_front_matter(text)
    sidecar = _sidecar_path(path)
    if sidecar.is_file():
        extra = json.loads(sidecar.read_text(encoding="utf-8"))
        if not isinstance(extra, dict):
            raise ValueError(f"{sidecar}: metadata must be a JSON object")
        metadata.update(extra)
    rel = path.relative_to(corpus_dir)
    doc_id = rel.with_suffix("").as_posix()
    title = str(metadata.get("title") or _infer_title(text[body_offset:]) or rel.stem)
    return Document(
        id=doc_id,
        title=title,
        path=rel.as_posix(),
        text=text,
        sha256=_sha256(raw),
        metadata=metadata,
        body_offset=body_offset,
    )


def parse_front_matter(text: str) -> tuple[dict[str, str | int], int]:
    """Read a ``---`` delimited block of ``key: value`` lines at the top of ``text``.

    Returns the metadata and the character offset where the body starts (0 without front matter).
    Integers are read as integers; surrounding quotes are removed.
    """
    if not text.startswith("---\n"):
        return {}, 0
    end = text.find("\n---", 3)
    if end < 0:
        return {}, 0
    after = text.find("\n", end + 4)
    body_offset = len(text) if after < 0 else after + 1
    metadata: dict[str, str | int] = {}
    for line in text[4:end].splitlines():
        if not line.strip() or line.lstrip().startswith("#") or ":" not in line:
            continue
        key, value = line.split(":", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        metadata[key.strip()] = int(value) if re.fullmatch(r"-?\d{1,9}", value) else value
    return metadata, body_offset


def _sidecar_path(path: Path) -> Path:
    return path.with_name(path.stem + SIDECAR_SUFFIX)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _infer_title(body: str) -> str:
    for line in body.splitlines():
        if line.strip():
            return line.strip().lstrip("#").strip()[:200]
    return ""


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
            section = ": ".join(pending_headings)
            pending_headings = []
        for piece in _split_long(group.kind, group.lines, counter, max_tokens):
            passages.append(_make_passage(doc, len(passages) + 1, group.kind, section, piece))
    return passages


def _estimate_tokens(text: str) -> int:
    return (len(text.split()) * 4 + 2) // 3


def _source_lines(text: str, body_offset: int) -> list[_Line]:
    lines: list[_Line] = []
    offset = 0
    for number, raw in enumerate(text.split("\n"), start=1):
        if offset >= body_offset:
            lines.append(_Line(number, offset, raw.rstrip("\r")))
        offset += len(raw) + 1
    return lines


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
    words = text.split()
    return (
        0 < len(words) <= 10
        and words[-1].lower() not in _OPEN_ENDINGS
        and len(text) <= 90
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
        return sum(len(ln.stripped.split()) for ln in self.lines)


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
        for ln in lines[i + 1 :]:
            if ln.stripped:
                return ln.stripped
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
    first_word = next_text.split()[0]
    return len(text) + 1 + len(first_word) <= width


def _is_letterhead(run: list[_Line], width: int) -> bool:
    """A short run of short lines that reads as one unit: a speaker, a post, an agenda item, a date."""
    texts = [ln.stripped for ln in run]
    if len(texts) > _MAX_BLOCK_LINES or any(_BULLET.match(t) for t in texts):
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

    def fits(a: _Group, b: _Group) -> bool:
        text = " ".join(ln.stripped for ln in a.lines + b.lines)
        return count_tokens(text) <= max_tokens

    packed: list[_Group] = []
    for group in groups:
        last = packed[-1] if packed else None
        if (
            last is not None
            and group.kind == "paragraph"
            and last.kind == "paragraph"
            and group.joined
            and fits(last, group)
            and (group.words() < _TINY_WORDS or last.words() < _TINY_WORDS or (speech and last.words() < _PACK_WORDS))
        ):
            last.lines = last.lines + group.lines
            continue
        packed.append(_Group(group.kind, list(group.lines), group.joined))
    return packed


def _split_long(
    kind: str, group: list[_Line], count_tokens: Callable[[str], int], max_tokens: int
) -> list[list[tuple[_Line, int, int]]]:
    """Cut a paragraph over the token limit at sentence boundaries.

    Returns pieces, each a list of (line, start, end) slices of source lines (offsets within the line).
    """
    whole = [(ln, len(ln.text) - len(ln.text.lstrip()), len(ln.text.rstrip())) for ln in group]
    text = _join(kind, whole)
    if kind == "block" or count_tokens(text) <= max_tokens:
        return [whole]
    # Map each character of the joined text back to (slice index, offset in line).
    positions: list[tuple[int, int]] = []
    for idx, (ln, a, b) in enumerate(whole):
        if idx:
            positions.append((idx, a))  # the joining space stands for the line break
        positions.extend((idx, a + k) for k in range(b - a))
    spans = split_sentences(text)
    chunks = chunk_spans(text, spans, count_tokens, max_tokens, overlap=0)
    pieces: list[list[tuple[_Line, int, int]]] = []
    for start, end in chunks:
        first_idx, first_off = positions[start]
        last_idx, last_off = positions[end - 1]
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
#: nothing of their role, and questions ask for the role ("who spoke?", "when was it said?").
BLOCK_ROLE = "The speaker who delivered this statement, the speaker's post, the agenda item and the date of the speech:"


def context_prefix(passage: Passage, enabled: bool = True) -> str:
    """The context put before a passage when it is embedded.

    A letterhead block always gets :data:`BLOCK_ROLE`; with ``enabled``, every passage also gets its
    document title and section heading.
    """
    role = BLOCK_ROLE + "\n" if passage.kind == "block" else ""
    if not enabled:
        return role
    parts = [p for p in (passage.doc_title, passage.section) if p]
    # A section that repeats the title adds nothing.
    if len(parts) == 2 and parts[1].lower() in parts[0].lower():
        parts = parts[:1]
    return (". ".join(parts) + "\n" if parts else "") + role


# ---------------------------------------------------------------------------------------------
# Sentences and token-bounded chunks


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Half-open character spans of the sentences of ``text``, whitespace excluded.

    A full stop after a known abbreviation ("Mr.", "H.E.") or a single capital initial does not end a
    sentence; every character of ``text`` other than whitespace belongs to exactly one span.
    """
    spans: list[tuple[int, int]] = []
    start = _skip_space(text, 0)
    for match in _SENTENCE_BOUNDARY.finditer(text):
        end = match.end()
        if end <= start or _is_abbreviation(text, match.start()):
            continue
        spans.append((start, end))
        start = _skip_space(text, end)
    tail_end = len(text.rstrip())
    if start < tail_end:
        spans.append((start, tail_end))
    return spans


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _is_abbreviation(text: str, dot: int) -> bool:
    if text[dot] != ".":
        return False
    word_start = dot
    while word_start > 0 and not text[word_start - 1].isspace() and text[word_start - 1] not in "(\"“'":
        word_start -= 1
    word = text[word_start:dot].lower()
    if word in _ABBREVIATIONS:
        return True
    return len(word) == 1 and word.isalpha() and text[word_start].isupper()


def chunk_spans(
    text: str,
    spans: Sequence[tuple[int, int]],
    count_tokens: Callable[[str], int],
    max_tokens: int,
    overlap: int = 1,
) -> list[tuple[int, int]]:
    """Group consecutive sentence spans into chunks of at most ``max_tokens`` word pieces.

    Consecutive chunks share ``overlap`` sentences, so that a fact stated across a boundary is seen
    whole by at least one chunk. A single sentence over the limit is cut at word boundaries.
    """
    units: list[tuple[int, int]] = []
    for a, b in spans:
        if count_tokens(text[a:b]) <= max_tokens:
            units.append((a, b))
        else:
            words = [(m.start() + a, m.end() + a) for m in _WORD.finditer(text[a:b])]
            units.extend(_pack(text, words, count_tokens, max_tokens, overlap=0))
    return _pack(text, units, count_tokens, max_tokens, overlap)


def _pack(
    text: str, units: Sequence[tuple[int, int]], count_tokens: Callable[[str], int], max_tokens: int, overlap: int
) -> list[tuple[int, int]]:
    """Greedily join consecutive spans while the joined text fits; consecutive groups share ``overlap``."""
    chunks: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        j = i + 1
        while j < len(units) and count_tokens(text[units[i][0] : units[j][1]]) <= max_tokens:
            j += 1
        chunks.append((units[i][0], units[j - 1][1]))
        if j >= len(units):
            break
        i = max(i + 1, j - overlap)
    return chunks
