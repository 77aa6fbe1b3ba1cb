"""Putting documents into a corpus folder: the UN General Debate files, or any text files.

Imported files are copied byte for byte (so that line numbers in answers point at the original), and
their metadata goes into a sidecar ``<name>.meta.json`` beside them, the same way the shipped statement
carries its metadata. A person can write the same sidecar, or a front-matter block, by hand.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..files import write_if_changed
from .documents import DOCUMENT_SUFFIXES, MAX_COUNTRY_CHARS, MAX_ID_CHARS, SIDECAR_SUFFIX, corpus_files, country_of
from .text import collapse_space

#: UNGD file names: ISO 3166-1 alpha-3 code (or "EU"), session, year.
UNGD_NAME = re.compile(r"^(?P<iso3>[A-Z]{2,3})_(?P<session>\d{1,3})_(?P<year>\d{4})\.txt$")
UNGD_SOURCE = "UN General Debate Corpus (Jankin, Baturo & Dasandi), CC0"


class ImportProblem(ValueError):
    """A file or folder cannot be imported as it is."""


@dataclass
class ImportReport:
    """What an import did: documents written, unchanged, and files skipped (with the reason)."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Speaker:
    """Who spoke for a country at a session, from ``Speakers_by_session.xlsx``."""

    country: str
    speaker: str
    post: str


def read_speakers(xlsx: Path) -> dict[tuple[str, int], Speaker]:
    """Speakers by (ISO code, session) from the UNGD speakers workbook (header row: Year, Session,
    ISO Code, Country, Name of Person Speaking, Post)."""
    from openpyxl import load_workbook

    workbook = load_workbook(xlsx, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = [str(c or "").strip().lower() for c in next(rows, ())]
        try:
            col = {
                name: header.index(label)
                for name, label in (
                    ("session", "session"),
                    ("iso", "iso code"),
                    ("country", "country"),
                    ("speaker", "name of person speaking"),
                    ("post", "post"),
                )
            }
        except ValueError as exc:
            raise ImportProblem(f"{xlsx.name}: unexpected header {header}") from exc
        speakers: dict[tuple[str, int], Speaker] = {}
        for row in rows:
            iso, session = row[col["iso"]], row[col["session"]]
            if not iso or session is None:
                continue
            try:
                key = (str(iso).strip().upper(), int(session))
            except (TypeError, ValueError):
                continue
            speakers[key] = Speaker(
                country=_clean(row[col["country"]]), speaker=_clean(row[col["speaker"]]), post=_clean(row[col["post"]])
            )
        return speakers
    finally:
        workbook.close()


def _clean(value: object) -> str:
    return collapse_space(str(value)) if value is not None else ""


def ungd_files(source: Path) -> list[tuple[Path, str, int, int]]:
    """(file, ISO code, session, year) of every statement under ``source``, from ``manifest.tsv`` when
    it is there, otherwise from the file names (``txt/**/<ISO3>_<session>_<year>.txt``)."""
    manifest = source / "manifest.tsv"
    found: list[tuple[Path, str, int, int]] = []
    if manifest.is_file():
        with open(manifest, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                found.append((source / row["path"], row["iso3"].upper(), int(row["session"]), int(row["year"])))
    else:
        for path in sorted(source.rglob("*.txt")):
            match = UNGD_NAME.match(path.name)
            if match:
                found.append((path, match["iso3"], int(match["session"]), int(match["year"])))
    return found


def import_ungd(
    source: Path,
    out: Path,
    countries: Iterable[str] | None = None,
    sessions: Iterable[int] | None = None,
    limit: int | None = None,
) -> ImportReport:
    """Copy UN General Debate statements into ``out`` as ``<ISO3>_<session>_<year>.txt`` with sidecars.

    Each sidecar holds title, country (ISO code), country_name, session, year, speaker and post (from
    ``Speakers_by_session.xlsx`` when present) and source. Files already there and identical are left
    alone, so importing twice changes nothing (and the index has nothing to re-embed).

    Args:
        source: the dataset folder (``manifest.tsv``, ``txt/``, ``Speakers_by_session.xlsx``).
        out: the corpus folder to write into (created when missing).
        countries: only these ISO codes; sessions: only these sessions; limit: at most this many files.
    """
    if not source.is_dir():
        raise ImportProblem(f"{source} is not a folder")
    xlsx = source / "Speakers_by_session.xlsx"
    speakers = read_speakers(xlsx) if xlsx.is_file() else {}
    wanted_countries = {c.upper() for c in countries} if countries else None
    wanted_sessions = set(sessions) if sessions else None
    report = ImportReport()
    out.mkdir(parents=True, exist_ok=True)
    for path, iso3, session, year in ungd_files(source):
        if wanted_countries is not None and iso3 not in wanted_countries:
            continue
        if wanted_sessions is not None and session not in wanted_sessions:
            continue
        if limit is not None and len(report.written) + len(report.unchanged) >= limit:
            break
        if not path.is_file():
            report.skipped.append((str(path), "missing"))
            continue
        raw = path.read_bytes()
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            report.skipped.append((str(path), "not UTF-8"))
            continue
        who = speakers.get((iso3, session))
        country_name = who.country if who and who.country else iso3
        metadata: dict[str, object] = {
            "title": f"{country_name}: General Debate statement, session {session} ({year})",
            "country": iso3,
            "country_name": country_name,
            "session": session,
            "year": year,
        }
        if who and who.speaker:
            metadata["speaker"] = who.speaker
        if who and who.post:
            metadata["post"] = who.post
        metadata["source"] = f"{UNGD_SOURCE}: {path.relative_to(source).as_posix()}"
        name = f"{iso3}_{session}_{year}"
        changed = write_if_changed(out / f"{name}.txt", raw)
        changed |= write_if_changed(out / f"{name}{SIDECAR_SUFFIX}", _json(metadata))
        (report.written if changed else report.unchanged).append(name)
    return report


def add_documents(paths: Iterable[Path], corpus_dir: Path) -> ImportReport:
    """Copy documents (``.txt``/``.md``, with their sidecars when present) into the corpus folder.

    A file the index would not hold, or could not filter by, is skipped with the reason: a hidden file
    (never indexed), another type, text that is not UTF-8 or has no words, an id too long for the
    document filter or with a comma in it (the query string's list separator), a country too long for
    the country filter, or a name taken by a document of the other suffix (``a.md`` beside ``a.txt``).
    """
    report = ImportReport()
    corpus_dir.mkdir(parents=True, exist_ok=True)
    for path in paths:
        problem = _unindexable(path, corpus_dir)
        if problem:
            report.skipped.append((str(path), problem))
            continue
        sidecar = path.with_name(path.stem + SIDECAR_SUFFIX)
        changed = write_if_changed(corpus_dir / path.name, path.read_bytes())
        if sidecar.is_file():
            changed |= write_if_changed(corpus_dir / sidecar.name, sidecar.read_bytes())
        (report.written if changed else report.unchanged).append(path.stem)
    return report


def _unindexable(path: Path, corpus_dir: Path) -> str:
    """Why ``path`` cannot be added to the corpus as a document ("" when it can)."""
    if path.name.startswith("."):
        return "hidden files (names starting with a dot) are never indexed"
    if not path.is_file() or path.suffix.lower() not in DOCUMENT_SUFFIXES:
        return "not a .txt or .md file"
    if path.name.endswith(SIDECAR_SUFFIX):
        return "a metadata sidecar, not a document"
    if len(path.stem) > MAX_ID_CHARS:
        return f"its id (the name without suffix) has {len(path.stem)} characters; the limit is {MAX_ID_CHARS}"
    if "," in path.stem:
        return "its id (the name without suffix) contains a comma, which the document filter cannot take"
    for other in DOCUMENT_SUFFIXES:
        taken = corpus_dir / (path.stem + other)
        if other != path.suffix.lower() and taken.is_file():
            return f"{taken.name} already has the id {path.stem!r}: remove it first"
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        return "not UTF-8"
    if not any(ch.isalnum() for ch in text):
        return "it holds no words to index"
    sidecar = path.with_name(path.stem + SIDECAR_SUFFIX)
    if sidecar.is_file():
        try:
            metadata = json.loads(sidecar.read_text(encoding="utf-8"))
            if not isinstance(metadata, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            return f"{sidecar.name} is not a JSON object ({exc})"
        if len(country_of(metadata)) > MAX_COUNTRY_CHARS:
            return f"{sidecar.name}: its country has more than {MAX_COUNTRY_CHARS} characters"
    return ""


def remove_documents(ids: Iterable[str], corpus_dir: Path) -> ImportReport:
    """Delete documents (by id: the path under the corpus folder without suffix) and their sidecars."""
    report = ImportReport()
    by_id = {p.relative_to(corpus_dir).with_suffix("").as_posix(): p for p in corpus_files(corpus_dir)}
    for doc_id in ids:
        path = by_id.get(doc_id)
        if path is None:
            report.skipped.append((doc_id, "no such document"))
            continue
        path.unlink()
        sidecar = path.with_name(path.stem + SIDECAR_SUFFIX)
        if sidecar.is_file():
            sidecar.unlink()
        report.written.append(doc_id)
    return report


def _json(metadata: dict[str, object]) -> bytes:
    return (json.dumps(metadata, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


__all__ = [
    "ImportReport",
    "ImportProblem",
    "Speaker",
    "add_documents",
    "import_ungd",
    "read_speakers",
    "remove_documents",
    "ungd_files",
]
