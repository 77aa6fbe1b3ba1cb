"""Request validation, without Flask or the model."""

from __future__ import annotations

import pytest

from qa_service.errors import BadRequest
from qa_service.http.validation import parse_ask_args, parse_ask_json, validate_question

LIMITS = (3, 20, 1000)


def test_valid_json():
    req = parse_ask_json({"question": "  Who spoke?  ", "top_k": 5}, *LIMITS)
    assert (req.question, req.top_k) == ("Who spoke?", 5)


def test_default_top_k():
    assert parse_ask_json({"question": "Who?"}, *LIMITS).top_k == 3
    assert parse_ask_json({"question": "Who?", "top_k": None}, *LIMITS).top_k == 3
    assert parse_ask_args({"question": ["Who?"]}, *LIMITS).top_k == 3


@pytest.mark.parametrize(
    "body, code",
    [
        ([], "invalid_body"),
        ("question", "invalid_body"),
        ({}, "missing_question"),
        ({"question": None}, "missing_question"),
        ({"question": ""}, "empty_question"),
        ({"question": "   \n\t "}, "empty_question"),
        ({"question": "?!"}, "empty_question"),
        ({"question": 42}, "invalid_question"),
        ({"question": ["a"]}, "invalid_question"),
        ({"question": {"q": "a"}}, "invalid_question"),
        ({"question": "x" * 1001}, "question_too_long"),
        ({"question": "a\x00b"}, "invalid_question"),
        ({"question": "ok", "top_k": 0}, "invalid_top_k"),
        ({"question": "ok", "top_k": 21}, "invalid_top_k"),
        ({"question": "ok", "top_k": -1}, "invalid_top_k"),
        ({"question": "ok", "top_k": 2.5}, "invalid_top_k"),
        ({"question": "ok", "top_k": 3.5}, "invalid_top_k"),
        ({"question": "ok", "top_k": 21.0}, "invalid_top_k"),
        ({"question": "ok", "top_k": "3"}, "invalid_top_k"),
        ({"question": "ok", "top_k": True}, "invalid_top_k"),
        ({"question": "ok", "top_k": 10**30}, "invalid_top_k"),
        ({"question": "ok", "topk": 3}, "unknown_field"),
    ],
)
def test_invalid_json(body, code):
    with pytest.raises(BadRequest) as info:
        parse_ask_json(body, *LIMITS)
    assert info.value.code == code
    assert info.value.status == 400
    assert info.value.message


def test_integral_number_is_an_integer():
    # JSON has one number type and JSON Schema's "integer" accepts 3.0, so the API does too.
    assert parse_ask_json({"question": "ok", "top_k": 3.0}, *LIMITS).top_k == 3
    assert parse_ask_json({"question": "ok", "top_k": None}, *LIMITS).top_k == 3


def test_question_at_the_limit_is_accepted():
    assert len(validate_question("y" * 1000, 1000)) == 1000


@pytest.mark.parametrize(
    "args, code",
    [
        ({}, "missing_question"),
        ({"question": [""]}, "empty_question"),
        ({"question": ["a", "b"]}, "invalid_question"),
        ({"question": ["ok"], "top_k": ["x"]}, "invalid_top_k"),
        ({"question": ["ok"], "top_k": ["1.5"]}, "invalid_top_k"),
        ({"question": ["ok"], "top_k": ["0"]}, "invalid_top_k"),
        ({"question": ["ok"], "top_k": ["99"]}, "invalid_top_k"),
        ({"question": ["ok"], "top_k": ["1", "2"]}, "invalid_top_k"),
    ],
)
def test_invalid_args(args, code):
    with pytest.raises(BadRequest) as info:
        parse_ask_args(args, *LIMITS)
    assert info.value.code == code


def test_args_top_k():
    assert parse_ask_args({"question": ["ok"], "top_k": [" 7 "]}, *LIMITS).top_k == 7
