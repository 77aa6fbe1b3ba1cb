"""Example questions derived from an index's documents, for a corpus without an ``examples.json``.

Two kinds, both answerable from the corpus by construction: who spoke for a country in a year (from the
documents' metadata, when it holds speaker, country name and year), and what is said about a phrase
that many documents use but not nearly all (two content words in a row, counted once per document).
"""

from __future__ import annotations

import re
from collections import Counter

from ..corpus import DocumentRecord, Passage, country_name_of
from .bm25 import stopwords

# Lower-case words only: a capitalised pair is mostly a name ("General Assembly", "Member States").
_WORD = re.compile(r"[A-Za-z][a-z]*")
#: A phrase found in more than this share of the documents says nothing about any of them.
COMMON_SHARE = 0.6


def derive_examples(documents: list[DocumentRecord], passages: list[Passage], count: int = 5) -> list[str]:
    """Up to ``count`` questions about ``documents``: who spoke (at most one), then topics."""
    questions: list[str] = []
    for doc in sorted(documents, key=lambda d: (-d.year, d.title.casefold())):
        name, speaker = country_name_of(doc.metadata), str(doc.metadata.get("speaker") or "").strip()
        if name and speaker and doc.year:
            questions.append(f"Who spoke for {name} in {doc.year}?")
            break
    for phrase in _topics(passages, count - len(questions)):
        questions.append(f"What is said about {phrase}?")
    return questions[:count]


def _topics(passages: list[Passage], count: int) -> list[str]:
    """The ``count`` two-word phrases most documents use (all of one document's, with one document)."""
    if count <= 0:
        return []
    stop = stopwords()
    per_document: dict[str, Counter[str]] = {}
    for passage in passages:
        words = _WORD.findall(passage.text)
        found = per_document.setdefault(passage.doc_id, Counter())
        for a, b in zip(words, words[1:]):
            if _topic_word(a, stop) and _topic_word(b, stop):
                found[f"{a} {b}"] += 1
    documents = len(per_document)
    if documents == 1:  # one document: its most frequent phrases
        ranked = [phrase for phrase, _ in next(iter(per_document.values())).most_common()]
    else:  # phrases in more than one document, not in nearly all (two of three still tell them apart)
        spread: Counter[str] = Counter()
        for found in per_document.values():
            spread.update(found.keys())
        most = max(2, int(COMMON_SHARE * documents))
        ranked = [phrase for phrase, n in spread.most_common() if 1 < n <= most]
    chosen: list[str] = []
    for phrase in ranked:  # no two phrases sharing a word: five different topics
        if not any(set(phrase.split()) & set(other.split()) for other in chosen):
            chosen.append(phrase)
            if len(chosen) == count:
                break
    return chosen


def _topic_word(word: str, stop: frozenset[str]) -> bool:
    """A lower-case content word of a topic: not a stopword, not short, not an adverb."""
    return word.islower() and len(word) > 3 and word not in stop and not word.endswith("ly")
