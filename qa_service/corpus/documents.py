"""Corpus documents: reading `.txt`/`.md` files with their metadata into typed records.

A document is a `.txt` or `.md` file under the corpus folder. Its metadata (title, speaker, date, ...)
comes from an optional front-matter block at the top of the file (``---`` / ``key: value`` lines /
``---``) or from a sidecar ``<name>.meta.json`` beside it, so that a shipped file can stay byte for byte
as it was received. Country and year, which filters use, are read from the metadata once, here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..files import sha256_hex

DOCUMENT_SUFFIXES = (".txt", ".md")
SIDECAR_SUFFIX = ".meta.json"
#: The longest document id and country code a filter takes (the API refuses longer values, ``add`` refuses
#: such files and a build warns of them): above the shipped statement's 66-character id and UNGD's
#: ``USA_79_2024`` and ISO codes, and small enough that the largest request the API's schema allows fits
#: its default body limit even with every character sent as a six-byte JSON escape.
MAX_ID_CHARS = 100
MAX_COUNTRY_CHARS = 16


def country_of(metadata: dict[str, Any]) -> str:
    """A document's country code from its metadata, upper case ("" when unknown)."""
    return str(metadata.get("country", "") or "").strip().upper()


def country_name_of(metadata: dict[str, Any]) -> str:
    """A document's country name from its metadata (``country_name``, as the UNGD importer writes it), else
    the ISO 3166 name of its ``country`` code ("KAZ" → "Kazakhstan"), or ""."""
    given = str(metadata.get("country_name", "") or "").strip()
    return given or iso_country_name(country_of(metadata))


@lru_cache(maxsize=512)
def iso_country_name(code: str) -> str:
    """The name people use for an ISO 3166 alpha-3 or alpha-2 code (pycountry's common name, else its name
    in reading order: "Congo, The Democratic Republic of the" → "Democratic Republic of the Congo"), or ""
    for a code that names no country."""
    import pycountry

    found = None
    if re.fullmatch(r"[A-Z]{3}", code):
        found = pycountry.countries.get(alpha_3=code)
    elif re.fullmatch(r"[A-Z]{2}", code):
        found = pycountry.countries.get(alpha_2=code)
    if found is None:
        return ""
    name = getattr(found, "common_name", None) or found.name
    if ", " in name:
        name = getattr(found, "official_name", None) or " ".join(reversed(name.split(", ", 1)))
    return re.sub(r"^The\s+", "", name)


def country_label(code: str, name: str = "") -> str:
    """How people read a country: "Kazakhstan (KAZ)" when its name is known, the code alone otherwise."""
    return f"{name} ({code})" if name and code and name.upper() != code.upper() else (code or name)


def year_of(metadata: dict[str, Any]) -> int:
    """A document's year from its metadata (an integer or a string of digits), 0 when unknown."""
    value = metadata.get("year")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return 0


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

    def record(self, passages: int) -> DocumentRecord:
        """What the index keeps of this document once it is split into ``passages`` passages."""
        return DocumentRecord(self.id, self.title, self.path, dict(self.metadata), passages)


@dataclass(frozen=True)
class DocumentRecord:
    """A document as the index keeps it: id, title, path, metadata and passage count, with the country
    and year that filters use read from the metadata once."""

    id: str
    title: str
    path: str
    metadata: dict[str, Any] = field(default_factory=dict)
    passages: int = 0
    country: str = field(init=False, compare=False)
    year: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "country", country_of(self.metadata))
        object.__setattr__(self, "year", year_of(self.metadata))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the index's documents.json and the API's document list)."""
        return {
            "id": self.id,
            "title": self.title,
            "path": self.path,
            "metadata": self.metadata,
            "passages": self.passages,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DocumentRecord:
        """Read the form written by :meth:`to_dict`."""
        return cls(
            str(data["id"]),
            str(data["title"]),
            str(data.get("path", "")),
            dict(data.get("metadata") or {}),
            int(data.get("passages", 0)),
        )

    def with_passages(self, passages: int) -> DocumentRecord:
        """The same document with another passage count."""
        return DocumentRecord(self.id, self.title, self.path, self.metadata, passages)


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
        prints[path.relative_to(corpus_dir).as_posix()] = _file_hash(path)
        sidecar = _sidecar_path(path)
        if sidecar.is_file():
            prints[sidecar.relative_to(corpus_dir).as_posix()] = _file_hash(sidecar)
    return prints


#: File hashes by (path, size, modification time in ns, inode): a build checks the corpus several times.
_hashes: dict[tuple[str, int, int, int], str] = {}


def _file_hash(path: Path) -> str:
    """SHA-256 of a file, remembered while its size, modification time and inode stay the same."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if key not in _hashes:
        if len(_hashes) > 100_000:
            _hashes.clear()
        _hashes[key] = sha256_hex(path.read_bytes())
    return _hashes[key]


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
        sha256=sha256_hex(raw),
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


#: Text up to the end of its line, with ``str.splitlines``'s line boundaries.
_FIRST_LINE = re.compile(r"[^\s][^\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]*")


def _infer_title(body: str) -> str:
    match = _FIRST_LINE.search(body)  # the first line with text, found without splitting them all
    return match.group().strip().lstrip("#").strip()[:200] if match else ""
