"""Windows (qa_service/index/windows.py): passages cut to the model's input, and where sentences lie."""

from __future__ import annotations

from qa_service.corpus import Passage, split_sentences
from qa_service.index.windows import make_windows, sentence_spans


def _passage(text: str) -> Passage:
    return Passage("d", "T", 1, text, 1, 1, 0, len(text), sentences=tuple(split_sentences(text)))


def test_windows_cover_long_passages():
    text = " ".join(f"Sentence {i} has five words." for i in range(30))
    windows = make_windows([_passage(text)], lambda t: len(t.split()), 40, with_context=False)
    assert len(windows) > 1
    assert all(len(w.text.split()) <= 40 for w in windows)
    seen = " ".join(w.text for w in windows)
    for i in range(30):
        assert f"Sentence {i} has" in seen


def test_short_passage_is_one_window_with_context():
    p = Passage("d", "Doc Title", 1, "Short text.", 1, 1, 0, 11, section="Part One", sentences=((0, 11),))
    (window,) = make_windows([p], lambda t: len(t.split()), 256, with_context=True)
    assert window.text == "Doc Title. Part One\nShort text."


def test_every_sentence_is_placed_in_a_window_that_holds_it_whole():
    text = " ".join(f"Sentence {i} has five words." for i in range(30))
    passages = [_passage(text), _passage("One short sentence. And another one.")]
    windows = make_windows(passages, lambda t: len(t.split()), 40, with_context=False)
    spans, where = sentence_spans(passages, windows)
    for i, passage in enumerate(passages):
        for n, (a, b) in enumerate(passage.sentences):
            w, position = where[(i, n)]
            assert windows[w].passage == i
            x, y = spans[w][position]
            assert windows[w].text[x:y] == passage.text[a:b]


def test_spans_account_for_the_context_prefix():
    text = "First one. Second one."
    p = Passage("d", "Doc Title", 1, text, 1, 1, 0, 22, section="Part", sentences=((0, 10), (11, 22)))
    windows = make_windows([p], lambda t: len(t.split()), 256, with_context=True)
    spans, _ = sentence_spans([p], windows)
    assert [windows[0].text[a:b] for a, b in spans[0]] == ["First one.", "Second one."]
