"""Building, saving, loading and checking the index (with a fast fake encoder)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from qa_service.index import (
    IndexCorrupt,
    IndexMismatch,
    IndexMissing,
    build_index,
    current_build,
    ensure_index,
    load_index,
)

from .helpers import FakeEncoder


def test_round_trip(fake_settings, fake_encoder):
    built = build_index(fake_settings, fake_encoder)
    loaded = load_index(fake_settings.index_dir, fake_settings)
    assert [p.to_dict() for p in loaded.passages] == [p.to_dict() for p in built.passages]
    assert loaded.manifest.passages == 15
    assert loaded.manifest.documents == 1
    assert loaded.vectors.size == loaded.manifest.windows
    np.testing.assert_allclose(loaded.sentence_vectors, built.sentence_vectors)
    np.testing.assert_allclose(loaded.window_vectors, built.window_vectors)
    assert set(loaded.manifest.files) == {
        "documents.json",
        "passages.jsonl",
        "arrays.npz",
        "windows.npy",
        "vectors.faiss",
    }
    assert loaded.documents[0].metadata["speaker"] == "H.E. Yerzhan Kazykhanov"


def test_manifest_records_what_it_was_built_from(fake_settings, fake_encoder):
    data = build_index(fake_settings, fake_encoder)
    m = data.manifest
    assert m.model == "fake:bow-64" and m.dim == 64
    assert len(m.corpus_files) == 2  # the statement and its sidecar
    assert {"python", "faiss-cpu", "numpy"} <= set(m.versions)
    assert m.built_at.endswith("Z")


def test_ensure_builds_when_missing_then_reuses(fake_settings):
    encoder = FakeEncoder()
    ensure_index(fake_settings, encoder)
    first_calls = encoder.calls
    assert first_calls > 0
    ensure_index(fake_settings, encoder)
    assert encoder.calls == first_calls  # fresh index: nothing re-embedded


def test_stale_when_corpus_changes(fake_settings, fake_encoder):
    ensure_index(fake_settings, fake_encoder)
    (fake_settings.corpus_dir / "extra.txt").write_text("A new document about other things.\n", encoding="utf-8")
    with pytest.raises(IndexMismatch, match="corpus_fingerprint"):
        ensure_index(fake_settings.replace(rebuild="never"), fake_encoder)
    data = ensure_index(fake_settings, fake_encoder)
    assert data.manifest.documents == 2


def test_stale_when_model_changes(fake_settings):
    ensure_index(fake_settings, FakeEncoder())
    with pytest.raises(IndexMismatch, match="model"):
        ensure_index(fake_settings.replace(rebuild="never"), FakeEncoder(identity="fake:other"))


def test_missing_index_with_rebuild_never(fake_settings, fake_encoder):
    with pytest.raises(IndexMissing):
        ensure_index(fake_settings.replace(rebuild="never"), fake_encoder)


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "manifest"])
def test_damaged_index_is_noticed_and_rebuilt(fake_settings, fake_encoder, damage):
    ensure_index(fake_settings, fake_encoder)
    build = current_build(fake_settings.index_dir)
    target = build / ("manifest.json" if damage == "manifest" else "vectors.faiss")
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[:100])
    elif damage == "flip":
        raw = bytearray(target.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        target.write_bytes(bytes(raw))
    elif damage == "delete":
        target.unlink()
    else:
        target.write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexCorrupt):
        load_index(fake_settings.index_dir)
    with pytest.raises(IndexCorrupt):
        ensure_index(fake_settings.replace(rebuild="never"), fake_encoder)
    data = ensure_index(fake_settings, fake_encoder)
    assert data.manifest.passages == 15
    assert current_build(fake_settings.index_dir) != build


def test_failed_build_leaves_previous_index(fake_settings, fake_encoder, monkeypatch):
    ensure_index(fake_settings, fake_encoder)
    before = current_build(fake_settings.index_dir)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("qa_service.index.vectors.faiss.FaissVectorStore.save", boom)
    with pytest.raises(RuntimeError):
        ensure_index(fake_settings, fake_encoder, force=True)
    assert current_build(fake_settings.index_dir) == before
    assert load_index(fake_settings.index_dir).manifest.passages == 15
    leftovers = [p.name for p in (fake_settings.index_dir / "builds").iterdir() if p.name.startswith(".tmp")]
    assert leftovers == []


def test_current_pointer_is_replaced_not_rewritten(fake_settings, fake_encoder):
    ensure_index(fake_settings, fake_encoder)
    pointer = fake_settings.index_dir / "CURRENT"
    inode = os.stat(pointer).st_ino
    ensure_index(fake_settings, fake_encoder, force=True)
    assert os.stat(pointer).st_ino != inode  # a new file renamed over the old one
    assert len(list((fake_settings.index_dir / "builds").iterdir())) <= 2


def test_manifest_is_json(fake_settings, fake_encoder):
    ensure_index(fake_settings, fake_encoder)
    raw = json.loads((current_build(fake_settings.index_dir) / "manifest.json").read_text())
    assert raw["passages"] == 15 and raw["format_version"] == 2


@pytest.mark.parametrize("how", ["pooled", "separate"])
def test_sentence_vectors_how(fake_settings, how):
    """``separate`` embeds every sentence alone; ``pooled`` takes it from its window's run. The choice is
    recorded, so changing it makes the index stale."""
    encoder = FakeEncoder()
    data = build_index(fake_settings.replace(sentence_vectors=how), encoder)
    assert data.manifest.build_params["sentence_vectors"] == how
    if how == "pooled":
        assert encoder.calls == data.manifest.embedded == data.manifest.windows  # one run per window, no more
    else:
        assert encoder.calls == data.manifest.embedded > data.manifest.windows  # each distinct sentence too
    for row in (0, len(data.sentence_vectors) - 1):
        passage = data.passages[data.sentence_passage[row]]
        a, b = passage.sentences[data.sentence_number[row]]
        np.testing.assert_allclose(data.sentence_vectors[row], encoder._vector(passage.text[a:b]), atol=1e-6)
    other = "separate" if how == "pooled" else "pooled"
    with pytest.raises(IndexMismatch, match="build_params"):
        ensure_index(fake_settings.replace(sentence_vectors=other, rebuild="never"), encoder)


def test_pooled_sentences_highlight_as_well_as_separate_ones(settings, encoder, tmp_path):
    """On the statement question set, the highlight of the best answer holds the gold words as often with
    pooled sentence vectors as with sentences embedded alone (one question of slack)."""
    from qa_service.ranking import Retriever

    from .helpers import DATA, read_jsonl

    rows = read_jsonl(DATA / "statement_questions.jsonl")
    found = {}
    for how in ("pooled", "separate"):
        index = build_index(settings.replace(index_dir=tmp_path / how, sentence_vectors=how), encoder)
        retriever = Retriever(index, encoder)
        found[how] = sum(
            any(g.casefold() in retriever.ask(r["question"], 1).answers[0].highlight.text.casefold() for g in r["gold"])
            for r in rows
        )
    assert found["pooled"] >= found["separate"] - 1, found
    assert found["separate"] >= 0.6 * len(rows), found
