"""structlog set up once: JSON lines when stderr is not a terminal, readable lines when it is.

Events carry bound context (`feed`, `item`, `watchlist`, `endpoint`). A redaction step masks any
value whose key names a secret, and credentials inside URLs, so secrets never reach a log.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

_SECRET_KEYS = re.compile(r"secret|password|token|authorization|api_key", re.IGNORECASE)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)
_WEBHOOK_SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+")


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


def choose_renderer(fmt: str, stream: TextIO) -> Any:
    use_console = fmt == "console" or (fmt == "auto" and stream.isatty())
    if use_console:
        return structlog.dev.ConsoleRenderer(colors=stream.isatty())
    return structlog.processors.JSONRenderer(ensure_ascii=False)


def configure_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    out = stream or sys.stderr
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            structlog.processors.format_exc_info,
            choose_renderer(fmt, out),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )


def get_logger(**context: Any) -> Any:
    return structlog.get_logger("wirewatch").bind(**context)
