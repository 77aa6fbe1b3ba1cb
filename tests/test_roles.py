"""Which passage role a question about the speech asks for, and the words that only frame it."""

from __future__ import annotations

import pytest

from qa_service.ranking.roles import asked_role, asks_speaker, topic_words


@pytest.mark.parametrize(
    ("question", "role"),
    [
        ("Who delivered this statement?", "letterhead"),
        ("When was the speech given?", "letterhead"),
        ("What is the envoy's post?", "letterhead"),
        ("How does the ambassador open his remarks?", "opening"),
        ("Whom does the delegation congratulate at the start?", "opening"),
        ("How does the statement end?", "closing"),
        ("What does the speaker say in conclusion?", "closing"),
        ("Which bombings does the speaker mention?", "body"),
        ("What did the speaker say about the strategy?", "body"),
        # A letterhead word beside a content verb: neither routed nor kept from the letterhead.
        ("What role does the speaker give to regional bodies?", None),
        ("Which agenda item number is the statement about?", None),
        ("What role does the speaker hold?", "letterhead"),
        ("Which countries suffered explosions?", None),
    ],
)
def test_asked_role(question: str, role: str | None) -> None:
    assert asked_role(question) == role


def test_topic_words_drop_the_speech_only_when_another_passage_is_asked_for() -> None:
    question = "Which bombings does the speaker mention?"
    assert topic_words(question, asked_role(question)) == "Which bombings does the mention?"
    assert topic_words("How does the statement end?", "closing") == "How does the end?"
    who = "Who delivered this statement?"
    assert topic_words(who, asked_role(who)) == who
    assert topic_words("Which speeches were cited?", None) == "Which speeches were cited?"


def test_asks_speaker() -> None:
    assert asks_speaker("Who said that terrorism has no religion?")
    assert asks_speaker("Which country called for a convention?")
    assert not asks_speaker("Who proposed the strategy?")
