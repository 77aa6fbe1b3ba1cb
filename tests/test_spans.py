"""Candidate spans of each kind in a text (qa_service/ranking/spans.py)."""

from __future__ import annotations

from qa_service.ranking.spans import candidates


def test_titles_before_a_name_are_not_the_name() -> None:
    text = "On April 20, Kennedy sent a memo to Vice President Lyndon B. Johnson, asking him to look into it."
    found = [text[c.start : c.end] for c in candidates(text, "person")]
    assert any(f.endswith("Lyndon B. Johnson") and "Vice" not in f for f in found)


def test_candidates_of_each_kind() -> None:
    text = "On 12 October 2020 the Security Council met in Geneva; 1,500 people and US$ 2 million were there."
    spans = lambda kind: [text[c.start : c.end] for c in candidates(text, kind)]  # noqa: E731
    assert "12 October 2020" in spans("date")
    assert "Security Council" in spans("organisation")
    assert "Geneva" in spans("place")
    assert "1,500" in spans("number")
    assert any("2 million" in s for s in spans("amount"))


def test_a_number_that_names_something_does_not_count() -> None:
    text = "It recalls resolution 51/210 and agenda item 100, and the twelve conventions in force."

    def found(question: str) -> list[str]:
        return [text[c.start : c.end] for c in candidates(text, "number", question)]

    assert found("How many resolutions has the Assembly adopted?") == ["twelve"]
    assert found("Which resolution does it recall?") == ["51/210"]
