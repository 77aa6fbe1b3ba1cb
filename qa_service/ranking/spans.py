"""Candidate spans of each kind in a text: dates, years, numbers and amounts by pattern, and runs of
capitalised words sorted into people, organisations, places and countries (ISO 3166 names from
``pycountry``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .answer_kinds import class_words
from .bm25 import stopwords

MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?"
)
YEAR_RE = r"(?:1[0-9]{3}|20[0-9]{2})"
_DATE = re.compile(
    rf"\b(?:{MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+{YEAR_RE}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{MONTH},?\s+{YEAR_RE}"
    rf"|{MONTH},?\s+{YEAR_RE}"
    rf"|{MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?\b"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{MONTH}"
    rf"|{MONTH}(?:\s+(?:this|last|next)\s+year)?"
    rf"|(?:the\s+)?(?:early|mid|late)[\s-]+(?:{YEAR_RE}s|\d0s)"
    rf"|(?:the\s+)?\d{{1,2}}(?:st|nd|rd|th)[\s-]+(?:century|centuries)(?:\s+(?:BC|AD|BCE|CE))?"
    rf"|(?:AD|BC)\s+\d{{1,4}}|\d{{1,4}}\s+(?:BC|AD|BCE|CE)\b"
    rf"|{YEAR_RE}s?(?:\s*(?:-|–|to|and)\s*{YEAR_RE})?)\b"
)
YEAR = re.compile(rf"\b{YEAR_RE}s?\b")
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
CONNECTORS = {
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
class Candidate:
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


# "How many resolutions ...": a question that counts.
_HOW_MANY = re.compile(r"\bhow\s+many\b", re.I)
# "resolution 51/210", "item 100", "No. 5": a number that names something rather than counting it.
_NAMES_IT = re.compile(
    r"\b(?:resolutions?|items?|articles?|paragraphs?|chapters?|sections?|decisions?|amendments?|no\.|nos\.)\s*$",
    re.I,
)


def candidates(text: str, kind: str, question: str = "") -> tuple[Candidate, ...]:
    """Every span of ``text`` that could answer a question asking for ``kind``."""
    # Only a number's candidates depend on the question: on its class words and whether it counts.
    if kind in ("number", "amount"):
        return _candidates(text, kind, class_words(question), _HOW_MANY.search(question) is not None)
    return _candidates(text, kind, (), False)


@lru_cache(maxsize=2048)  # the sentences of the passages that answer recur from question to question
def _candidates(text: str, kind: str, nouns: tuple[str, ...], counted: bool) -> tuple[Candidate, ...]:
    out: list[Candidate] = []
    if kind in ("date", "year"):
        pattern = YEAR if kind == "year" else _DATE
        out = [Candidate(m.start(), m.end(), kind) for m in pattern.finditer(text)]
    elif kind == "amount":
        out = [Candidate(m.start(), m.end(), kind) for m in _AMOUNT.finditer(text)]
        if not out:
            return _candidates(text, "number", nouns, counted)
    elif kind == "number":
        dates = [(m.start(), m.end()) for m in _DATE.finditer(text) if not YEAR.fullmatch(m.group(0))]
        for m in _NUMBER.finditer(text):
            if any(a <= m.start() < b for a, b in dates) or _NOT_A_COUNT.fullmatch(m.group(0)):
                continue
            if counted and _NAMES_IT.search(text, max(0, m.start() - 20), m.start()):
                continue  # "How many resolutions ...?" is not answered by "resolution 51/210"
            out.append(Candidate(m.start(), m.end(), kind))
        for noun in nouns:
            if noun in ("number", "percentage", "amount", "many", "much"):
                continue
            # "Which resolution ...": "resolution 51/210"; "Which session ...": "sixty-first session".
            noun = noun.rstrip("s")
            ident = re.compile(
                rf"\b{re.escape(noun)}s?\s+(?:No\.\s*)?(\d[\w/.-]*\w|\d)|\b([\w-]+(?:st|nd|rd|th))\s+{re.escape(noun)}s?\b",
                re.I,
            )
            found = [Candidate(m.start(g), m.end(g), kind) for m in ident.finditer(text) for g in (1, 2) if m.group(g)]
            if found:
                return tuple(found)
    elif kind in ("person", "post", "organisation", "place", "country"):
        out = _name_candidates(text, kind)
    return tuple(out)


def _name_candidates(text: str, kind: str) -> list[Candidate]:
    countries = _countries()
    out: list[Candidate] = []
    if kind == "country":
        for a, b in _runs(text):
            run = text[a:b]
            for m in re.finditer(r"[A-Z][\w'’.-]*(?:[ \t]+(?:of[ \t]+)?[A-Z][\w'’.-]*)*", run):
                if m.group(0).lower().rstrip(".") in countries:
                    out.append(Candidate(a + m.start(), a + m.end(), kind))
                elif " of " in m.group(0):  # "President of France": the country a post serves
                    tail = m.group(0).rsplit(" of ", 1)[1]
                    if tail.lower().rstrip(".") in countries:
                        out.append(Candidate(a + m.end() - len(tail), a + m.end(), kind))
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
                out.append(Candidate(a, b, kind))
            continue
        if all(t in _MONTH_WORDS or t in stopwords() for t in lowered):
            continue
        is_org = any(t in _ORG_WORDS for t in lowered) or (run.isupper() and len(run) >= 2)
        is_country = run.lower() in countries
        if kind == "organisation" and is_org:
            out.append(Candidate(a, b, kind))
        elif (
            kind == "place"
            and not is_org
            and not any(t in _NOT_PERSON - {"asia", "africa", "europe", "america"} for t in lowered)
        ):
            before = text[max(0, a - 6) : a].lower()
            if is_country or re.search(r"\b(?:in|at|from|to|near)\s+$", before) or (len(tokens) <= 3 and not first):
                out.append(Candidate(a, b, kind))
        elif kind == "person" and not is_org and not is_country:
            # "Vice President Lyndon B. Johnson": the titles before a name are not part of it.
            titles = 0
            while titles < len(lowered) - 2 and lowered[titles] in _LEADING_TITLES:
                titles += 1
            if titles:
                a += len(" ".join(tokens[:titles])) + 1
                tokens, lowered = tokens[titles:], lowered[titles:]
            plain = [t for t in lowered if t not in CONNECTORS]
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
                out.append(Candidate(start, b, kind))
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


def _lists(text: str, found: list[Candidate]) -> list[Candidate]:
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
            merged.append(Candidate(group[0].start, group[-1].end, group[0].kind))
        group = [c]
    if len(group) > 1:
        merged.append(Candidate(group[0].start, group[-1].end, group[0].kind))
    return merged


def holds_kind(text: str, kind: str) -> bool:
    """Whether ``text`` holds any candidate of ``kind`` at all, near the question's words or not."""
    return bool(candidates(text, kind))
