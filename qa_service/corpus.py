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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Bumped whenever splitting changes, so that indexes built by an older splitter count as stale.
SPLITTER_VERSION = "6"

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
    "mr mrs ms dr prof st no nos art arts para paras vol etc e.g i.e vs cf jr sr gen col lt "
    "h.e u.n u.s u.k e.u fig figs op cit ibid approx dept govt inc ltd co corp rev hon".split()
)
_SENTENCE_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s+[\"“'(\[]?[A-Z0-9])")

# A line longer than this many times the wrap width is a paragraph on its own line.
_LONG_LINE_FACTOR = 1.6
_MIN_WRAP_WIDTH = 50


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
    groups = _group_lines(lines)
    passages: list[Passage] = []
    section = ""
    pending_headings: list[str] = []
    for kind, group in groups:
        if kind == "heading":
            pending_headings.append(" ".join(ln.stripped for ln in group))
            continue
        if pending_headings:
            section = ": ".join(pending_headings)
            pending_headings = []
        for piece in _split_long(kind, group, counter, max_tokens):
            passages.append(_make_passage(doc, len(passages) + 1, kind, section, piece))
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


def _is_salutation(text: str) -> bool:
    return len(text) <= 80 and bool(_SALUTATION.match(text) or _THANKS.match(text))


def _is_heading_line(text: str) -> bool:
    words = text.split()
    return (
        0 < len(words) <= 10
        and len(text) <= 90
        and not _SENTENCE_END.search(text)
        and text[-1] not in ",;:"
        and not text[0].islower()
    )


def _group_lines(lines: Sequence[_Line]) -> list[tuple[str, list[_Line]]]:
    """Group source lines into headings, paragraphs and letterhead blocks."""
    width = _wrap_width(lines)
    long_line = int(width * _LONG_LINE_FACTOR) if width else 10**9
    runs: list[list[_Line]] = []
    current: list[_Line] = []

    def close() -> None:
        nonlocal current
        if current:
            runs.append(current)
            current = []

    for i, line in enumerate(lines):
        text = line.stripped
        if not text or not _ALNUM.search(text) or _is_salutation(text):
            close()
            continue
        if len(text) >= long_line:
            close()
            runs.append([line])
            continue
        current.append(line)
        nxt = lines[i + 1].stripped if i + 1 < len(lines) else ""
        if _ends_paragraph(text, nxt, width):
            close()
    close()

    groups: list[tuple[str, list[_Line]]] = []
    for run in runs:
        groups.extend(_classify_run(run, width))
    return groups


def _ends_paragraph(text: str, next_text: str, width: int) -> bool:
    """Whether a wrapped line ends its paragraph: it ends a sentence and was broken early."""
    if not _SENTENCE_END.search(text):
        return False
    if not width or not next_text:
        return True
    first_word = next_text.split()[0]
    return len(text) + 1 + len(first_word) <= width


def _classify_run(run: list[_Line], width: int) -> list[tuple[str, list[_Line]]]:
    """Label a run of lines: paragraph, or a letterhead block, with any leading heading lines."""
    if len(run) == 1:
        text = run[0].stripped
        if _is_heading_line(text) and (not width or len(text) < 0.6 * width):
            return [("heading", run)]
        return [("paragraph", run)]
    # A run of short lines none of which ends a sentence: headings, or a letterhead block.
    if not any(_SENTENCE_END.search(ln.stripped) for ln in run) and all(
        not width or len(ln.stripped) < width for ln in run
    ):
        if len(run) <= 2 and all(_is_heading_line(ln.stripped) for ln in run):
            return [("heading", [ln]) for ln in run]
        return [("block", run)]
    # Title lines directly above a paragraph, with no blank line between them.
    head: list[tuple[str, list[_Line]]] = []
    while len(run) > 1 and _is_heading_line(run[0].stripped) and width and len(run[0].stripped) < 0.6 * width:
        head.append(("heading", [run[0]]))
        run = run[1:]
    return head + [("paragraph", run)]


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


def _make_passage(
    doc: Document, number: int, kind: str, section: str, piece: list[tuple[_Line, int, int]]
) -> Passage:
    text = _join(kind, piece)
    first, last = piece[0], piece[-1]
    sentences = (
        tuple(_line_spans(text)) if kind == "block" else tuple(split_sentences(text))
    )
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
