"""What a poll's answer does to a feed's stored state. Pure: the state as read, what the fetch
brought, the time and the random draw come in; the fields to write and the delay come out.

The poller (poller.py) does the I/O around these: fetching, parsing, queueing, writing the
fields, logging. Kept apart so every timing rule is testable as a table, without a server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from worker.polling.intervals import IntervalBounds, error_delay, hint_seconds, success_delay
from worker.queue.connection import hash_float


@dataclass(frozen=True)
class StateUpdate:
    fields: dict[str, str]  # to write into the feed's state hash (unchanged ones are skipped)
    delay_s: float  # until the next poll


def after_success(
    state: Mapping[str, str],
    updates: Mapping[str, str],
    headers: Mapping[str, str],
    bounds: IntervalBounds,
    now: float,
    rand: float,
) -> StateUpdate:
    """A fetch answered (changed, unchanged or 304): `updates` are what the body told (validators,
    rhythm, hints, known entries); the next poll follows the rhythm and the freshness hints."""
    merged = {**state, **updates}
    hint = hint_seconds(headers, [hash_float(merged, "feed_hint_s")], now)
    delay = success_delay(hash_float(merged, "rhythm_s"), hint, bounds, rand)
    fields = {
        **updates,
        "status": "ok",
        "last_success": str(now),
        "consecutive_errors": "0",
        "failing_since": "",
        "next_poll": str(now + delay),
    }
    return StateUpdate(fields, delay)


def after_error(
    state: Mapping[str, str],
    error: str,
    retry_after_s: float | None,
    bounds: IntervalBounds,
    now: float,
    rand: float,
) -> StateUpdate:
    """A fetch failed with `error`; `retry_after_s` is what a 429 or 503 asked for. The feed
    backs off (never disabled) and its failure streak is recorded for the health checks."""
    errors = int(state.get("consecutive_errors") or 0) + 1
    delay = error_delay(hash_float(state, "rhythm_s"), errors, retry_after_s, bounds, rand)
    fields = {
        "status": "error",
        "last_error": error,
        "last_error_at": str(now),
        "consecutive_errors": str(errors),
        "failing_since": state.get("failing_since") or str(now),
        "next_poll": str(now + delay),
    }
    return StateUpdate(fields, delay)
