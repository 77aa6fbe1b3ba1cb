"""Short answers: the span of a passage that answers a factoid question ("September 16, 2005").

No reader model ships offline, so the span comes from rules:

1. The question's wording says what kind of answer it wants (:func:`answer_kind`): a date, a year, a
   number or an amount, a person, an organisation, a place or a country. Other questions get no span.
2. The candidates of that kind in the passage are found by patterns (dates, years, numbers and number
   words, amounts, runs of capitalised words sorted into people, organisations and places), with the
   ISO country names of ``pycountry`` for countries; ``number-parser`` reads a number's value, and a
   date's is read by its pattern (day, month and year, or none).
3. A candidate that repeats the question ("Which body established the Ad Hoc Committee?" is not
   answered by "Ad Hoc Committee") is dropped; the rest are scored by their sentence's score (the
   highlight's) and by how close they stand to the question's words. The best wins, if its sentence
   shares a content word with the question or is the highlight: otherwise no span (better none than a
   wrong one).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from .bm25 import stemmer, stopwords, terms, words

#: The kinds of answer a question may ask for.
KINDS = ("date", "year", "month", "number", "amount", "person", "post", "organisation", "place", "country")


@dataclass(frozen=True)
class ShortAnswer:
    """The answering span: ``text`` is ``passage.text[start:end]``; ``value`` a normalised form when known
    (ISO date, integer), ``kind`` what the question asked for."""

    text: str
    start: int
    end: int
    kind: str
    value: str | int | float | None = None

    def to_dict(self) -> dict:
        """The JSON form of the API."""
        return {"text": self.text, "start": self.start, "end": self.end, "kind": self.kind, "value": self.value}


# ---------------------------------------------------------------------------------------------
# What a question asks for

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


def holds_kind(text: str, kind: str) -> bool:
    """Whether ``text`` holds any candidate of ``kind`` at all, near the question's words or not."""
    return bool(candidates(text, kind))


def _class_words(question: str) -> list[str]:
    """The words a which/what question names the answer's class with ("religious congress" in "Which
    religious congress did ..."), lower case, possessives dropped."""
    match = _WHICH_PHRASE.search(question)
    out: list[str] = []
    for word in match.group(1).split() if match else []:
        word = re.sub(r"['’]s$", "", word.lower())
        if word in _AUXILIARIES or word in ("of", "in", "the", "a", "an"):
            break
        out.append(word)
    return out


# ---------------------------------------------------------------------------------------------
# Candidates in a text

_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?"
)
_YEAR_RE = r"(?:1[0-9]{3}|20[0-9]{2})"
_DATE = re.compile(
    rf"\b(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+{_YEAR_RE}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH},?\s+{_YEAR_RE}"
    rf"|{_MONTH},?\s+{_YEAR_RE}"
    rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?\b"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}"
    rf"|{_MONTH}(?:\s+(?:this|last|next)\s+year)?"
    rf"|(?:the\s+)?(?:early|mid|late)[\s-]+(?:{_YEAR_RE}s|\d0s)"
    rf"|(?:the\s+)?\d{{1,2}}(?:st|nd|rd|th)[\s-]+(?:century|centuries)(?:\s+(?:BC|AD|BCE|CE))?"
    rf"|(?:AD|BC)\s+\d{{1,4}}|\d{{1,4}}\s+(?:BC|AD|BCE|CE)\b"
    rf"|{_YEAR_RE}s?(?:\s*(?:-|–|to|and)\s*{_YEAR_RE})?)\b"
)
_YEAR = re.compile(rf"\b{_YEAR_RE}s?\b")
_NUMBER_WORD = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
    r"seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|"
    r"million|billion|trillion|dozen|half|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|"
    r"eleventh|twelfth|twentieth|thirtieth|fortieth|fiftieth|sixtieth|seventieth|eightieth|ninetieth|hundredth)"
)
_SCALE = r"(?:\s+(?:hundred|thousand|million|billion|trillion|percent|per\s+cent))?"
_NUMBER = re.compile(
    rf"(?:(?:about|around|over|more\s+than|less\s+than|nearly|almost|approximately|some|up\s+to)\s+)?"
    rf"(?:\b\d[\d,]*(?:\.\d+)?(?:/\d+)?%?{_SCALE}"
    rf"|\b{_NUMBER_WORD}(?:[\s-]+(?:and\s+)?{_NUMBER_WORD})*)\b",
    re.I,
)
# "one of the threats", "the Second Congress": words that count nothing on their own.
_NOT_A_COUNT = re.compile(
    r"one|half|(?:\w+-)?(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|\w+ieth|hundredth)",
    re.I,
)
_AMOUNT = re.compile(
    rf"(?:[$€£¥]\s?\d[\d,]*(?:\.\d+)?{_SCALE}|\b\d[\d,]*(?:\.\d+)?{_SCALE}\s+"
    rf"(?:dollars|euros|pounds|yen|francs|rubles|tenge|USD|EUR|US\s+dollars)\b|\b(?:USD|EUR|US\$)\s?\d[\d,]*(?:\.\d+)?{_SCALE})",
    re.I,
)
_WORD = re.compile(r"\S+")
_CONNECTORS = {
    "of",
    "and",
    "the",
    "for",
    "on",
    "in",
    "to",
    "&",
    "de",
    "du",
    "la",
    "del",
    "da",
    "dos",
    "der",
    "van",
    "von",
}
#: Connectors that belong inside a person's name ("Lula da Silva", "Ursula von der Leyen").
_NAME_PARTICLES = frozenset({"de", "du", "la", "del", "da", "dos", "der", "van", "von"})
_CAPITAL_RUN = re.compile(
    r"(?<![\w'’])(?:[A-Z][\w'’.-]*|[A-Z]{2,})"
    r"(?:[ \t]+(?:(?:of|and|the|for|on|in|to|&|de|du|la|del|da|dos|der|van|von)[ \t]+)*"
    r"(?:[A-Z][\w'’.-]*))*"
)
_HONORIFIC = re.compile(
    r"(?:H\.\s?E\.|Mr\.?|Mrs\.?|Ms\.?|Dr\.?|Prof\.?|Sir|Dame|Lord|Lady|Sheikh|King|Queen|Prince|Princess|"
    r"President|Ambassador|Minister|Secretary-General|General|Judge|Pope|Saint|St\.)"
)
_ORG_WORDS = frozenset(
    "committee council assembly organization organisation organizations conference congress nations union "
    "agency bureau court secretariat group forum fund bank commission office programme program institute "
    "university association alliance party ministry department corporation company society federation league "
    "board authority parliament senate government army navy police force centre center foundation club "
    "church school college".split()
)
_NOT_PERSON = _ORG_WORDS | frozenset(
    "republic kingdom state states representative permanent ambassador minister president chairman chair "
    "declaration convention strategy resolution charter treaty agreement protocol summit session agenda "
    "item measures international national world global religions united east west north south central "
    "asia africa europe america statement".split()
)
_TITLE_WORDS = frozenset(
    "representative ambassador minister president secretary chairman chairperson envoy delegate director "
    "governor prime deputy chief head commissioner adviser advisor consul king queen".split()
)
# Words of a title that may stand before a person's name in one capitalised run.
_LEADING_TITLES = _TITLE_WORDS | frozenset("vice general senator judge justice pope saint sir dame lord lady".split())
_MONTH_WORDS = frozenset(
    "january february march april may june july august september october november december monday tuesday "
    "wednesday thursday friday saturday sunday".split()
)


@lru_cache(maxsize=1)
def _countries() -> frozenset[str]:
    """Country names (ISO 3166 names, common and official, and a few short forms), lower case."""
    import pycountry

    names = {
        "turkey",
        "russia",
        "britain",
        "great britain",
        "england",
        "scotland",
        "wales",
        "usa",
        "u.s.",
        "us",
        "uk",
        "america",
        "united states",
        "syria",
        "iran",
        "vietnam",
        "laos",
        "bolivia",
        "venezuela",
        "tanzania",
        "moldova",
        "palestine",
        "taiwan",
        "north korea",
        "south korea",
        "czech republic",
        "ivory coast",
    }
    for country in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            value = getattr(country, attr, None)
            if value and "," not in value:
                names.add(value.lower())
    return frozenset(names)


@dataclass(frozen=True)
class _Candidate:
    start: int
    end: int
    kind: str


def _runs(text: str) -> list[tuple[int, int]]:
    """Runs of capitalised words (connectors inside, none at the ends), a leading "The" dropped."""
    out = []
    for m in _CAPITAL_RUN.finditer(text):
        a, b = m.start(), m.end()
        tokens = text[a:b]
        while tokens and tokens[-1] in ".,'’":
            b -= 1
            tokens = text[a:b]
        if tokens.startswith(("The ", "A ", "An ")):
            a += tokens.index(" ") + 1
        if a < b:
            out.append((a, b))
    return out


def _sentence_start(text: str, pos: int) -> bool:
    before = text[:pos].rstrip()
    return not before or before[-1] in '.!?:\n"“'


def candidates(text: str, kind: str, question: str = "") -> list[_Candidate]:
    """Every span of ``text`` that could answer a question asking for ``kind``."""
    out: list[_Candidate] = []
    if kind in ("date", "year"):
        pattern = _YEAR if kind == "year" else _DATE
        out = [_Candidate(m.start(), m.end(), kind) for m in pattern.finditer(text)]
    elif kind == "amount":
        out = [_Candidate(m.start(), m.end(), kind) for m in _AMOUNT.finditer(text)]
        if not out:
            out = [c for c in candidates(text, "number", question)]
    elif kind == "number":
        dates = [(m.start(), m.end()) for m in _DATE.finditer(text) if not _YEAR.fullmatch(m.group(0))]
        for m in _NUMBER.finditer(text):
            if any(a <= m.start() < b for a, b in dates) or _NOT_A_COUNT.fullmatch(m.group(0)):
                continue
            out.append(_Candidate(m.start(), m.end(), kind))
        for noun in _class_words(question):
            if noun in ("number", "percentage", "amount", "many", "much"):
                continue
            # "Which resolution ...": "resolution 51/210"; "Which session ...": "sixty-first session".
            noun = noun.rstrip("s")
            ident = re.compile(
                rf"\b{re.escape(noun)}s?\s+(?:No\.\s*)?(\d[\w/.-]*\w|\d)|\b([\w-]+(?:st|nd|rd|th))\s+{re.escape(noun)}s?\b",
                re.I,
            )
            found = [_Candidate(m.start(g), m.end(g), kind) for m in ident.finditer(text) for g in (1, 2) if m.group(g)]
            if found:
                return found
    elif kind in ("person", "post", "organisation", "place", "country"):
        out = _name_candidates(text, kind)
    return out


def _name_candidates(text: str, kind: str) -> list[_Candidate]:
    countries = _countries()
    out: list[_Candidate] = []
    if kind == "country":
        for a, b in _runs(text):
            run = text[a:b]
            for m in re.finditer(r"[A-Z][\w'’.-]*(?:[ \t]+(?:of[ \t]+)?[A-Z][\w'’.-]*)*", run):
                if m.group(0).lower().rstrip(".") in countries:
                    out.append(_Candidate(a + m.start(), a + m.end(), kind))
                elif " of " in m.group(0):  # "President of France": the country a post serves
                    tail = m.group(0).rsplit(" of ", 1)[1]
                    if tail.lower().rstrip(".") in countries:
                        out.append(_Candidate(a + m.end() - len(tail), a + m.end(), kind))
        return _lists(text, out)
    runs = _runs(text)
    if kind != "post":
        runs = [piece for a, b in runs for piece in _pieces(text, a, b)]
    for a, b in runs:
        run = text[a:b]
        tokens = run.split()
        lowered = [t.lower().strip(".,'’") for t in tokens]
        first = _sentence_start(text, a)
        if len(tokens) == 1 and first and not run.isupper():
            continue  # a capitalised first word of a sentence says nothing
        if kind == "post":
            if any(t in _TITLE_WORDS for t in lowered) and len(tokens) >= 2:
                out.append(_Candidate(a, b, kind))
            continue
        if all(t in _MONTH_WORDS or t in stopwords() for t in lowered):
            continue
        is_org = any(t in _ORG_WORDS for t in lowered) or (run.isupper() and len(run) >= 2)
        is_country = run.lower() in countries
        if kind == "organisation" and is_org:
            out.append(_Candidate(a, b, kind))
        elif (
            kind == "place"
            and not is_org
            and not any(t in _NOT_PERSON - {"asia", "africa", "europe", "america"} for t in lowered)
        ):
            before = text[max(0, a - 6) : a].lower()
            if is_country or re.search(r"\b(?:in|at|from|to|near)\s+$", before) or (len(tokens) <= 3 and not first):
                out.append(_Candidate(a, b, kind))
        elif kind == "person" and not is_org and not is_country:
            # "Vice President Lyndon B. Johnson": the titles before a name are not part of it.
            titles = 0
            while titles < len(lowered) - 2 and lowered[titles] in _LEADING_TITLES:
                titles += 1
            if titles:
                a += len(" ".join(tokens[:titles])) + 1
                tokens, lowered = tokens[titles:], lowered[titles:]
            plain = [t for t in lowered if t not in _CONNECTORS]
            particles = sum(t in _NAME_PARTICLES for t in lowered[1:-1])
            if (
                len(plain) + particles == len(lowered)
                and 2 <= len(plain) <= 4
                and not any(t in _NOT_PERSON for t in plain)
            ):
                start = a
                honorific = re.search(rf"{_HONORIFIC.pattern}\s*$", text[max(0, a - 22) : a])
                if honorific:
                    start = max(0, a - 22) + honorific.start()
                out.append(_Candidate(start, b, kind))
    return _lists(text, out) if kind == "place" else out


def _pieces(text: str, a: int, b: int) -> list[tuple[int, int]]:
    """A run cut at the prepositions that end a name ("Second Summit of CICA in Almaty" → "Second Summit of
    CICA", "Almaty"), with leading stopwords dropped ("During the Second Summit" → "Second Summit"), and
    the whole run too."""
    out = []
    start = a
    for m in re.finditer(r"[ \t]+(?:in|at|from|to|and[ \t]+(?:of|in|at|to|for)(?:[ \t]+the)?)[ \t]+", text[a:b]):
        out.append((start, a + m.start()))
        start = a + m.end()
    out.append((start, b))
    trimmed = []
    for x, y in out + ([(a, b)] if len(out) > 1 else []):
        while True:
            m = re.match(r"([A-Za-z]+)[ \t]+", text[x:y])
            if not m or m.group(1).lower() not in stopwords() or m.group(1).isupper():
                break
            x += m.end()
        if x < y:
            trimmed.append((x, y))
    return trimmed


def _lists(text: str, found: list[_Candidate]) -> list[_Candidate]:
    """Consecutive candidates joined by commas and "and" ("Iraq, India and Turkey"), as one more candidate."""
    if len(found) < 2:
        return found
    merged = list(found)
    group = [found[0]]
    for c in found[1:]:
        between = text[group[-1].end : c.start]
        if re.fullmatch(r"\s*(?:,\s*(?:and\s+)?|and\s+|&\s+)", between):
            group.append(c)
            continue
        if len(group) > 1:
            merged.append(_Candidate(group[0].start, group[-1].end, group[0].kind))
        group = [c]
    if len(group) > 1:
        merged.append(_Candidate(group[0].start, group[-1].end, group[0].kind))
    return merged


# ---------------------------------------------------------------------------------------------
# Choosing the span


def _stems(text: str) -> list[tuple[str, int, int]]:
    stop = stopwords()
    stem = stemmer()
    return [(stem.stemWord(w.lower()), a, b) for w, a, b in words(text) if w.lower() not in stop]


def _trim(text: str, c: _Candidate, asked: set[str], class_stems: set[str]) -> _Candidate | None:
    """The candidate without the question's own words at its edges ("Charter of the United Nations" →
    "United Nations" for "Which organization's Charter ..."); None when what is left still repeats the
    question (words naming the answer's class, "congress" in "Which congress ...", may stay)."""
    stem = stemmer()
    tokens = [
        (m.group(0).strip(".,'’"), c.start + m.start(), c.start + m.end())
        for m in _WORD.finditer(text[c.start : c.end])
    ]

    def repeats(word: str) -> bool:
        s = stem.stemWord(word.lower())
        return s in asked and s not in class_stems

    while tokens and (repeats(tokens[0][0]) or tokens[0][0].lower() in _CONNECTORS):
        tokens = tokens[1:]
    while tokens and (repeats(tokens[-1][0]) or tokens[-1][0].lower() in _CONNECTORS):
        tokens = tokens[:-1]
    if not tokens or any(repeats(w) for w, _, _ in tokens if w.lower() not in stopwords()):
        return None
    return _Candidate(tokens[0][1], tokens[-1][2], c.kind)


# Sentences scoring within this of the best count as the highlight (words said differently: "bombings").
_CLOSE_SCORE = 0.05
_NUMERIC = ("date", "year", "month", "number", "amount")


def find_short_answer(
    question: str,
    text: str,
    sentences: Sequence[tuple[int, int, float]],
    kind: str | None = None,
) -> ShortAnswer | None:
    """The span of ``text`` that answers ``question``, or None when the question asks for no short answer
    or the passage holds none that the rules trust.

    Args:
        sentences: the passage's sentences (or any spans of it read as units, a letterhead block
            whole) as ``(start, end, score)``, the score saying how well each answers (the highlight's).
        kind: the kind of answer wanted, when already known (else read from the question).
    """
    kind = kind or answer_kind(question)
    if kind is None or not sentences:
        return None
    stem = stemmer()
    asked = set(terms(question))
    class_stems = {stem.stemWord(w) for w in _class_words(question)}
    plural = any(re.fullmatch(r"\w+(?:ies|[^s']s)", w) for w in _class_words(question))
    best_sentence = max(s for _, _, s in sentences)
    best: tuple[float, _Candidate] | None = None
    for a, b, score in sentences:
        sentence = text[a:b]
        shared = [(x, y) for st, x, y in _stems(sentence) if st in asked]
        if not shared and score < best_sentence - _CLOSE_SCORE:
            continue  # only the highlight (or a sentence as good) may answer without sharing a word
        for c in candidates(sentence, "date" if kind == "month" else kind, question):
            if kind in _NUMERIC:
                span_terms = set(terms(sentence[c.start : c.end]))
                trimmed = None if span_terms & asked - class_stems else c
            else:
                trimmed = _trim(sentence, c, asked, class_stems)
            if trimmed is None:
                continue
            # Closeness to the question's words, in characters (a candidate's own words do not count).
            outside = [(x, y) for x, y in shared if y <= trimmed.start or x >= trimmed.end]
            distance = min((min(abs(trimmed.start - y), abs(x - trimmed.end)) for x, y in outside), default=100)
            value = score - best_sentence + 0.5 * len(shared) / max(len(asked), 1) - distance / 400
            is_list = bool(re.search(r",|\band\b", sentence[trimmed.start : trimmed.end])) and kind in (
                "place",
                "country",
            )
            if is_list:
                value += 0.1 if plural else -0.1
            if best is None or value > best[0] + 1e-9:
                best = (value, _Candidate(trimmed.start + a, trimmed.end + a, kind))
    if best is None or best[0] < -0.35:
        return None
    c = best[1]
    narrow = {"year": _YEAR, "month": re.compile(_MONTH)}.get(kind)
    if narrow is not None:
        part = narrow.search(text, c.start, c.end)
        if part is None:
            return None
        c = _Candidate(part.start(), part.end(), kind)
    span = text[c.start : c.end]
    return ShortAnswer(span, c.start, c.end, kind, _value(span, kind))


def _value(span: str, kind: str) -> str | int | float | None:
    """The normalised value of a date (ISO, when day, month and year are all there) or a number."""
    try:
        if kind == "date":
            return iso_date(span)
        if kind == "year":
            return int(span[:4]) if span[:4].isdigit() else None
        if kind == "number":
            parse_number = _number_parser()
            cleaned = span.replace(",", "")
            if re.fullmatch(r"\d+", cleaned):
                return int(cleaned)
            if re.fullmatch(r"\d+\.\d+", cleaned):
                return float(cleaned)
            parsed = parse_number(span.lower())
            return parsed if isinstance(parsed, int) else None
    except Exception:  # a value is a courtesy: the span stands without it
        return None
    return None


_FULL_DATE = re.compile(
    rf"(?:(?P<month>{_MONTH})\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<year>{_YEAR_RE})"
    rf"|(?P<day2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<month2>{_MONTH}),?\s+(?P<year2>{_YEAR_RE}))"
)
_MONTH_NUMBERS = {m: n for n, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}


def iso_date(span: str) -> str | None:
    """The ISO form of a date span that gives day, month and year ("September 16, 2005", "12 October
    2020"); None for anything less (a month, a year) or a day the month does not have."""
    m = _FULL_DATE.fullmatch(span)
    if m is None:
        return None
    month = (m.group("month") or m.group("month2")).lower()[:3]
    day, year = int(m.group("day") or m.group("day2")), int(m.group("year") or m.group("year2"))
    try:
        return date(year, _MONTH_NUMBERS[month], day).isoformat()
    except ValueError:
        return None


@lru_cache(maxsize=1)
def _number_parser():
    """number-parser's ``parse_number`` with its language tables built once: it builds them anew for each
    of its six languages on every call (about 1 ms, most of a short answer's cost); they are only read."""
    from number_parser import parser

    if not hasattr(parser.LanguageData, "cache_info"):
        parser.LanguageData = lru_cache(maxsize=None)(parser.LanguageData)
    return parser.parse_number
