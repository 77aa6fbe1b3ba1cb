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
# Auxiliaries that scikit-learn's list lacks and every other question contains.
_EXTRA = frozenset({"does", "did", "doing"})


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """The English stopword list used for BM25 and for matched-term reporting.

    scikit-learn's list, read from the one module that holds it: importing scikit-learn itself costs
    seconds of start-up, for a list of words.
    """
    import importlib.util
    from pathlib import Path

    try:
        package = importlib.util.find_spec("sklearn")
        path = Path(package.origin).parent / "feature_extraction" / "_stop_words.py"
        spec = importlib.util.spec_from_file_location("_qa_sklearn_stop_words", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        words = module.ENGLISH_STOP_WORDS
    except Exception:  # the file moved in another scikit-learn version: take the slow, public way
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS as words

    return (frozenset(words) | _EXTRA) - _KEEP


@lru_cache(maxsize=1)
def _stemmer():
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


def stemmed_words(text: str) -> tuple[tuple[str, str], ...]:
    """Each word of ``text`` that is not a stopword, once per lower-case form, in text order, with its
    stem: what :func:`match_words` needs, computed once per passage by the retriever."""
    stop = stopwords()
    seen: set[str] = set()
    kept: list[str] = []
    for word, _, _ in words(text):
        lower = word.lower()
        if lower not in stop and lower not in seen:
            seen.add(lower)
            kept.append(word)
    stems = _stemmer().stemWords([w.lower() for w in kept]) if kept else []
    return tuple(zip(kept, stems, strict=True))


def match_words(wanted: set[str], stemmed: tuple[tuple[str, str], ...]) -> list[str]:
    """The words of ``stemmed`` (from :func:`stemmed_words`) whose stems are among ``wanted``."""
    return [word for word, stem in stemmed if stem in wanted] if wanted else []


def matched_terms(question: str, text: str) -> list[str]:
    """Words of ``text`` whose stems occur among the question's content terms, in text order, unique."""
    return match_words(set(terms(question)), stemmed_words(text))


_NUMBER_WORDS = frozenset(
    ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred", "thousand", "million", "billion", "trillion", "dozen", "dozens", "hundreds", "thousands", "millions", "billions", "twice"]
)
_MONTHS = frozenset(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
)
_YEAR = re.compile(r"1\d{3}s?|20\d{2}s?|\d{1,2}(?:st|nd|rd|th)")
_DATE_WORDS = frozenset({"century", "centuries", "decade", "decades", "bc", "ad", "bce", "ce"})
_ASKS_NUMBER = re.compile(
    r"\bhow\s+(?:many|much|long|old|far|large|big)\b|\bwhat\s+(?:number|percentage|amount)\b", re.I
)
_ASKS_DATE = re.compile(
    r"^\s*when\b|\b(?:what|which)\s+(?:year|date|month|day|decade|century)\b|,\s*(?:and\s+)?when\b", re.I
)
_SMALL_WORDS = frozenset({"of", "and", "the", "for", "on", "in", "to", "&"})


def expected_answer(question: str) -> str | None:
    """The kind of answer a question asks for, when its wording says: "number", "date" or None."""
    if _ASKS_NUMBER.search(question):
        return "number"
    if _ASKS_DATE.search(question):
        return "date"
    return None


def holds_answer(text: str, kind: str) -> bool:
    """Whether ``text`` contains something of the ``kind`` a question asks for (a number, a date)."""
    lowered = [w.lower() for w, _, _ in words(text)]
    if kind == "number":
        return any(any(c.isdigit() for c in w) for w in lowered) or any(w in _NUMBER_WORDS for w in lowered)
    if kind == "date":
        return any(_YEAR.fullmatch(w) or w in _MONTHS or w in _DATE_WORDS for w in lowered)
    return True


def _name_tokens(text: str) -> list[str]:
    """Words of ``text`` that name something: capitalised (not first in a sentence) or holding a digit."""
    out = []
    previous_end = ""
    for word, start, _ in words(text):
        if "-" in word and any(w == word.split("-")[0] for w in out):
            continue
        stripped = re.sub(r"['’]s$", "", word)
        first = start == 0 or previous_end in ".?!:"
        if any(c.isdigit() for c in stripped) or (stripped[:1].isupper() and not first and stripped != "I"):
            out.append(stripped)
        previous_end = text[max(0, start - 2) : start].strip()[-1:] if start else ""
    return out


_CAPITAL_RUN = re.compile(r"\b[A-Z][\w'’-]*(?:[ \t]+(?:(?:of|and|the|for|on|in|to|&)[ \t]+)*[A-Z][\w'’-]*)+")


def _acronyms(text: str) -> set[str]:
    """Initials of runs of capitalised words ("General Assembly" → "GA"), for acronyms a text implies."""
    found: set[str] = set()
    for match in _CAPITAL_RUN.finditer(text):
        initials = [w[0] for w in match.group(0).split() if w[:1].isupper()]
        for i in range(len(initials)):
            for j in range(i + 2, min(len(initials), i + 6) + 1):
                found.add("".join(initials[i:j]))
    return found


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
        self._df: dict[str, int] = {}
        for doc_terms in corpus:
            for t in set(doc_terms):
                self._df[t] = self._df.get(t, 0) + 1
        self._words = {w.lower() for t in texts for w, _, _ in words(t)}
        self._acronyms = set().union(*(_acronyms(t) for t in texts)) if texts else set()

    def scores(self, question: str) -> np.ndarray:
        """BM25 score of every passage for ``question`` (zeros when no term is known)."""
        if not self._size:
            return np.zeros(0, dtype=np.float32)
        vocab = self._bm25.vocab_dict
        known = [t for t in terms(question) if t in vocab]
        if not known:
            return np.zeros(self._size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)

    def idf(self, term: str) -> float:
        """BM25's inverse document frequency of a stemmed term (highest for a term no passage has)."""
        df = self._df.get(term, 0)
        return float(np.log(1 + (self._size - df + 0.5) / (df + 0.5)))

    def question_weight(self, question: str) -> float:
        """The sum of the IDFs of the question's content terms: about the BM25 score of a passage that has
        each of them once (at average length), so that BM25 divided by it is comparable across questions."""
        return sum(self.idf(t) for t in terms(question))

    def coverage(self, question: str) -> float:
        """Share of the question's content terms that occur in the corpus, each weighted by its IDF.

        1.0 when every term occurs somewhere (or the question has none); a question about something the
        corpus never mentions scores low, while words every passage has weigh little.
        """
        wanted = set(terms(question))
        if not wanted:
            return 1.0
        weights = {t: self.idf(t) for t in wanted}
        total = sum(weights.values())
        return sum(w for t, w in weights.items() if t in self._df) / total if total else 1.0

    def unknown_names(self, question: str) -> list[str]:
        """Names and numbers in the question (capitalised words, years, figures) the corpus never mentions.

        An all-capital word also counts as known when it is the initials of capitalised words of the
        corpus ("GA" for "General Assembly").
        """
        stemmer = _stemmer()
        out = []
        for name in _name_tokens(question):
            lower = name.lower()
            if lower in self._words or stemmer.stemWord(lower) in self._df:
                continue
            if name.isupper() and name in self._acronyms:
                continue
            out.append(name)
        return out
