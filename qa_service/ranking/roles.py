"""Questions about the speech as a speech: which passage role answers them.

"Who gave this speech?", "When was it delivered?", "What is the envoy's post?" are answered by the
letterhead; "How does the ambassador open?" by the opening; "How does the statement end?" by the
closing. Such questions share few words with those passages, so the ranking routes them: the passages of
the asked role get a bonus (``RankingParams.role_bonus``, measured with ``qa-service eval``).
"""

from __future__ import annotations

import re

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
# Questions about what the speech says ("What did the speaker say about ...?") ask for its body.
_CONTENT = re.compile(r"\b(?:say|says|said|mention\w*|think|believe|call\w*|support\w*|want\w*|about)\b", re.I)


def asked_role(question: str) -> str | None:
    """The role of the passage that answers a question about the speech itself, or None."""
    speech = re.search(rf"\b{_SPEECH}\b", question, re.I) is not None
    if _OPENING.search(question) and (speech or re.search(r"\b(?:delegation|chair\w*)\b", question, re.I)):
        return "opening"
    if _CLOSING.search(question) and (speech or re.search(r"\bdelegation\b", question, re.I)):
        return "closing"
    if speech and _LETTERHEAD.search(question) and not _CONTENT.search(question):
        return "letterhead"
    return None
