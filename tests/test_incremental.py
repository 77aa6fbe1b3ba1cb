"""Incremental indexing: adding, changing and removing documents embeds only new text, removes vectors
by id, and ends where a clean full build ends (same passages, same vectors, same answers) — with FAISS
and with Milvus (Milvus Lite)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from qa_service.corpus import context_prefix
from qa_service.index import Filter as Filters
from qa_service.index import ensure_index
from qa_service.ranking import Retriever
from qa_service.settings import Settings

from .helpers import CORPUS, FakeEncoder

QUESTIONS = [
    "When did Kazakhstan accede to the nuclear terrorism convention?",
    "What do the islands say about rising seas and climate finance?",
    "How should the Security Council be reformed?",
    "Which trade routes does the landlocked country want?",
]

DOCS = {
    "islands.md": (
        "---\ntitle: Islands statement\ncountry: FJI\nyear: 2023\n---\n"
        "Rising seas threaten every island nation in the Pacific, and climate finance has not arrived.\n\n"
        "We ask the Assembly to keep warming below one and a half degrees and to fund adaptation now.\n"
    ),
    "council.txt": (
        "The Security Council must be reformed so that Africa has permanent seats and the veto is limited.\n\n"
        "Reform of the Council has been discussed for thirty years without result, and patience is short.\n"
    ),
}
NEW_DOC = (
    "---\ntitle: Landlocked statement\ncountry: KAZ\nyear: 2024\n---\n"
    "As a landlocked country we need trade routes across the Caspian Sea. Railways to the ports matter too.\n\n"
    "Transit corridors between Asia and Europe bring growth. Every country along the way gains.\n"
)


def _corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    for name, text in DOCS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    return corpus


@pytest.fixture(params=["faiss", "milvus"])
def store_kind(request) -> str:
    return request.param


def _settings(corpus: Path, index: Path, store_kind: str) -> Settings:
    return Settings(corpus_dir=corpus, index_dir=index, vector_store=store_kind, milvus_collection="windows")


def _answers(data, encoder, question: str, filters: Filters | None = None) -> list[tuple[str, int, float]]:
    result = Retriever(data, encoder).ask(question, 5, filters=filters)
    return [(a.passage.doc_id, a.passage.number, round(a.score, 4)) for a in result.answers]


def _same_build(incremental, full) -> None:
    assert [p.to_dict() for p in incremental.passages] == [p.to_dict() for p in full.passages]
    assert incremental.documents == full.documents
    np.testing.assert_array_equal(incremental.window_passage, full.window_passage)
    np.testing.assert_allclose(incremental.window_vectors, full.window_vectors)
    np.testing.assert_allclose(incremental.sentence_vectors, full.sentence_vectors)
    np.testing.assert_allclose(incremental.passage_vectors, full.passage_vectors, atol=1e-6)
    assert incremental.vectors.size == full.vectors.size == full.manifest.windows
    for key in ("documents", "passages", "windows", "sentences", "corpus_fingerprint"):
        assert getattr(incremental.manifest, key) == getattr(full.manifest, key)


@pytest.mark.parametrize("sentence_vectors", ["pooled", "separate"])
def test_add_then_remove_matches_a_clean_full_build(tmp_path, store_kind, sentence_vectors):
    corpus = _corpus(tmp_path)
    settings = _settings(corpus, tmp_path / "index", store_kind).replace(sentence_vectors=sentence_vectors)
    encoder = FakeEncoder()
    first = ensure_index(settings, encoder)
    assert first.manifest.embedded == encoder.calls > 0
    first_ids = dict(zip(first.window_ids.tolist(), (first.passages[p].doc_id for p in first.window_passage)))
    first.vectors.close()

    # Adding one document embeds exactly that document's windows and, when sentences are embedded
    # alone, its sentences (each distinct text once: a one-sentence passage is embedded once, as its
    # window and as its sentence); pooled sentences come from their windows' runs.
    (corpus / "landlocked.md").write_text(NEW_DOC, encoding="utf-8")
    before = encoder.calls
    added = ensure_index(settings, encoder)
    new_windows = {
        bytes(k) for k, p in zip(added.window_keys, added.window_passage) if added.passages[p].doc_id == "landlocked"
    }
    new_sentences = {
        bytes(k)
        for k, p in zip(added.sentence_keys, added.sentence_passage)
        if added.passages[p].doc_id == "landlocked"
    }
    # Two paragraphs of two sentences, and the attribution passage ("Statement by KAZ, in 2024."), whose one
    # sentence embedded alone is its window's text.
    assert len(new_windows) == 3 and len(new_sentences) == 5
    assert len(new_windows & new_sentences) == (1 if sentence_vectors == "separate" else 0)
    runs = new_windows if sentence_vectors == "pooled" else new_windows | new_sentences
    assert encoder.calls - before == added.manifest.embedded == len(runs)
    # The windows that were there keep their ids: the store was updated, not rebuilt.
    kept = {i: d for i, d in zip(added.window_ids.tolist(), (added.passages[p].doc_id for p in added.window_passage))}
    assert {i: d for i, d in kept.items() if d != "landlocked"} == first_ids
    added.vectors.close()

    # Removing one document embeds nothing and drops its vectors by id.
    (corpus / "council.txt").unlink()
    before = encoder.calls
    removed = ensure_index(settings, encoder)
    assert encoder.calls == before and removed.manifest.embedded == 0
    assert "council" not in {p.doc_id for p in removed.passages}
    assert (
        removed.vectors.size
        == removed.manifest.windows
        == added.manifest.windows - sum(1 for p in added.window_passage if added.passages[p].doc_id == "council")
    )
    incremental_answers = {q: _answers(removed, encoder, q) for q in QUESTIONS}
    filtered = _answers(removed, encoder, QUESTIONS[3], Filters(countries=frozenset({"KAZ"}), year_from=2024))
    removed.vectors.close()

    # A clean full build of the same corpus, into another folder, from nothing.
    full_settings = _settings(corpus, tmp_path / "index-full", store_kind).replace(
        milvus_collection="windows_full", sentence_vectors=sentence_vectors
    )
    full_encoder = FakeEncoder()
    full = ensure_index(full_settings, full_encoder, force=True)
    assert full_encoder.calls == full.manifest.embedded
    reloaded = ensure_index(settings, encoder)  # the incremental build, loaded from disk
    _same_build(reloaded, full)
    for q in QUESTIONS:
        assert _answers(full, full_encoder, q) == incremental_answers[q] == _answers(reloaded, encoder, q)
    assert filtered == _answers(full, full_encoder, QUESTIONS[3], Filters(countries=frozenset({"KAZ"}), year_from=2024))
    assert {d for d, _, _ in filtered} == {"landlocked"}
    full.vectors.close()
    reloaded.vectors.close()


class _CountingEncoder(FakeEncoder):
    """A fake encoder that remembers every text whose tokens it counted."""

    def __init__(self) -> None:
        super().__init__()
        self.counted: list[str] = []

    def count_tokens(self, text: str) -> int:
        self.counted.append(text)
        return super().count_tokens(text)


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_an_update_counts_the_tokens_of_new_text_only_and_makes_the_same_windows(tmp_path):
    corpus = _corpus(tmp_path)
    # A paragraph of 37 words fits 40 tokens alone (the fake counts words + 2) but not behind its title.
    sentence = "Our delegation supports the reform of the Council in every forum. "
    (corpus / "long.md").write_text("---\ntitle: Long statement\n---\n" + sentence * 3 + "We thank you all.\n")
    settings = _settings(corpus, tmp_path / "index", "faiss").replace(max_passage_tokens=40, embed_context=True)
    encoder = _CountingEncoder()
    first = ensure_index(settings, encoder)
    owners = first.window_passage.tolist()
    several = [first.passages[p] for p in set(owners) if owners.count(p) > 1]
    assert several  # else nothing here would be windowed again
    first.vectors.close()

    (corpus / "landlocked.md").write_text(NEW_DOC, encoding="utf-8")
    encoder.counted.clear()
    added = ensure_index(settings, encoder)
    old = [t for t in encoder.counted if "Landlocked" not in t and _flat(t) not in _flat(NEW_DOC)]
    # Of the passages indexed before, only those of several windows are counted again (they are cut anew).
    windowed = [_flat(context_prefix(p, settings.embed_context) + p.text) for p in several]
    assert old and all(any(_flat(t) in w for w in windowed) for t in old)
    assert len(old) < len(encoder.counted)

    full = ensure_index(settings.replace(index_dir=tmp_path / "index-full"), FakeEncoder(), force=True)
    _same_build(added, full)
    added.vectors.close()
    full.vectors.close()


def test_changed_document_re_embeds_only_changed_text(tmp_path):
    corpus = _corpus(tmp_path)
    settings = _settings(corpus, tmp_path / "index", "faiss")
    encoder = FakeEncoder()
    ensure_index(settings, encoder)
    path = corpus / "council.txt"
    path.write_text(path.read_text().replace("thirty years", "three decades"), encoding="utf-8")
    before = encoder.calls
    data = ensure_index(settings, encoder)
    # The changed paragraph is one sentence: one new text, embedded once (as window and sentence).
    assert encoder.calls - before == data.manifest.embedded == 1
    assert any("three decades" in p.text for p in data.passages)


def test_rebuild_after_damage_reuses_nothing_it_cannot_trust(tmp_path):
    corpus = _corpus(tmp_path)
    settings = _settings(corpus, tmp_path / "index", "faiss")
    encoder = FakeEncoder()
    data = ensure_index(settings, encoder)
    from qa_service.index import current_build

    (current_build(settings.index_dir) / "windows.npy").write_bytes(b"damaged")
    before = encoder.calls
    rebuilt = ensure_index(settings, encoder)
    assert encoder.calls - before == rebuilt.manifest.embedded == data.manifest.embedded
    assert rebuilt.manifest.passages == data.manifest.passages


def test_switching_the_store_reuses_embeddings(tmp_path):
    corpus = _corpus(tmp_path)
    settings = _settings(corpus, tmp_path / "index", "faiss")
    encoder = FakeEncoder()
    faiss_data = ensure_index(settings, encoder)
    answers = {q: _answers(faiss_data, encoder, q) for q in QUESTIONS}
    before = encoder.calls
    milvus_data = ensure_index(settings.replace(vector_store="milvus"), encoder)
    assert encoder.calls == before  # nothing re-embedded, only the vectors moved
    assert milvus_data.manifest.vector_store["kind"] == "milvus"
    for q in QUESTIONS:
        assert _answers(milvus_data, encoder, q) == answers[q]
    milvus_data.vectors.close()


def test_index_type_follows_size_without_re_embedding(tmp_path):
    corpus = _corpus(tmp_path)
    settings = _settings(corpus, tmp_path / "index", "faiss")
    encoder = FakeEncoder()
    flat = ensure_index(settings, encoder)
    assert flat.manifest.vector_store["plan"]["kind"] == "flat"
    before = encoder.calls
    ivf = ensure_index(settings.replace(flat_max_vectors=5), encoder)
    assert encoder.calls == before
    assert ivf.manifest.vector_store["plan"]["kind"] == "ivf"
    assert ivf.vectors.size == flat.manifest.windows


def test_a_milvus_collection_that_drifted_from_the_build_is_noticed_and_rebuilt(tmp_path):
    corpus = _corpus(tmp_path)
    settings = _settings(corpus, tmp_path / "index", "milvus")
    encoder = FakeEncoder()
    data = ensure_index(settings, encoder)
    # Someone else's writes: the same number of rows, but not this build's ids.
    ids = data.window_ids[:3]
    data.vectors.remove(ids)
    data.vectors.add(ids + 10_000, data.window_vectors[:3], data.window_attributes().take([0, 1, 2]))
    data.vectors.close()

    from qa_service.index import IndexCorrupt, load_index

    with pytest.raises(IndexCorrupt, match="does not hold this build's vectors"):
        load_index(settings.index_dir, settings)
    before = encoder.calls
    again = ensure_index(settings, encoder)
    assert encoder.calls == before  # repaired from the build's own vectors, nothing re-embedded
    assert again.vectors.size == again.manifest.windows
    again.vectors.close()
