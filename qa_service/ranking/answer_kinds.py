"""What a question asks for: the kind of its answer (a date, a number, a person, a place, ...), read from
its wording ("When did ...", "How many ...", "Which country ..."), and the words naming the answer's class."""

from __future__ import annotations

import re
from functools import lru_cache

#: The kinds of answer a question may ask for.
KINDS = ("date", "year", "month", "number", "amount", "person", "post", "organisation", "place", "country")


_ORG_NOUNS = (
    r"organi[sz]ations?|body|bodies|committee|council|agency|agencies|group|institution|organ|organs|"
    r"conference|congress|forum|union|alliance|bloc|commission|court|party|parties|company|companies|"
    r"team|university|association|bank|fund|programme|program|office|department|ministry"
)
_PLACE_NOUNS = (
    r"city|cities|town|towns|place|places|region|regions|capital|state|states|province|continent|area|location"
)
_COUNTRY_NOUNS = r"country|countries|nation|nations|member state|member states"
_ASKS = [
    (
        "amount",
        re.compile(
            r"\bhow\s+much\b.*\b(?:money|cost|costs|worth|pay|paid|fund\w*|spend|spent|price|budget)\b|\bhow\s+much\s+(?:money|funding)\b",
            re.I,
        ),
    ),
    (
        "number",
        re.compile(
            r"\bhow\s+(?:many|much|long|old|far|large|big|high|tall)\b|\b(?:what|which)\s+(?:\w+\s+){0,3}?(?:number|percentage|amount|figure|total)\b",
            re.I,
        ),
    ),
    (
        "number",
        re.compile(
            r"\b(?:what|which)\s+(?:\w+\s+){0,2}?(?:resolution|session|item|article|paragraph|chapter|decision|amendment|edition|round|section)s?\b",
            re.I,
        ),
    ),
    ("month", re.compile(r"\b(?:what|which)\s+month\b", re.I)),
    (
        "post",
        re.compile(
            r"\b(?:post|position|title|job|office|role|rank)\b.*\b(?:speaker|envoy|diplomat|ambassador|representative|he|she|minister|delegate)\b|\b(?:speaker|envoy|diplomat|ambassador|delegate)(?:'s|’s)\s+(?:post|position|title|job|office|role|rank)\b",
            re.I,
        ),
    ),
    ("year", re.compile(r"\b(?:what|which)\s+year\b|\bin\s+what\s+year\b|\bwhat\s+decade\b", re.I)),
    (
        "date",
        re.compile(
            r"^\s*(?:and\s+|but\s+|so\s+|since\s+|until\s+)?when\b|\b(?:what|which)\s+(?:date|month|day|century)\b|,\s*(?:and\s+)?when\b",
            re.I,
        ),
    ),
    (
        "person",
        re.compile(
            r"^\s*(?:and\s+)?(?:who|whom|whose)\b|\b(?:what|which)\s+(?:person|man|woman|leader|official|diplomat|ambassador|minister|president|speaker)\b|\bby\s+whom\b|\bwho\s+(?:is|was|were|gave|delivered|made|said|spoke|led|chaired)\b",
            re.I,
        ),
    ),
    ("country", re.compile(rf"\b(?:what|which)\s+(?:\w+\s+){{0,2}}?(?:{_COUNTRY_NOUNS})(?:'s|’s)?\b", re.I)),
    (
        "place",
        re.compile(
            rf"^\s*(?:and\s+|from\s+|to\s+)?where\b|\b(?:what|which)\s+(?:\w+\s+){{0,2}}?(?:{_PLACE_NOUNS})\b", re.I
        ),
    ),
    ("organisation", re.compile(rf"\b(?:what|which)\s+(?:\w+\s+){{0,2}}?(?:{_ORG_NOUNS})\b", re.I)),
]
# The words after which/what up to the verb: the answer's class ("Which religious congress did ...").
_WHICH_PHRASE = re.compile(r"\b(?:what|which)\s+((?:[\w'’-]+\s+){0,3})", re.I)
_AUXILIARIES = frozenset("is are was were did does do has have had will would can could should may might must".split())


# "When the law is the target, what is this called?": a leading "when" that opens a clause, not a question.
_WHEN_CLAUSE = re.compile(r"^\s*when\b[^?]*?,\s*(?:what|which|who|whom|whose|how|why|where)\b", re.I)
# "What type of organization ...": the answer is a class, not a name or a figure.
_ASKS_CLASS = re.compile(r"\b(?:what|which)\s+(?:type|types|kind|kinds|sort|sorts|form|forms)\s+of\b", re.I)
# "Where does the term cherry picker come from?": an origin story, not a place.
_ASKS_ORIGIN = re.compile(
    r"^\s*where\s+(?:does|did|do)\s+(?:the\s+)?(?:term|word|name|phrase|expression|saying|idea|custom)\b.*\bcome\s+from\b",
    re.I,
)


#: Questions whose reading is kept: a request reads its question's kind and class words several times.
QUESTION_CACHE = 256


@lru_cache(maxsize=QUESTION_CACHE)
def answer_kind(question: str) -> str | None:
    """The kind of answer (one of :data:`KINDS`) the question's wording asks for, or None."""
    if _ASKS_CLASS.search(question) or _ASKS_ORIGIN.search(question):
        return None
    found = [(m.start(), kind) for kind, pattern in _ASKS if (m := pattern.search(question))]
    if _WHEN_CLAUSE.search(question):
        found = [(start, kind) for start, kind in found if not (kind == "date" and start == 0)]
    if not found:
        return None
    # "Who is the ... of which country?" asks for a person: the earliest asking phrase wins, but
    # "how many"/"what year" are specific wherever they stand.
    for kind in ("amount", "number", "year", "month", "post"):
        if any(k == kind for _, k in found):
            return kind
    return min(found)[1]


_WHO_OBJECT = re.compile(
    r"^\s*(?:to\s+)?(?:whom|who\s+(?:do|does|did|will|would|should|can|could|has|have|had)\b)", re.I
)


# "When can oxygen produce a toxic condition?": a "when" with a modal asks for a condition, not a date.
_WHEN_CONDITION = re.compile(
    r"^\s*when\s+(?:can|could|may|might|must|should|would|(?:do|does)\s+(?:you|one|we)\b)\b", re.I
)


@lru_cache(maxsize=QUESTION_CACHE)
def checked_kind(question: str) -> str | None:
    """The kind of answer whose absence makes a question unanswered (for the no-answer rule): as
    :func:`answer_kind`, except a person asked as an object ("Whom does Kazakhstan congratulate?"), which
    is often a group that no name stands for, a post, which the text may word in any way, and a "when"
    that asks for a condition ("When can ...?")."""
    kind = answer_kind(question)
    if kind == "post" or (kind == "person" and _WHO_OBJECT.search(question)):
        return None
    if kind == "date" and _WHEN_CONDITION.search(question):
        return None
    return kind


#: Kinds named by words (not figures): a passage holding any of them may answer in a way rules miss.
NAME_KINDS = ("person", "organisation", "place", "country")


@lru_cache(maxsize=QUESTION_CACHE)
def class_words(question: str) -> tuple[str, ...]:
    """The words a which/what question names the answer's class with ("religious congress" in "Which
    religious congress did ..."), lower case, possessives dropped."""
    match = _WHICH_PHRASE.search(question)
    out: list[str] = []
    for word in match.group(1).split() if match else []:
        word = re.sub(r"['’]s$", "", word.lower())
        if word in _AUXILIARIES or word in ("of", "in", "the", "a", "an"):
            break
        out.append(word)
    return tuple(out)
