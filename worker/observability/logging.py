"""structlog set up once: JSON lines when stderr is not a terminal, readable lines when it is.

Events carry bound context (`feed`, `item`, `watchlist`, `endpoint`), and every record the role
and pid of its process. The standard library's logging (httpx, trafilatura, redis) goes through
the same steps, so JSON output stays JSON. A redaction step masks any value whose key names a
secret, and credentials inside URLs, so secrets never reach a log; fields with no value are left
out. Each record is written whole (`logwriter.py`).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from worker.observability.logwriter import RecordLoggerFactory, RecordWriter, is_terminal

_SECRET_KEYS = re.compile(r"secret|password|token|authorization|api_key", re.IGNORECASE)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)
_WEBHOOK_SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+")
_CHATTY_LIBRARIES = ("httpx", "httpcore")


def redact_value(value: Any) -> Any:
    if isinstance(value, str):
        value = _URL_CREDENTIALS.sub(r"\g<scheme>***@", value)
        return _WEBHOOK_SECRET.sub("whsec_***", value)
    return value


def redact_secrets(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask secret-named keys and credentials embedded in strings."""
    for key, value in list(event.items()):
        event[key] = "***" if _SECRET_KEYS.search(key) else redact_value(value)
    return event


def drop_empty(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: leave out fields with nothing in them (None, "", [], {})."""
    for key, value in list(event.items()):
        if value is None or (isinstance(value, str | list | tuple | dict) and not value):
            del event[key]
    return event


def identify_process(role: str | None) -> Any:
    """structlog processor adding the role (`scheduler`, `worker`, `run`, ...) and the pid to
    every record, so the interleaved output of `wirewatch run` can be told apart."""

    def add(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
        if role:
            event["role"] = role
        event["pid"] = os.getpid()  # read each time: a forked child has its own
        return event

    return add


def writes_json(fmt: str, stream: TextIO) -> bool:
    """Whether records on `stream` are JSON lines (else readable lines for a terminal)."""
    return not (fmt == "console" or (fmt == "auto" and is_terminal(stream)))


def choose_renderer(fmt: str, stream: TextIO) -> Any:
    if not writes_json(fmt, stream):
        return structlog.dev.ConsoleRenderer(colors=is_terminal(stream))
    return structlog.processors.JSONRenderer(ensure_ascii=False)


def configure_logging(
    level: str = "info", fmt: str = "auto", stream: TextIO | None = None, role: str | None = None
) -> None:
    """Send wirewatch's records and the standard library's (httpx, trafilatura, redis, ...)
    through one chain to `stream` (stderr by default): one format, secrets masked, role and pid
    on every line, each record written whole."""
    out = stream or sys.stderr
    writer = RecordWriter(out)
    threshold = logging.getLevelName(level.upper())
    renderer = choose_renderer(fmt, out)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            *_common_steps(role),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=RecordLoggerFactory(writer),
        cache_logger_on_first_use=False,
    )
    _route_standard_logging(writer, threshold, role, renderer)


def _common_steps(role: str | None) -> list[Any]:
    return [
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        identify_process(role),
        redact_secrets,
        drop_empty,
        structlog.processors.format_exc_info,
    ]


class _StandardHandler(logging.Handler):
    """Writes the standard library's records, formatted by structlog, through our writer."""

    def __init__(self, writer: RecordWriter, level: int) -> None:
        super().__init__(level)
        self.writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.writer.write_record(self.format(record))
        except Exception:  # logging must never take the process down
            self.handleError(record)


def _route_standard_logging(
    writer: RecordWriter, threshold: int, role: str | None, renderer: Any
) -> None:
    handler = _StandardHandler(writer, threshold)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *_common_steps(role),
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StandardHandler)]:
        root.removeHandler(old)  # configured again (tests, a reload): one handler, not two
    root.addHandler(handler)
    root.setLevel(threshold)
    # httpx logs every request at info; wirewatch logs its own fetches, so keep theirs to
    # warnings unless debugging.
    for chatty in _CHATTY_LIBRARIES:
        logging.getLogger(chatty).setLevel(max(threshold, logging.WARNING))


def get_logger(**context: Any) -> Any:
    return structlog.get_logger("wirewatch").bind(**context)
