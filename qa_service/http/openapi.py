"""The OpenAPI 3.1 document of the JSON API, built from the settings so that limits stay true."""

from __future__ import annotations

from ..ranking import SHORT_ANSWER_KINDS, RankingParams
from ..settings import Settings
from .feedback import MAX_COMMENT_CHARS, MAX_DOCUMENT_CHARS, MAX_PASSAGE
from .validation import FILTER_LIMITS, QUESTION_PATTERN

#: Text without control characters but line breaks and tabs (the rule of a feedback comment).
COMMENT_PATTERN = r"^[^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*$"

_SENTENCE_WEIGHT = RankingParams().sentence_weight
_CENTERING = RankingParams().centering
_SENTENCE_LEXICAL = RankingParams().sentence_lexical_weight


def _error(description: str, headers: dict | None = None) -> dict:
    response = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if headers:
        response["headers"] = headers
    return response


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}}}


def _guard_errors(settings: Settings, protected: bool) -> dict:
    """Responses every guarded route may give: 401 (with a key, on protected routes), 429 (with a rate
    limit) and 503 (always: the in-flight limit)."""
    errors = {
        "503": _error("The worker is answering as many requests as it may; retry after Retry-After.", _RETRY_AFTER)
    }
    if settings.rate_limit:
        errors["429"] = _error(f"Over the rate limit of this client ({settings.rate_limit}).", _RETRY_AFTER)
    if settings.api_key and protected:
        errors["401"] = _error(
            "Missing or wrong API key.",
            {"WWW-Authenticate": {"description": "How to authenticate.", "schema": {"type": "string"}}},
        )
    return errors


def openapi_document(settings: Settings) -> dict:
    """The API description served at ``/api/v1/openapi.json``."""
    question = {
        "type": "string",
        "minLength": 1,
        "maxLength": settings.max_question_chars,
        "pattern": QUESTION_PATTERN,
        "description": "The question in plain language: at least one letter or digit, no NUL character.",
    }
    top_k = {
        "type": "integer",
        "minimum": 1,
        "maximum": settings.max_top_k,
        "default": settings.default_top_k,
        "description": "How many answers to return.",
    }
    guarded = _guard_errors(settings, protected=True)

    def names(most: int, longest: int) -> dict:
        return {
            "oneOf": [
                {"type": "string", "maxLength": longest},
                {"type": "array", "items": {"type": "string", "maxLength": longest}, "maxItems": most},
                {"type": "null"},
            ]
        }

    filters = {
        "document": {
            **names(*FILTER_LIMITS["document"]),
            "description": (
                "Only these documents (ids, as in /api/v1/documents). An id the corpus does not have is refused"
                " with 400 `unknown_document`, its close matches in `error.suggestions`. In a query string:"
                " comma-separated."
            ),
        },
        "country": {
            **names(*FILTER_LIMITS["country"]),
            "description": (
                "Only documents of these countries (ISO codes in the documents' metadata, e.g. KAZ; any case)."
                " A code no document has (or a country's name) is refused with 400 `unknown_country`, the codes"
                " whose code or country name is close in `error.suggestions`. In a query string: comma-separated."
            ),
        },
        "year_from": {
            "type": ["integer", "null"],
            "minimum": 0,
            "maximum": 9999,
            "description": (
                "Only documents of this year or later (documents without a year are left out; a range that "
                "ends before it starts matches nothing)."
            ),
        },
        "year_to": {
            "type": ["integer", "null"],
            "minimum": 0,
            "maximum": 9999,
            "description": "Only documents of this year or earlier.",
        },
        "group_by_document": {
            "type": ["boolean", "null"],
            "default": False,
            "description": (
                "Return the best top_k documents, each answer being a document's best passage with its next"
                " best passages in `more`."
            ),
        },
    }
    errors = {
        "400": _error(
            "Missing, empty or invalid field, a duplicate field, or a body that is not a JSON object; or a"
            " `document` or `country` the corpus does not have (codes `unknown_document`, `unknown_country`:"
            " the request is well formed, the names are not in this corpus; close matches in"
            " `error.suggestions`)."
        ),
        "404": _error("Unknown route."),
        "405": _error("Method not allowed."),
        "413": _error(f"Body over {settings.max_body_bytes} bytes."),
        "415": _error("Body is not application/json."),
        **guarded,
    }
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "statement-qa",
            "version": "1.0.0",
            "description": "Semantic question answering over a corpus of statements: ask a question, get the "
            "passages that answer it, the best sentence highlighted.",
        },
        "paths": {
            "/api/v1/ask": {
                "get": {
                    "summary": "Answer a question (query string)",
                    "operationId": "askGet",
                    "parameters": [
                        {"name": "question", "in": "query", "required": True, "schema": question},
                        {"name": "top_k", "in": "query", "required": False, "schema": top_k},
                        *(
                            {
                                "name": name,
                                "in": "query",
                                "required": False,
                                "schema": _query_schema(name, schema),
                                "description": schema["description"],
                            }
                            for name, schema in filters.items()
                        ),
                    ],
                    "responses": {"200": _ok("#/components/schemas/AskResponse", "Ranked answers."), **errors},
                },
                "post": {
                    "summary": "Answer a question (JSON body)",
                    "operationId": "askPost",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AskRequest"}}},
                    },
                    "responses": {"200": _ok("#/components/schemas/AskResponse", "Ranked answers."), **errors},
                },
            },
            "/api/v1/documents": {
                "get": {
                    "summary": "List the corpus documents",
                    "operationId": "listDocuments",
                    "responses": {"200": _ok("#/components/schemas/DocumentList", "Every document."), **guarded},
                }
            },
            "/api/v1/documents/{id}": {
                "get": {
                    "summary": "One document with its passages",
                    "operationId": "getDocument",
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": _ok("#/components/schemas/DocumentDetail", "The document."),
                        "404": _error("No such document."),
                        **guarded,
                    },
                }
            },
            "/api/v1/feedback": {
                "post": {
                    "summary": "Mark an answer helpful or not",
                    "operationId": "postFeedback",
                    "description": "A reader's mark of one answer of `ask`: the question, the answer's "
                    "`source.document` and `source.passage`, and whether it helped. Marks become labelled "
                    "questions with `qa-service feedback export`.",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FeedbackRequest"}}},
                    },
                    "responses": {
                        "201": _ok("#/components/schemas/FeedbackCreated", "The mark is stored."),
                        **errors,
                        "400": _error(
                            "Missing or invalid field, a field the API does not know, or a document or passage "
                            "the index does not have."
                        ),
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1 document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **_guard_errors(settings, protected=False),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness",
                    "operationId": "healthz",
                    "responses": {"200": _ok("#/components/schemas/Health", "The process answers.")},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness",
                    "operationId": "readyz",
                    "responses": {
                        "200": _ok("#/components/schemas/Ready", "The index is loaded."),
                        "503": _ok(
                            "#/components/schemas/Ready",
                            "This worker's threads and queue are full (status `busy`, with Retry-After).",
                        ),
                    },
                }
            },
        },
        "components": {"schemas": _schemas(question, top_k, settings, filters)},
    }
    if settings.metrics:
        document["paths"]["/metrics"] = {
            "get": {
                "summary": "Prometheus metrics (text format), summed over the workers",
                "operationId": "metrics",
                "responses": {
                    "200": {
                        "description": "Request counts and latencies, encoder time, no-answer and refusal "
                        "counts, index size, feedback counts.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **({"401": guarded["401"]} if "401" in guarded else {}),
                },
            }
        }
    if settings.api_key:
        document["components"]["securitySchemes"] = {
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "bearer": {"type": "http", "scheme": "bearer"},
        }
        document["security"] = [{"apiKey": []}, {"bearer": []}]
        for path in ("/healthz", "/readyz"):
            document["paths"][path]["get"]["security"] = []
    return document


def _query_schema(name: str, schema: dict) -> dict:
    """A filter's schema in a query string: lists are comma-separated there."""
    if name in FILTER_LIMITS:
        most, longest = FILTER_LIMITS[name]
        return {
            "type": "string",
            "minLength": 1,
            "pattern": f"^[^,]{{0,{longest}}}(,[^,]{{0,{longest}}}){{0,{most - 1}}}$",
        }
    kept = {k: v for k, v in schema.items() if k != "description"}
    kept["type"] = [t for t in kept["type"] if t != "null"][0]  # a query string has no null
    return kept


def _ok(ref: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": ref}}}}


def _schemas(question: dict, top_k: dict, settings: Settings, filters: dict) -> dict:
    integer_pair = {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}
    passage_kind = {
        "type": "string",
        "enum": ["paragraph", "block", "metadata"],
        "description": "`paragraph`: a paragraph of the text; `block`: a letterhead (speaker, post, date) as laid "
        "out; `metadata`: the document's details (speaker, post, country, session, date) written as a sentence "
        "from its metadata, not taken from its text (its lines and chars are [0, 0]).",
    }
    document_fields = {
        "id": {"type": "string"},
        "title": {"type": "string"},
        "path": {"type": "string", "description": "The source file, relative to the corpus folder."},
        "metadata": {"type": "object", "description": "Front matter or sidecar metadata (speaker, date, ...)."},
    }
    return {
        "AskRequest": {
            "type": "object",
            "required": ["question"],
            "additionalProperties": False,
            "properties": {
                "question": question,
                "top_k": {
                    **top_k,
                    "type": ["integer", "null"],
                    "description": "How many answers to return (null: the default).",
                },
                **filters,
            },
        },
        "AskResponse": {
            "type": "object",
            "required": ["question", "answers", "no_answer", "took_ms"],
            "additionalProperties": False,
            "properties": {
                "question": {"type": "string"},
                "answers": {"type": "array", "items": {"$ref": "#/components/schemas/Answer"}},
                "no_answer": {
                    "type": "boolean",
                    "description": "True when the corpus does not seem to answer (the closest passages are "
                    "still listed): the best passage cosine (`scores.dense` of the closest passage) is below "
                    f"{settings.no_answer_threshold}, or the question names something the corpus never mentions "
                    "(a capitalised name, a year, a figure), or it asks for a number or a date ('how many', "
                    "'when') and the best passage holds none. Calibrated with `qa-service eval --calibrate`.",
                },
                "took_ms": {"type": "number", "description": "Time spent answering, in milliseconds."},
            },
        },
        "ShortAnswer": {
            "type": "object",
            "required": ["text", "start", "end", "kind"],
            "description": "A span of the passage: `text` = passage text[start:end] (Unicode code points).",
            "properties": {
                "text": {"type": "string"},
                "start": {"type": "integer", "minimum": 0},
                "end": {"type": "integer", "minimum": 0},
                "kind": {
                    "type": "string",
                    "enum": list(SHORT_ANSWER_KINDS),
                    "description": "What the question asked for.",
                },
                "value": {
                    "description": "The span's value when it reads as one: an ISO date (YYYY-MM-DD) for a full "
                    "date, an integer for a year or a number ('twelve' → 12); otherwise null.",
                    "oneOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}],
                },
            },
        },
        "Answer": {
            "type": "object",
            "required": ["score", "text", "highlight", "source"],
            "properties": {
                "rank": {"type": "integer", "minimum": 1},
                "score": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 1,
                    "description": "Ranking score in [0, 1], on the same scale for every question: "
                    f"{settings.dense_weight} × semantic + {round(1 - settings.dense_weight, 4)} × lexical, where "
                    f"semantic = {round(1 - _SENTENCE_WEIGHT, 4)} × passage cosine + {_SENTENCE_WEIGHT} × "
                    f"best-sentence cosine, each cosine less {_CENTERING} × that text's dot product with the "
                    "average of the corpus's passage vectors (what every passage shares; below 0 counts as 0) "
                    f"and lexical = {round(1 - _SENTENCE_LEXICAL, 4)} × BM25 ÷ the sum of the IDFs of the question's "
                    "content words, capped at 1 (1 ≈ every content word of the question present), + "
                    f"{_SENTENCE_LEXICAL} × the IDF-weighted share of those words the best sentence holds. "
                    "Unrelated text scores near 0; higher is better, and scores of different questions can be "
                    "compared.",
                },
                "text": {"type": "string", "description": "The passage, line wraps joined."},
                "highlight": {
                    "type": "object",
                    "required": ["text", "start", "end"],
                    "description": "The sentence that best answers: text[start:end].",
                    "properties": {
                        "text": {"type": "string"},
                        "start": {"type": "integer", "minimum": 0},
                        "end": {"type": "integer", "minimum": 0},
                    },
                },
                "answer": {
                    "oneOf": [{"$ref": "#/components/schemas/ShortAnswer"}, {"type": "null"}],
                    "description": "The short answer: the span of `text` that answers a question asking for a "
                    "date, a year, a month, a number or an amount, a person, a post, an organisation, a place "
                    "or a country ('When did Kazakhstan accede to ...?' → 'September 16, 2005'). Found by "
                    "rules over the question's wording and the passage's best sentences; null when the question "
                    "asks for no such thing, when the rules are unsure (no span rather than a wrong one), and "
                    "on every answer of a result flagged `no_answer`.",
                },
                "source": {
                    "type": "object",
                    "required": ["document", "title", "passage", "lines"],
                    "properties": {
                        "document": {"type": "string"},
                        "title": {"type": "string"},
                        "passage": {"type": "integer", "minimum": 1},
                        "kind": passage_kind,
                        "lines": {
                            **integer_pair,
                            "description": "First and last line in the source file (1-based); [0, 0] for a "
                            "`metadata` passage, which is not in the file.",
                        },
                        "chars": {
                            **integer_pair,
                            "description": "Half-open character range in the source file; [0, 0] for a "
                            "`metadata` passage.",
                        },
                        "metadata": {
                            "type": "object",
                            "description": (
                                "The document's metadata: title, country, session, year, speaker, post, ... "
                                "as the corpus gives them."
                            ),
                        },
                        "country": {
                            "type": ["object", "null"],
                            "description": "The document's country, null when its metadata gives no code: its ISO "
                            "code, its name (the metadata's country_name, else the code's ISO 3166 name; null "
                            "when neither) and the label the page shows.",
                            "properties": {
                                "code": {"type": "string"},
                                "name": {"type": ["string", "null"]},
                                "label": {"type": "string"},
                            },
                        },
                    },
                },
                "more": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/Answer"},
                    "description": "With group_by_document: the document's next best passages (without rank).",
                },
                "scores": {
                    "type": "object",
                    "description": "The parts of the score: dense = cosine similarity of question and passage "
                    "(-1..1; unrelated text sits near 0, close paraphrases above 0.6), sentence = cosine of the "
                    "best sentence, lexical = raw BM25 score (0 = no content word shared; grows with the rarity "
                    "and number of shared words).",
                    "properties": {
                        "dense": {"type": "number"},
                        "lexical": {"type": "number"},
                        "sentence": {"type": "number"},
                    },
                },
                "matched_terms": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Words of the passage that match the question's content words (same stem).",
                },
            },
        },
        "DocumentSummary": {
            "type": "object",
            "required": ["id", "title", "passages"],
            "properties": {**document_fields, "passages": {"type": "integer", "minimum": 0}},
        },
        "DocumentList": {
            "type": "object",
            "required": ["documents"],
            "properties": {"documents": {"type": "array", "items": {"$ref": "#/components/schemas/DocumentSummary"}}},
        },
        "DocumentDetail": {
            "type": "object",
            "required": ["id", "title", "passages"],
            "properties": {
                **document_fields,
                "passages": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["number", "text", "lines"],
                        "properties": {
                            "number": {"type": "integer", "minimum": 1},
                            "text": {"type": "string"},
                            "kind": passage_kind,
                            "lines": integer_pair,
                            "chars": integer_pair,
                        },
                    },
                },
            },
        },
        "Health": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
        "Ready": {
            "type": "object",
            "required": ["status", "documents", "passages", "model", "index_built_at"],
            "properties": {
                "status": {"type": "string", "enum": ["ready", "busy"]},
                "documents": {"type": "integer"},
                "passages": {"type": "integer"},
                "model": {"type": "string"},
                "index_built_at": {"type": "string"},
                "version": {"type": "string"},
            },
        },
        "FeedbackRequest": {
            "type": "object",
            "required": ["question", "document", "passage", "helpful"],
            "additionalProperties": False,
            "properties": {
                "question": {**question, "description": "The question as it was asked."},
                "document": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_DOCUMENT_CHARS,
                    "description": "The answer's `source.document` (a document id).",
                },
                "passage": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_PASSAGE,
                    "description": "The answer's `source.passage` (its number in the document).",
                },
                "helpful": {"type": "boolean", "description": "Whether the passage answered the question."},
                "comment": {
                    "type": ["string", "null"],
                    "maxLength": MAX_COMMENT_CHARS,
                    "pattern": COMMENT_PATTERN,
                    "description": "An optional remark (no control characters but line breaks and tabs).",
                },
            },
        },
        "FeedbackCreated": {
            "type": "object",
            "required": ["id"],
            "additionalProperties": False,
            "properties": {"id": {"type": "integer", "minimum": 1, "description": "The stored mark's id."}},
        },
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message", "request_id"],
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "suggestions": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "With `unknown_document` or `unknown_country`: the corpus's ids or "
                            "codes close to what was asked, best first (may be empty).",
                        },
                        "request_id": {
                            "type": "string",
                            "description": "The request's id, also in the X-Request-ID header and the access "
                            "log: the client's own X-Request-ID when valid (printable ASCII, no spaces, at most "
                            "128 characters), else one the service made.",
                        },
                    },
                }
            },
        },
    }
