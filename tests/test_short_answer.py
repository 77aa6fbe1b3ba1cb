"""Short answers (qa_service/ranking/short_answer.py): the chosen span and its value."""

from __future__ import annotations

import pytest

from qa_service.ranking.short_answer import find_short_answer, iso_date


def _one(question: str, text: str):
    return find_short_answer(question, text, [(0, len(text), 0.5)])


def test_a_date_and_its_iso_value() -> None:
    text = "Kazakhstan acceded to the International Convention on September 16, 2005."
    span = _one("When did Kazakhstan accede to the International Convention?", text)
    assert (span.text, span.value, span.kind) == ("September 16, 2005", "2005-09-16", "date")
    assert text[span.start : span.end] == span.text


@pytest.mark.parametrize(
    "span, value",
    [
        ("September 16, 2005", "2005-09-16"),
        ("12 October 2020", "2020-10-12"),
        ("3rd of Sept. 1999", "1999-09-03"),
        ("September this year", None),  # no year, no value
        ("in the 1880s", None),  # a decade is not a day
        ("1880s", None),
        ("31 February 2020", None),  # no such day
    ],
)
def test_a_dates_value_needs_day_month_and_year(span, value) -> None:
    assert iso_date(span) == value


def test_a_year_is_cut_out_of_a_date() -> None:
    span = _one("In what year did Kazakhstan accede?", "Kazakhstan acceded on 16 September 2005.")
    assert (span.text, span.value) == ("2005", 2005)


def test_the_number_next_to_the_asked_noun_wins() -> None:
    text = "Today there are 18 members and 8 observer-countries in CICA."
    assert _one("How many members does CICA have?", text).text == "18"
    assert _one("How many observer countries does CICA have?", text).text == "8"
    assert _one("How many conventions?", "all twelve conventions").value == 12


def test_an_identifier_named_by_the_question() -> None:
    text = "It was carried out by an Ad Hoc Committee established by the General Assembly resolution 51/210."
    assert _one("Which resolution established the Ad Hoc Committee?", text).text == "51/210"


def test_a_name_the_question_already_says_is_not_the_answer() -> None:
    text = "It was carried out by an Ad Hoc Committee established by the General Assembly resolution 51/210."
    assert _one("Which body drafted the convention?", text).text == "Ad Hoc Committee"
    assert _one("Which body established the Ad Hoc Committee?", text).text == "General Assembly"


def test_places_lists_and_countries() -> None:
    text = "Explosions in Iraq, India and Turkey and an aborted London terror plot show the threat is growing."
    assert _one("In which countries did the explosions occur?", text).text == "Iraq, India and Turkey"
    assert _one("In which city was the aborted terror plot?", text).text == "London"
    summit = "During the Second Summit of CICA in Almaty this year, its participants adopted a declaration."
    assert _one("Where was the Second Summit of CICA held?", summit).text == "Almaty"


def test_a_person_with_honorific() -> None:
    text = "Statement by H.E. Yerzhan Kazykhanov,\nPermanent Representative of the Republic of Kazakhstan"
    assert _one("Who delivered the statement?", text).text == "H.E. Yerzhan Kazykhanov"


def test_a_person_whose_name_has_a_particle() -> None:
    text = "Statement by Lula da Silva, President of Brazil, at the general debate, in 2024."
    assert _one("Who addressed the General Assembly on behalf of Brazil in 2024?", text).text == "Lula da Silva"
    text = "Statement by Ursula von der Leyen, President of the European Commission."
    assert _one("Who gave the statement?", text).text == "Ursula von der Leyen"


def test_the_country_a_post_serves() -> None:
    text = "Statement by Emmanuel Macron, President of France, at the general debate, in 2024."
    assert _one("Which country did Emmanuel Macron speak for?", text).text == "France"


def test_no_span_when_the_passage_has_none_of_the_kind() -> None:
    text = "We strongly believe that our work during this session will be successful."
    assert _one("When will the session end?", text) is None
    assert _one("Who chairs the session?", text) is None
    assert _one("Why is the work successful?", text) is None
