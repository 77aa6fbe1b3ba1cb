"""Importing UN General Debate statements and adding/removing documents (files, metadata, CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa_service.cli import main
from qa_service.corpus import load_corpus, split_passages
from qa_service.corpus.importers import add_documents, import_ungd, read_speakers, remove_documents

from .helpers import FakeEncoder

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "un_general_debate_subset"

STATEMENT_A = (
    "Allow me to congratulate you, Sir, on your election to the presidency of the General Assembly.\n"
    "Our country has worked for nuclear disarmament since it closed its test site in 1991.\n"
)
STATEMENT_B = "Mr. President,\n\nClimate change is the defining issue of our time for the islands of the Pacific.\n"


def _dataset(tmp_path: Path, with_manifest: bool = True) -> Path:
    """A made-up dataset folder laid out like the UNGD subset, with a speakers workbook."""
    from openpyxl import Workbook

    root = tmp_path / "ungd"
    for rel, text in (
        ("txt/session_47_1992/AAA_47_1992.txt", STATEMENT_A),
        ("txt/session_78_2023/BBB_78_2023.txt", STATEMENT_B),
    ):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if with_manifest:
        (root / "manifest.tsv").write_text(
            "path\tiso3\tsession\tyear\tbytes\n"
            "txt/session_47_1992/AAA_47_1992.txt\tAAA\t47\t1992\t0\n"
            "txt/session_78_2023/BBB_78_2023.txt\tBBB\t78\t2023\t0\n",
            encoding="utf-8",
        )
    book = Workbook()
    sheet = book.active
    sheet.append(["Year", "Session", "ISO Code", "Country", "Name of Person Speaking", "Post", None])
    sheet.append([1992, 47, "AAA", "Atlantis ", "Jane  Doe", "President", None])
    sheet.append([2023, 78, "BBB", "Bora Bora", "John Roe", "Minister for Foreign Affairs", None])
    book.save(root / "Speakers_by_session.xlsx")
    return root


@pytest.mark.parametrize("with_manifest", [True, False])
def test_import_writes_documents_with_metadata(tmp_path, with_manifest):
    source = _dataset(tmp_path, with_manifest)
    out = tmp_path / "corpus"
    report = import_ungd(source, out)
    assert sorted(report.written) == ["AAA_47_1992", "BBB_78_2023"]
    assert (out / "AAA_47_1992.txt").read_bytes() == (source / "txt/session_47_1992/AAA_47_1992.txt").read_bytes()
    meta = json.loads((out / "AAA_47_1992.meta.json").read_text(encoding="utf-8"))
    assert meta == {
        "title": "Atlantis: General Debate statement, session 47 (1992)",
        "country": "AAA",
        "country_name": "Atlantis",
        "session": 47,
        "year": 1992,
        "speaker": "Jane Doe",
        "post": "President",
        "source": "UN General Debate Corpus (Jankin, Baturo & Dasandi), CC0: txt/session_47_1992/AAA_47_1992.txt",
    }
    docs = {d.id: d for d in load_corpus(out)}
    assert docs["BBB_78_2023"].metadata["post"] == "Minister for Foreign Affairs"
    assert docs["BBB_78_2023"].title.startswith("Bora Bora")
    assert [p.text for p in split_passages(docs["BBB_78_2023"])] == [
        "Climate change is the defining issue of our time for the islands of the Pacific."
    ]
    # Importing again changes nothing.
    again = import_ungd(source, out)
    assert again.written == [] and sorted(again.unchanged) == ["AAA_47_1992", "BBB_78_2023"]


def test_import_selects_by_country_session_and_limit(tmp_path):
    source = _dataset(tmp_path)
    assert import_ungd(source, tmp_path / "a", countries=["bbb"]).written == ["BBB_78_2023"]
    assert import_ungd(source, tmp_path / "b", sessions=[47]).written == ["AAA_47_1992"]
    assert len(import_ungd(source, tmp_path / "c", limit=1).written) == 1


def test_real_statements_import_with_speakers(tmp_path):
    if not SHARED.is_dir():
        pytest.skip("the UN General Debate subset is not beside this checkout")
    speakers = read_speakers(SHARED / "Speakers_by_session.xlsx")
    assert speakers[("KAZ", 79)].speaker == "Murat Nurtleu"
    report = import_ungd(SHARED, tmp_path / "corpus", countries=["KAZ"], sessions=[47, 79])
    assert sorted(report.written) == ["KAZ_47_1992", "KAZ_79_2024"]
    docs = {d.id: d for d in load_corpus(tmp_path / "corpus")}
    meta = docs["KAZ_79_2024"].metadata
    assert (meta["country"], meta["session"], meta["year"], meta["post"]) == ("KAZ", 79, 2024, "Deputy Prime Minister")
    assert docs["KAZ_47_1992"].title == "Kazakhstan: General Debate statement, session 47 (1992)"
    assert all(len(split_passages(d)) > 10 for d in docs.values())


def test_add_and_remove_documents(tmp_path):
    src = tmp_path / "incoming"
    src.mkdir()
    (src / "note.md").write_text(
        "A short note about water policy in Central Asia and the Aral Sea basin.\n", encoding="utf-8"
    )
    (src / "note.meta.json").write_text(
        json.dumps({"title": "Water note", "country": "KAZ", "year": 2020}), encoding="utf-8"
    )
    (src / "bad.csv").write_text("x\n", encoding="utf-8")
    corpus = tmp_path / "corpus"
    report = add_documents([src / "note.md", src / "bad.csv"], corpus)
    assert report.written == ["note"] and report.skipped[0][0].endswith("bad.csv")
    assert json.loads((corpus / "note.meta.json").read_text())["title"] == "Water note"
    assert remove_documents(["note", "ghost"], corpus).skipped == [("ghost", "no such document")]
    assert list(corpus.iterdir()) == []


def test_cli_import_add_remove_update_the_index(tmp_path, runner, monkeypatch):
    fake = FakeEncoder()
    monkeypatch.setattr("qa_service.index.build_encoder", lambda settings: fake)
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    monkeypatch.setenv("QA_CORPUS_DIR", str(corpus))
    monkeypatch.setenv("QA_INDEX_DIR", str(index))
    source = _dataset(tmp_path)

    result = runner.invoke(main, ["import-ungd", str(source)])
    assert result.exit_code == 0, result.output
    assert "imported" in result.output and "2 documents" in result.output

    extra = tmp_path / "extra.txt"
    extra.write_text("The Caspian Sea needs a shared plan for fisheries, oil and the environment.\n", encoding="utf-8")
    before = fake.calls
    result = runner.invoke(main, ["add", str(extra)])
    assert result.exit_code == 0, result.output
    assert "3 documents" in result.output and "embedded 1 texts" in result.output
    assert fake.calls - before == 1

    before = fake.calls
    result = runner.invoke(main, ["remove", "AAA_47_1992"])
    assert result.exit_code == 0, result.output
    assert "2 documents" in result.output and "embedded 0 texts" in result.output
    assert fake.calls == before
    assert runner.invoke(main, ["remove", "nope"]).exit_code == 1
