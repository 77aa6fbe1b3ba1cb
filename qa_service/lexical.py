"""Lexical matching: word tokens, stems, stopwords and BM25 scores (with bm25s).

Questions are full of words that say nothing about the answer ("what", "did", "which"), so the
stopword list is a full English one (scikit-learn's ~300 words), less a few words that carry meaning
in this domain ("un", "system", "interest").
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

_TOKEN = re.compile(r"\w+(?:[-'’]\w+)*", re.UNICODE)
# Content words in scikit-learn's list that matter for questions about statements and reports.
_KEEP = frozenset({"un", "system", "fire", "bill", "interest", "computer", "mill"})


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """The English stopword list used for BM25 and for matched-term reporting."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) - _KEEP


@lru_cache(maxsize=1)
def _stemmer():  # noqa: ANN202
    import Stemmer

    return Stemmer.Stemmer("english")


def words(text: str) -> list[tuple[str, int, int]]:
    """The word tokens of ``text`` with their character spans (hyphenated words split too)."""
    out = []
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        out.append((token, match.start(), match.end()))
        if "-" in token:
            offset = match.start()
            for part in token.split("-"):
                if part:
                    out.append((part, offset, offset + len(part)))
                offset += len(part) + 1
    return out


def terms(text: str) -> list[str]:
    """Stemmed, lower-cased content terms of ``text`` (stopwords and one-letter words dropped)."""
    stop = stopwords()
    tokens = [w.lower() for w, _, _ in words(text)]
    kept = [t for t in tokens if t not in stop and (len(t) > 1 or t.isdigit())]
    return _stemmer().stemWords(kept) if kept else []


def matched_terms(question: str, text: str) -> list[str]:
    """Words of ``text`` whose stems occur among the question's content terms, in text order, unique."""
    wanted = set(terms(question))
    if not wanted:
        return []
    seen: set[str] = set()
    out: list[str] = []
    stop = stopwords()
    for word, _, _ in words(text):
        lower = word.lower()
        if lower in stop or lower in seen:
            continue
        if _stemmer().stemWord(lower) in wanted:
            seen.add(lower)
            out.append(word)
    return out


class LexicalIndex:
    """BM25 over passages' texts (with their context), built in memory when the index loads."""

    def __init__(self, texts: Sequence[str]) -> None:
        """Index one text per passage, in passage order."""
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self._size = len(texts)
        self._bm25 = bm25s.BM25()
        corpus = [terms(t) or [""] for t in texts]
        if self._size:
            self._bm25.index(corpus, show_progress=False)

    def scores(self, question: str) -> np.ndarray:
        """BM25 score of every passage for ``question`` (zeros when no term is known)."""
        if not self._size:
            return np.zeros(0, dtype=np.float32)
        vocab = self._bm25.vocab_dict
        known = [t for t in terms(question) if t in vocab]
        if not known:
            return np.zeros(self._size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)
