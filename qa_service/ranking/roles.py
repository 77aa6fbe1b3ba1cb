"""Questions about the speech as a speech: which passage role answers them.

"Who gave this speech?", "When was it delivered?", "What is the envoy's post?" are answered by the
letterhead; "How does the ambassador open?" by the opening; "How does the statement end?" by the
closing. Such questions share few words with those passages, so the ranking routes them: the passages of
the asked role get a bonus (``RankingParams.role_bonus``, measured with ``qa-service eval``). A question
about what the speech says that names the speech or its speaker ("Which bombings does the speaker
mention?") asks for the body: the letterhead loses that bonus, and its words "speaker", "statement" are
not its topic (:func:`topic_words`).
"""

from __future__ import annotations

import re
from functools import lru_cache

from .answer_kinds import QUESTION_CACHE

_SPEECH = (
    r"(?:speech|statement|remarks|address(?:ed|es)?|speaker|envoy|diplomat|ambassador|delegate"
    r"|spoke|speak|delivered|gave|given)"
)
_OPENING = re.compile(
    r"\b(?:open|opens|opening|begin|begins|beginning|start|starts|first\s+words|greet\w*|introduc\w*)\b", re.I
)
_CLOSING = re.compile(
    r"\b(?:end|ends|ending|close|closes|closing|conclud\w*|conclusion|final\s+words|last\s+words|wrap\w*\s+up)\b", re.I
)
_LETTERHEAD = re.compile(
    r"\b(?:who|whom|when|where|name|honorific|title|post|position|job|role|represents?|agenda\s+item)\b"
    r"|\b(?:what|which)\s+(?:date|day|year|country|item)\b",
    re.I,
)
# Questions about what the speech says ("What did the speaker say about ...?", "What role does the speaker
# give to regional bodies?") ask for its body.
_CONTENT = re.compile(
    r"\b(?:say|says|said|mention\w*|think|believe|call\w*|support\w*|want\w*|about)\b|\bgives?\b.*\bto\b", re.I
)
# Words that name the speech or its speaker: in a question about something else they frame it and are
# not its topic ("Which bombings does the speaker mention?" asks about bombings).
_FRAMING = re.compile(
    r"\b(?:speech|statement|remarks|speaker|envoy|diplomat|ambassador|delegate)(?:'s|’s|s)?(?=\W|$)", re.I
)


@lru_cache(maxsize=QUESTION_CACHE)
def asked_role(question: str) -> str | None:
    """The role of the passage that answers a question about the speech itself: ``letterhead``,
    ``opening``, ``closing``, ``body`` (what the speech says, asked with the speech or its speaker named),
    or None."""
    speech = re.search(rf"\b{_SPEECH}\b", question, re.I) is not None
    if _OPENING.search(question) and (speech or re.search(r"\b(?:delegation|chair\w*)\b", question, re.I)):
        return "opening"
    if _CLOSING.search(question) and (speech or re.search(r"\bdelegation\b", question, re.I)):
        return "closing"
    if speech and _LETTERHEAD.search(question):
        return None if _CONTENT.search(question) else "letterhead"
    if speech and _CONTENT.search(question):
        return "body"
    return None


def topic_words(question: str, role: str | None) -> str:
    """The question as the lexical index should read it: without the words that name the speech or its
    speaker when it asks for a passage other than the letterhead, whose description holds them."""
    if role in (None, "letterhead"):
        return question
    return " ".join(_FRAMING.sub(" ", question).split())


# "Which country says ...?", "Who warned that ...?": the one who said what a passage says, whom the passage
# need not name: its document's speaker and country. Verbs of proposing or asking count only before a
# reported clause ("proposed that ...", "called for ..."): "Who proposed the strategy?" asks for a third party.
_ASKS_SPEAKER = re.compile(
    r"^\s*(?:who|which\s+(?:country|countries|nation|state|delegation|leader|government))\b"
    r".*\b(?:(?:say|says|said|argue[sd]?|warn(?:s|ed)?|claim(?:s|ed)?|state[sd]?|declare[sd]?|insist(?:s|ed)?"
    r"|stress(?:es|ed)?|believe[sd]?|want(?:s|ed)?)\b"
    r"|(?:propose[sd]?|ask(?:s|ed)?|call(?:s|ed)?|urge[sd]?|suggest(?:s|ed)?)\s+(?:that|for)\b)",
    re.I,
)


@lru_cache(maxsize=QUESTION_CACHE)
def asks_speaker(question: str) -> bool:
    """Whether a question asks who (which country) said what a passage says."""
    return _ASKS_SPEAKER.search(question) is not None
