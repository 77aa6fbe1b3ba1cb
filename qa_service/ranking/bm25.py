"""Lexical matching: word tokens, stems, stopwords and BM25 scores (with bm25s).

Questions are full of words that say nothing about the answer ("what", "did", "which"), so the
stopword list is a full English one (scikit-learn's ~300 words), less a few words that carry meaning
in this domain ("un", "system", "interest").
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TypeVar

import numpy as np

T = TypeVar("T")

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


# Derivational endings left on Snowball's English stems, each with what replaces it and how many letters
# must stay before it: "agreement" meets "agreed" and "agree", "conclusion" "conclude", "compliance"
# "comply", "terrorist" "terrorism". Measured with benchmarks/stemming.py (docs/evaluation.md).
_DERIVATIONAL = (
    ("ment", "", 4),  # agreement → agree, development → develop
    ("ianc", "i", 3),  # compliance → compli(ance) → compli (comply)
    ("clus", "clud", 2),  # conclusion → conclud (conclude), inclusion → includ
    ("cis", "cid", 2),  # decision → decid (decide)
    ("vis", "vid", 3),  # division → divid, provision → provid
    ("ist", "", 5),  # terrorist → terror (terrorism), extremist → extrem
)
#: Words whose derived form says something else than its base ("statement" is not "state").
_NOT_DERIVED = frozenset({"statement", "statements", "moment", "moments", "comment", "comments"})
#: Words whose stems are kept.
WORD_CACHE = 1 << 14
#: The stemmings the service can use: Snowball's English stems, and those stems with derivational endings
#: taken off as well (the default; see :data:`_DERIVATIONAL`).
STEMMINGS = ("derivational", "snowball")


class _Stems:
    """Snowball's English stemmer, then (``derivational``) the derivational endings it leaves taken off."""

    def __init__(self, name: str) -> None:
        import Stemmer

        if name not in STEMMINGS:
            raise ValueError(f"unknown stemming {name!r}: expected one of {STEMMINGS}")
        self.name = name
        self._snowball = Stemmer.Stemmer("english")
        # Words recur (a corpus's, the questions'): each is stemmed once.
        self.stemWord = lru_cache(maxsize=WORD_CACHE)(self._stem)  # PyStemmer's name, which the callers use

    def _stem(self, word: str) -> str:
        """The stem of one lower-case word."""
        stem = self._snowball.stemWord(word)
        if self.name == "derivational" and word not in _NOT_DERIVED:
            for ending, replacement, keep in _DERIVATIONAL:
                if stem.endswith(ending) and len(stem) - len(ending) >= keep:
                    return self._snowball.stemWord(stem[: -len(ending)] + replacement)
        return stem

    def stemWords(self, words: Sequence[str]) -> list[str]:
        """The stems of lower-case words, in order."""
        return [self.stemWord(w) for w in words]


_stemming = STEMMINGS[0]
#: The caches of what depends on the stems (see :func:`stem_cache`), emptied when the stemming changes.
_STEM_CACHES: list = []


def stem_cache(maxsize: int) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """``functools.lru_cache`` for a function of stems: :func:`use_stemming` empties it. For what a
    request reads of the same question or passage text several times, or again in later requests."""

    def wrap(function: Callable[..., T]) -> Callable[..., T]:
        cached = lru_cache(maxsize=maxsize)(function)
        _STEM_CACHES.append(cached)
        return cached

    return wrap


def use_stemming(name: str) -> None:
    """Switch the stems every lexical comparison uses (for measuring the alternatives; indexes and
    retrievers built before keep the terms they were built with)."""
    global _stemming
    _Stems(name)  # refuses an unknown name before anything changes
    _stemming = name
    stemmer.cache_clear()
    for cache in _STEM_CACHES:
        cache.cache_clear()


@lru_cache(maxsize=1)
def stemmer() -> _Stems:
    """The stemmer of every lexical comparison (BM25, matched words, names, short answers)."""
    return _Stems(_stemming)


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
    return list(_terms(text))


@stem_cache(maxsize=1024)  # a question's terms are wanted several times per request, a short span's often
def _terms(text: str) -> tuple[str, ...]:
    stop = stopwords()
    kept = [t for t in lower_tokens(text) if t not in stop and (len(t) > 1 or t.isdigit())]
    return tuple(stemmer().stemWords(kept)) if kept else ()


def lower_tokens(text: str) -> list[str]:
    """The tokens of :func:`words`, lower-cased, in the same order, without their spans: what terms and
    vocabularies need, found by the regex engine in one call (an index's texts are all read when it loads)."""
    tokens = _TOKEN.findall(text)
    if "-" in text:
        split: list[str] = []
        for token in tokens:
            split.append(token)
            if "-" in token:
                split.extend(part for part in token.split("-") if part)
        tokens = split
    return [t.lower() for t in tokens]


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
    stems = stemmer().stemWords([w.lower() for w in kept]) if kept else []
    return tuple(zip(kept, stems, strict=True))


def match_words(wanted: set[str], stemmed: tuple[tuple[str, str], ...]) -> list[str]:
    """The words of ``stemmed`` (from :func:`stemmed_words`) whose stems are among ``wanted``."""
    return [word for word, stem in stemmed if stem in wanted] if wanted else []


def matched_terms(question: str, text: str) -> list[str]:
    """Words of ``text`` whose stems occur among the question's content terms, in text order, unique."""
    return match_words(set(terms(question)), stemmed_words(text))


_ACRONYM = re.compile(r"\b[A-Z]{2,8}\b")
# A run of capitalised words, with the small words names hold between them ("Charter of the United Nations").
_CAPITALISED_RUN = re.compile(r"\b[A-Z][\w'’-]*(?:\s+(?:(?:of|and|the|for|on|in|to|&)\s+)*[A-Z][\w'’-]*)+")


def initialled_runs(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """Every stretch of two or more capitalised words of ``text`` (within a run) with its initials:
    ("UN", ("United", "Nations")) in "the Charter of the United Nations"."""
    out = []
    for match in _CAPITALISED_RUN.finditer(text):
        capitalised = [w for w in match.group(0).split() if w[:1].isupper()]
        for i in range(len(capitalised)):
            for j in range(i + 2, min(len(capitalised), i + 8) + 1):
                out.append(("".join(w[0] for w in capitalised[i:j]), tuple(capitalised[i:j])))
    return out


def corpus_acronyms(texts: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The acronyms of a corpus that the corpus also spells out: each all-capital word whose letters are
    the initials of capitalised words the corpus holds, with those words ("CICA" → "Conference",
    "Interaction", "Confidence-building", "Asia"). When several spellings fit, the one the corpus defines
    ("... Asia (CICA)") wins, then the most frequent."""
    acronyms = {m.group(0) for t in texts for m in _ACRONYM.finditer(t)}
    counts: dict[str, dict[tuple[str, ...], int]] = {}
    for text in texts:
        flat = None
        for initials, run in initialled_runs(text):
            if initials in acronyms:
                flat = flat or " ".join(text.split())
                spelling = " ".join(run)
                defined = f"{spelling} ({initials})" in flat or f"{spelling}({initials})" in flat
                spelled = counts.setdefault(initials, {})
                spelled[run] = spelled.get(run, 0) + (1000 if defined else 1)
    return {acronym: max(spelled, key=lambda run: (spelled[run], run)) for acronym, spelled in counts.items()}


def acronym_terms(text: str, acronyms: dict[str, tuple[str, ...]], both_ways: bool = True) -> list[str]:
    """The terms ``text`` holds in its other form: the acronym of each spelling it uses and (``both_ways``)
    the spelled-out words of each acronym it uses, one per occurrence, as BM25 counts them."""
    out: list[str] = []
    for match in _ACRONYM.finditer(text) if both_ways else ():
        if match.group(0) in acronyms:
            out.extend(terms(" ".join(acronyms[match.group(0)])))
    for initials, run in initialled_runs(text):
        if acronyms.get(initials) == run:
            out.extend(terms(initials))
    return out


class LexicalIndex:
    """BM25 over passages' texts (with their context), built in memory when the index loads.

    An acronym the corpus spells out somewhere also stands for its spelling: a passage that says "United
    Nations" holds "UN" too (:func:`corpus_acronyms`); and with ``acronyms=2``, one that says "CICA" holds
    the words of "Conference on Interaction and Confidence-building in Asia" as well (measured with
    benchmarks/stemming.py: that way costs SQuAD more than it gives).
    """

    def __init__(self, texts: Sequence[str], acronyms: int = 1) -> None:
        """Index one text per passage, in passage order; ``acronyms``: 0 as written, 1 a spelling also
        counts as its acronym, 2 an acronym also counts as its spelling as well."""
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self._size = len(texts)
        self.texts = texts
        self._bm25 = bm25s.BM25()
        self.acronyms = corpus_acronyms(texts) if acronyms else {}
        corpus = [(terms(t) + acronym_terms(t, self.acronyms, acronyms > 1)) or [""] for t in texts]
        if self._size:
            self._bm25.index(corpus, show_progress=False)
        self._df: dict[str, int] = {}
        for doc_terms in corpus:
            for t in set(doc_terms):
                self._df[t] = self._df.get(t, 0) + 1
        self._idf: dict[str, float] = {}  # each term's, once asked for (a question asks for each twice)

    def scores(self, question: str) -> np.ndarray:
        """BM25 score of every passage for ``question`` (zeros when no term is known)."""
        if not self._size:
            return np.zeros(0, dtype=np.float32)
        vocab = self._bm25.vocab_dict
        known = [t for t in terms(question) if t in vocab]
        if not known:
            return np.zeros(self._size, dtype=np.float32)
        if self._bm25.nonoccurrence_array is not None:  # a BM25 variant that scores absent terms too
            return np.asarray(self._bm25.get_scores(known), dtype=np.float32)
        # bm25s's own sum over its term-by-passage matrix, term by term in the same order, without its
        # per-call checks and np.add.at (a term's column names each passage once, so += adds the same).
        matrix = self._bm25.scores
        data, indices, indptr = matrix["data"], matrix["indices"], matrix["indptr"]
        out = np.zeros(self._size, dtype=np.float32)
        for token in [vocab[t] for t in known]:
            start, end = indptr[token], indptr[token + 1]
            out[indices[start:end]] += data[start:end]
        return out

    def weighted_scores(self, weighted_terms: Sequence[tuple[str, float]]) -> np.ndarray:
        """Each passage's BM25 score for stemmed terms, each term's score times its weight."""
        out = np.zeros(self._size, dtype=np.float32)
        vocab = self._bm25.vocab_dict if self._size else {}
        for term, weight in weighted_terms:
            if term in vocab:
                out += weight * np.asarray(self._bm25.get_scores([term]), dtype=np.float32)
        return out

    def has_term(self, term: str) -> bool:
        """Whether any passage holds the stemmed ``term``."""
        return term in self._df

    def idf(self, term: str) -> float:
        """BM25's inverse document frequency of a stemmed term (highest for a term no passage has)."""
        idf = self._idf.get(term)
        if idf is None:
            df = self._df.get(term, 0)
            idf = float(np.log(1 + (self._size - df + 0.5) / (df + 0.5)))
            if df:  # the corpus's terms are bounded, the words of questions are not
                self._idf[term] = idf
        return idf

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


class SentenceTerms:
    """Which sentences hold which terms: a passage scored by its best sentence's share of a question's
    terms, so that question words found together in one sentence count for more than scattered ones
    (SQuAD's answers lie in one sentence that repeats the question's words)."""

    def __init__(self, texts: Sequence[str], acronyms: dict[str, tuple[str, ...]] | None = None) -> None:
        """Index one text per sentence, in sentence-row order; ``acronyms``: the corpus's (a sentence that
        spells one out holds it too, as in :class:`LexicalIndex`)."""
        rows_of: dict[str, list[int]] = {}
        for row, text in enumerate(texts):
            for term in set(terms(text) + (acronym_terms(text, acronyms, False) if acronyms else [])):
                rows_of.setdefault(term, []).append(row)
        self._rows = {term: np.asarray(rows, dtype=np.int64) for term, rows in rows_of.items()}
        self._size = len(texts)

    def shares(self, weights: dict[str, float]) -> np.ndarray:
        """Each sentence's sum of the weights of the terms it holds, over the sum of all the weights."""
        out = np.zeros(self._size, dtype=np.float32)
        total = sum(weights.values())
        if total <= 0:
            return out
        for term, weight in weights.items():
            rows = self._rows.get(term)
            if rows is not None:
                out[rows] += weight
        return out / total
