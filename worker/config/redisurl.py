"""Checks on a `redis_url` that redis-py would only reject when it first connects.

redis-py reads the database number from the path (`redis://host/3`) or a `db` query parameter and
the port from the netloc; a typo there (`/10x`, `:63790x`) would pass `wirewatch check` and fail
only when a role starts. Checked here, the error names the config line instead.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

REDIS_SCHEMES = ("redis", "rediss", "unix")


def check_redis_url(url: str) -> str:
    """`url` when it is a Redis URL redis-py can use; ValueError saying what is wrong otherwise."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in REDIS_SCHEMES:
        raise ValueError(
            "must start with redis://, rediss://, unix://, redis+cluster:// or rediss+cluster://"
        )
    if scheme == "unix":
        if not parts.path:
            raise ValueError("a unix:// URL needs the socket's path (unix:///run/redis.sock)")
    else:
        _check_port(url)
        _check_database(parts.path.removeprefix("/"), "the database after the host")
    for value in parse_qs(parts.query).get("db", []):
        _check_database(value, "the db parameter")
    return url


def _check_port(url: str) -> None:
    try:
        urlsplit(url).port  # noqa: B018 - reading it is the check
    except ValueError:
        raise ValueError("the port must be a number from 0 to 65535") from None


def _check_database(text: str, where: str) -> None:
    if text and not (text.isascii() and text.isdigit()):
        raise ValueError(f"{where} must be a database number such as /0, not {text!r}")
