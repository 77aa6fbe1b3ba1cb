"""What a build embeds and what it reuses (``qa_service.index.embedding``): content keys, where sentences
lie in windows, and new text embedded once, with a model-free encoder."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from qa_service.corpus import Passage
from qa_service.index.embedding import (
    NO_SPANS,
    content_key,
    content_keys,
    embed_new,
    sentence_content_keys,
    sentence_places,
    sentence_table,
)
from qa_service.index.windows import Window

from .helpers import FakeEncoder


def _passage(number: int, text: str, sentences: tuple[tuple[int, int], ...]) -> Passage:
    return Passage("doc", "Doc", number, text, 1, 1, 0, len(text), sentences=sentences)


PASSAGES = [
    _passage(0, "Terrorism is a threat. It must be fought.", ((0, 22), (23, 41))),
    _passage(1, "Kazakhstan hosted the Congress.", ((0, 31),)),
]


def test_content_keys_depend_on_the_model_and_the_exact_text() -> None:
    key = content_key("model-a", "text")
    assert key == content_key("model-a", "text")
    assert key != content_key("model-b", "text") and key != content_key("model-a", "text ")
    rows = content_keys("model-a", iter(["text", "other"]))
    assert rows.shape == (2, len(key)) and rows[0].tobytes() == key


def test_sentence_table_and_places() -> None:
    passage, number, bounds = sentence_table(PASSAGES)
    assert passage.tolist() == [0, 0, 1] and number.tolist() == [0, 1, 0]
    assert bounds.tolist() == [[0, 22], [23, 41], [0, 31]]
    # The first passage in two windows (each holding one sentence whole), behind a 4-character prefix.
    windows = [
        Window(0, "ctx " + PASSAGES[0].text[:22], 0, 22, 4),
        Window(0, "ctx " + PASSAGES[0].text[23:], 23, 41, 4),
    ]
    windows.append(Window(1, PASSAGES[1].text, 0, 31, 0))
    owner, spans = sentence_places(windows, len(PASSAGES), passage, bounds)
    assert owner.tolist() == [0, 1, 2]
    assert [s.tolist() for s in spans] == [[[4, 26]], [[4, 22]], [[0, 31]]]


def _embed(windows, previous=None, encoder=None):
    encoder = encoder or FakeEncoder()
    passage, _, bounds = sentence_table(PASSAGES)
    owner = np.full(len(bounds), -1, dtype=np.int32)
    window_keys = content_keys(encoder.identity, (w.text for w in windows))
    spans = [NO_SPANS] * len(windows)
    keys = sentence_content_keys(encoder.identity, PASSAGES, windows, passage, bounds, owner, spans)
    text = lambda k: PASSAGES[passage[k]].text[bounds[k, 0] : bounds[k, 1]]  # noqa: E731
    out = embed_new(encoder, 8, windows, window_keys, text, keys, owner, spans, previous, None)
    return out, window_keys, keys, encoder


def test_each_distinct_text_is_embedded_once_and_reused_by_key() -> None:
    windows = [Window(0, PASSAGES[0].text, 0, 41), Window(1, PASSAGES[1].text, 0, 31)]
    # The second passage's one sentence is its whole text: the same key, embedded once.
    (window_vectors, sentence_vectors, embedded), window_keys, keys, encoder = _embed(windows)
    assert embedded == 4 and encoder.calls == 4
    assert np.allclose(sentence_vectors[2], window_vectors[1])
    assert np.allclose(np.linalg.norm(window_vectors, axis=1), 1.0)

    previous = SimpleNamespace(
        window_keys=window_keys, window_vectors=window_vectors, sentence_keys=keys, sentence_vectors=sentence_vectors
    )
    (again, sentences_again, embedded_again), *_, encoder_again = _embed(windows, previous)
    assert embedded_again == 0 and encoder_again.calls == 0
    assert np.array_equal(again, window_vectors) and np.array_equal(sentences_again, sentence_vectors)
