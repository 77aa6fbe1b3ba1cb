"""The no-answer rule, in one place for the service and for its calibration.

A question is not answered by the corpus when the rule's confidence (the best passage cosine, plus
calibrated shares of the best sentence cosine and of the question's term coverage) is below a
threshold, when it names something the corpus never mentions (a capitalised name, a year, a figure),
or when it asks for a number or a date ("how many", "when") and the best passages hold none.
``qa-service eval --calibrate`` fits the rule's coefficients and threshold on question sets.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from .answer_kinds import NAME_KINDS, QUESTION_CACHE, checked_kind
from .bm25 import LexicalIndex, initialled_runs, lower_tokens, stem_cache, stemmer, words
from .short_answer import ShortAnswer
from .spans import holds_kind


@dataclass(frozen=True)
class Evidence:
    """What the no-answer rule looks at: how well the corpus seems to cover the question."""

    dense: float  # best dense cosine of any passage
    sentence: float  # best cosine of any sentence among the candidates
    coverage: float  # IDF-weighted share of the question's content terms that the corpus has
    unknown_names: tuple[str, ...]  # names and numbers of the question the corpus never mentions
    missing_answer: str | None  # "number"/"date" when the question asks for one and the best passages hold none
    confidence: float  # the rule's combination compared with the threshold
    # The best passage is of the role a question about the speech asks for ("What position does the speaker
    # hold?" and the letterhead): such questions share few words with their answer, and the role is evidence.
    routed: bool = False


@dataclass(frozen=True)
class NoAnswerRule:
    """The confidence (dense + sentence_coef·sentence + coverage_coef·coverage) and its threshold."""

    sentence_coef: float
    coverage_coef: float
    threshold: float

    def confidence(self, dense: float, sentence: float, coverage: float) -> float:
        """The rule's confidence that the corpus answers."""
        return dense + self.sentence_coef * sentence + self.coverage_coef * coverage

    def flags(self, e: Evidence) -> bool:
        """Whether a question with this evidence gets ``no_answer``."""
        return (
            (not e.routed and self.confidence(e.dense, e.sentence, e.coverage) < self.threshold)
            or bool(e.unknown_names)
            or e.missing_answer is not None
        )

    def evidence(
        self,
        question: str,
        dense: float,
        sentence: float,
        lexical: LexicalIndex,
        names: CorpusNames,
        best_texts: Sequence[str],
        spans: Sequence[ShortAnswer | None] | None = None,
        routed: bool = False,
    ) -> Evidence:
        """The evidence for one question: its best dense and sentence cosines, the lexical coverage, the
        names the corpus lacks, and whether the best passages hold the kind of answer it asks for.

        With ``spans`` (the short answer found in each of ``best_texts``), a question asking for a date, a
        number, a person, a place, ... is missing its answer when no best passage holds a span of that kind
        near the question's words, or when the passage that does lacks a name the question gives ("Who is
        the Permanent Representative of Kyrgyzstan?" is not answered by Kazakhstan's). Without, the
        passages are searched for any number or date a "how many"/"when" question asks for. ``routed``: the
        best passage is of the role the question asks for (see :class:`Evidence`)."""
        coverage = lexical.coverage(question)
        if spans is not None:
            kind = checked_kind(question)
            # Figures must stand near the question's words; names (who, where) may be anywhere in the passage.
            answered = [
                text
                for text, span in zip(best_texts, spans)
                if span is not None or (kind in NAME_KINDS and holds_kind(text, kind))
            ]
            missing = kind if kind and not any(names.all_in(question, text) for text in answered) else None
        else:
            kind = expected_answer(question)
            missing = kind if kind and not any(holds_answer(text, kind) for text in best_texts) else None
        return Evidence(
            round(dense, 4),
            round(sentence, 4),
            round(coverage, 4),
            tuple(names.unknown(question)),
            missing,
            round(self.confidence(dense, sentence, coverage), 4),
            routed,
        )


_NUMBER_WORDS = frozenset(
    "two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand "
    "million billion trillion dozen dozens hundreds thousands millions billions twice".split()
)
_MONTHS = frozenset(
    "january february march april may june july august september october november december monday tuesday "
    "wednesday thursday friday saturday sunday".split()
)
_YEAR = re.compile(r"1\d{3}s?|20\d{2}s?|\d{1,2}(?:st|nd|rd|th)")
_DATE_WORDS = frozenset({"century", "centuries", "decade", "decades", "bc", "ad", "bce", "ce"})
_ASKS_NUMBER = re.compile(
    r"\bhow\s+(?:many|much|long|old|far|large|big)\b|\bwhat\s+(?:number|percentage|amount)\b", re.I
)
_ASKS_DATE = re.compile(
    r"^\s*when\b|\b(?:what|which)\s+(?:year|date|month|day|decade|century)\b|,\s*(?:and\s+)?when\b", re.I
)


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


@lru_cache(maxsize=QUESTION_CACHE)
def _name_tokens(text: str) -> tuple[str, ...]:
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
    return tuple(out)


def _acronyms(text: str) -> set[str]:
    """Initials of runs of capitalised words ("General Assembly" → "GA"), for acronyms a text implies."""
    return {initials for initials, _ in initialled_runs(text)}


@stem_cache(maxsize=256)  # the passages that answer recur from question to question (each a few KiB)
def _forms(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """The lower-case words of ``text`` and their stems."""
    stem = stemmer()
    have = frozenset(w.lower() for w, _, _ in words(text))
    return have, frozenset(stem.stemWord(w) for w in have)


def _begins(name: str, known: set[str]) -> bool:
    """Whether a known word begins ``name`` and differs by a suffix of at most three letters ("Asian", "Asia")."""
    return len(name) >= 5 and any(name[:k] in known for k in range(max(4, len(name) - 3), len(name)))


class CorpusNames:
    """The words, stems and implied acronyms of a corpus, to tell the names a question uses that it lacks."""

    def __init__(self, texts: Sequence[str], knows_term: Callable[[str], bool]) -> None:
        self._words = {w for t in texts for w in lower_tokens(t)}
        self._acronyms = set().union(*(_acronyms(t) for t in texts)) if texts else set()
        self._knows_term = knows_term

    @staticmethod
    def all_in(question: str, text: str) -> bool:
        """Whether every name of the question (capitalised words, figures) occurs in ``text``; a name also
        counts when a word of the text begins it ("Asian" in a text that says "Asia")."""
        stem = stemmer()
        have, stems = _forms(text)
        for name in _name_tokens(question):
            lower = name.lower()
            if len(name) <= 2 or lower in have or stem.stemWord(lower) in stems or _begins(lower, have):
                continue
            if name.isupper() and name in _acronyms(text):
                continue
            return False
        return True

    def unknown(self, question: str) -> list[str]:
        """Names and numbers in the question (capitalised words, years, figures) the corpus never mentions.

        An all-capital word also counts as known when it is the initials of capitalised words of the
        corpus ("GA" for "General Assembly").
        """
        stem = stemmer()
        out = []
        for name in _name_tokens(question):
            lower = name.lower()
            if lower in self._words or self._knows_term(stem.stemWord(lower)):
                continue
            if name.isupper() and name in self._acronyms or _begins(lower, self._words):
                continue
            out.append(name)
        return out
