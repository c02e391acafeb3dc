"""Timestamps as wirewatch writes them: ISO-8601 in UTC with a `Z` (the documented webhook form)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_z(epoch: float) -> str:
    """`2026-11-29T12:00:00Z`: whole seconds, UTC, the form every event envelope uses."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_to_epoch(value: str) -> float | None:
    """Epoch seconds of an ISO-8601 string as the feed parser writes them; None when empty or
    bad. A time without a zone is UTC."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
