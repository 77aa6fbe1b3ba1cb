"""From readers' marks to numbers and to labelled questions.

``feedback_stats`` counts the marks per question and passage. ``export_question_set`` turns them into
a question set in the JSONL format ``qa-service eval`` reads (``{"question", "gold": [substrings]}``):
a passage marked helpful becomes gold, named by a substring of its text that no other passage of the
corpus contains (its first such sentence), so that the set keeps meaning the same passage if the
corpus is renumbered. A question whose every mark says "not helpful" may be one the corpus cannot
answer: it goes to a review list (``{"question", "kind": "feedback_unhelpful", ...}``, the out-of-scope
format) for a person to confirm, never straight into a set.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..corpus import Passage, collapse_space, fold
from .store import Mark

#: A gold substring shorter than this is too likely to mean nothing on its own ("Thank you.").
MIN_GOLD_CHARS = 12


@dataclass(frozen=True)
class PassageStats:
    """The marks one passage got as the answer to one question."""

    question: str
    document: str
    passage: int
    helpful: int
    unhelpful: int

    @property
    def total(self) -> int:
        return self.helpful + self.unhelpful

    @property
    def share_helpful(self) -> float:
        """Helpful marks over all marks (0 to 1)."""
        return self.helpful / self.total if self.total else 0.0


@dataclass
class ExportResult:
    """The question set's rows, the review list's rows, and the marks that could not be used (why)."""

    questions: list[dict] = field(default_factory=list)
    review: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _question_key(text: str) -> str:
    """Marks of the same question asked with other case or spacing count together."""
    return fold(text)


def feedback_stats(marks: Iterable[Mark]) -> list[PassageStats]:
    """Counts per question and passage, most marked first (then by question and passage)."""
    counts: dict[tuple[str, str, int], list[int]] = {}
    shown: dict[str, str] = {}
    for m in marks:
        key = (_question_key(m.question), m.document, m.passage)
        shown.setdefault(key[0], collapse_space(m.question))
        counts.setdefault(key, [0, 0])[0 if m.helpful else 1] += 1
    rows = [PassageStats(shown[q], d, p, h, u) for (q, d, p), (h, u) in counts.items()]
    return sorted(rows, key=lambda r: (-r.total, r.question.casefold(), r.document, r.passage))


def export_question_set(marks: Iterable[Mark], passages: Sequence[Passage]) -> ExportResult:
    """The question set and the review list made from ``marks``, over the corpus's current ``passages``.

    A mark is matched to the current passage with its document and number when the text is unchanged,
    else to the passage whose text is what the reader saw; a mark whose passage is gone is skipped.
    """
    by_number = {(p.doc_id, p.number): p for p in passages}
    by_text: dict[str, Passage] = {}
    for p in passages:
        by_text.setdefault(fold(p.text), p)
    folded = [fold(p.text) for p in passages]

    questions: dict[str, dict] = {}
    for m in marks:
        entry = questions.setdefault(
            _question_key(m.question),
            {"question": collapse_space(m.question), "helpful": {}, "unhelpful": {}, "marks": 0},
        )
        entry["marks"] += 1
        current = by_number.get((m.document, m.passage))
        if current is None or fold(current.text) != fold(m.passage_text):
            current = by_text.get(fold(m.passage_text))
        if current is None:
            entry.setdefault("gone", []).append(f"{m.document} passage {m.passage}")
            continue
        kind = "helpful" if m.helpful else "unhelpful"
        entry[kind][(current.doc_id, current.number)] = current

    result = ExportResult()
    for entry in questions.values():
        for where in entry.get("gone", []):
            result.skipped.append(f"{entry['question']!r}: {where} is no longer in the corpus")
        if entry["helpful"]:
            gold, sources = [], []
            for (doc, number), passage in sorted(entry["helpful"].items()):
                text = distinctive_substring(passage, folded)
                if text is None:
                    result.skipped.append(
                        f"{entry['question']!r}: {doc} passage {number} has no text that no other passage has"
                    )
                    continue
                gold.append(text)
                sources.append({"document": doc, "passage": number})
            if gold:
                result.questions.append({"question": entry["question"], "gold": gold, "passages": sources})
        elif entry["unhelpful"]:
            result.review.append(
                {
                    "question": entry["question"],
                    "kind": "feedback_unhelpful",
                    "marks": entry["marks"],
                    "passages": [{"document": d, "passage": n} for d, n in sorted(entry["unhelpful"])],
                }
            )
    return result


def distinctive_substring(passage: Passage, folded_corpus: Sequence[str]) -> str | None:
    """A substring of ``passage`` that exactly one text of ``folded_corpus`` (folded passages) contains:
    its first sentence that qualifies, else its whole text; None when even that is not unique.

    The evaluation counts a passage as a hit when it contains the gold text after whitespace is collapsed
    and case folded, so uniqueness is checked the same way.
    """
    candidates = [collapse_space(s) for s in passage.sentence_texts] + [collapse_space(passage.text)]
    for text in candidates:
        if len(text) < MIN_GOLD_CHARS and text != collapse_space(passage.text):
            continue
        needle = fold(text)
        if sum(needle in other for other in folded_corpus) == 1:
            return text
    return None
