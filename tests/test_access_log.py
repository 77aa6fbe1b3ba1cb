"""The access logger builds the same line as gunicorn's own from fewer atoms."""

from __future__ import annotations

import datetime
import logging
from types import SimpleNamespace

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger

from qa_service.http.access_log import AccessLogger
from qa_service.http.server import ACCESS_LOG_FORMAT

ENVIRON = {
    "REMOTE_ADDR": "127.0.0.1",
    "REQUEST_METHOD": "POST",
    "RAW_URI": "/api/v1/ask?key=secret",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "PATH_INFO": "/api/v1/ask",
    "QUERY_STRING": "key=secret",
    "HTTP_USER_AGENT": 'curl "quoted"',
    "HTTP_X_OTHER": "x",
    "SERVER_NAME": "localhost",
    "wsgi.multithread": True,
}
REQUEST = SimpleNamespace(headers=[("HOST", "localhost"), ("USER-AGENT", 'curl "quoted"'), ("X-REQUEST-ID", "in")])
RESPONSE = SimpleNamespace(
    status="200 OK",
    sent=4514,
    headers=[("Content-Type", "application/json"), ("X-Request-ID", 'ab"c'), ("X-Frame-Options", "DENY")],
)


def _line(cls: type, log_format: str) -> str:
    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", log_format)
    logger = cls(cfg)
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logger.access_log.handlers = [handler]
    logger.access(RESPONSE, REQUEST, dict(ENVIRON), datetime.timedelta(microseconds=4321))
    return lines[0]


@pytest.mark.parametrize(
    "log_format",
    [
        ACCESS_LOG_FORMAT,
        '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',  # gunicorn's default
        "%({x-request-id}i)s %({content-type}o)s %({server_name}e)s %({missing}o)s %(q)s %(D)s %(L)s",
    ],
)
def test_the_line_is_gunicorns_own(log_format):
    assert _line(AccessLogger, log_format) == _line(Logger, log_format)


def test_the_services_format_shows_the_request_id_and_no_query_string():
    line = _line(AccessLogger, ACCESS_LOG_FORMAT)
    assert 'rid=ab\\"c' in line
    assert "secret" not in line
