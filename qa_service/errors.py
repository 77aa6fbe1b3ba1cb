"""The errors a request can meet, as types: each carries its HTTP status, a stable code, a message for
people and its headers. ``http/errors.py`` turns them into responses in one place."""

from __future__ import annotations


class ApiError(Exception):
    """A request the service refuses, with its status, a stable code, a message for people, headers and,
    for a value the service does not know, the close ones it does (``suggestions``)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        suggestions: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.suggestions = list(suggestions) if suggestions is not None else None


class BadRequest(ApiError):
    """The request is malformed or a field has a value the service does not accept."""

    def __init__(self, code: str, message: str, suggestions: list[str] | None = None) -> None:
        super().__init__(400, code, message, suggestions=suggestions)


class Unauthorized(ApiError):
    """The JSON API needs a key and the request has none, or the wrong one."""

    def __init__(self, message: str) -> None:
        super().__init__(401, "unauthorized", message, {"WWW-Authenticate": 'Bearer realm="statement-qa"'})


class Overloaded(ApiError):
    """The worker is answering as many requests as it may; the client should come back shortly."""

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__(
            503,
            "overloaded",
            f"The service is busy answering other requests; retry in {retry_after} s.",
            {"Retry-After": str(retry_after)},
        )
