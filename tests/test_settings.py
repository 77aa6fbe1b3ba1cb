"""Settings from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa_service.settings import DEFAULT_MODEL, Settings, SettingsError


def test_defaults(monkeypatch):
    for name, _, _ in Settings.describe():
        monkeypatch.delenv(name, raising=False)
    s = Settings.from_env()
    assert s.model == DEFAULT_MODEL
    assert s.corpus_dir == Path("corpus") and s.index_dir == Path("embeddings")
    assert (s.default_top_k, s.max_top_k, s.max_question_chars) == (3, 20, 1000)
    assert Path(s.resolved_model()).is_dir()


def test_environment_is_read_and_typed(monkeypatch):
    monkeypatch.setenv("QA_PORT", "9001")
    monkeypatch.setenv("QA_EMBED_CONTEXT", "yes")
    monkeypatch.setenv("QA_DENSE_WEIGHT", "0.25")
    monkeypatch.setenv("QA_INDEX_DIR", "/tmp/somewhere")
    s = Settings.from_env()
    assert s.port == 9001 and s.embed_context is True and s.dense_weight == 0.25
    assert s.index_dir == Path("/tmp/somewhere")


@pytest.mark.parametrize(
    "name, value",
    [
        ("QA_PORT", "eighty"),
        ("QA_REBUILD", "sometimes"),
        ("QA_DENSE_WEIGHT", "2"),
        ("QA_EMBED_CONTEXT", "maybe"),
        ("QA_WORKERS", "0"),
    ],
)
def test_bad_values_are_refused(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError):
        Settings.from_env()


def test_model_folder_or_name_passes_through():
    assert Settings(model="/models/mine").resolved_model() == "/models/mine"
    assert Settings(model="sentence-transformers/all-MiniLM-L6-v2").resolved_model().endswith("all-MiniLM-L6-v2")


def test_unknown_package_is_a_clear_error():
    with pytest.raises(SettingsError, match="not installed"):
        Settings(model="package:no_such_model_pkg").resolved_model()


def test_every_setting_is_documented():
    rows = Settings.describe()
    assert len(rows) == len({r[0] for r in rows})
    assert all(r[0].startswith("QA_") and r[2] for r in rows)


@pytest.mark.parametrize(
    "changes",
    [
        {"vector_store": "annoy"},
        {"faiss_index": "hnsw"},
        {"milvus_collection": "1bad"},
        {"milvus_collection": "no-dashes"},
        {"flat_max_vectors": -1},
        {"ivf_nprobe": -5},
    ],
)
def test_scale_settings_are_checked(changes):
    with pytest.raises(SettingsError):
        Settings().replace(**changes)


def test_milvus_uri_defaults_to_a_file_in_the_index_folder(tmp_path):
    settings = Settings(index_dir=tmp_path / "idx")
    assert settings.resolved_milvus_uri() == str(tmp_path / "idx" / "milvus.db")
    assert settings.replace(milvus_uri="http://milvus:19530").resolved_milvus_uri() == "http://milvus:19530"
