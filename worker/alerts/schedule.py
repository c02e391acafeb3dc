"""When a digest endpoint sends: every interval (`digest: 1h`) or once a day at a local time
(`digest: daily 07:00 Europe/Berlin`). Pure functions; the clock is passed in.

A daily digest covers the period since the previous send time; its first period starts when a
notifier first looks at the endpoint (nothing buffered before that is held back longer than one
day). Local times follow the zone's daylight-saving rules: 07:00 stays 07:00 on the wall.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from worker.units import parse_duration

DAY_S = 86_400.0
MIN_INTERVAL_S = 10.0
_DAILY = re.compile(r"daily\s+(\d{1,2}):(\d{2})(?:\s+(\S+))?", re.IGNORECASE)


@dataclass(frozen=True)
class DailyTime:
    """A wall-clock time in a time zone (IANA name, e.g. Europe/Berlin; UTC when not given)."""

    hour: int
    minute: int
    zone: str = "UTC"

    def __str__(self) -> str:
        return f"daily {self.hour:02d}:{self.minute:02d} {self.zone}"

    def last_at_or_before(self, now: float) -> float:
        """The latest send time not after `now` (a Unix time)."""
        tz = ZoneInfo(self.zone)
        local = datetime.fromtimestamp(now, tz)
        for days_back in range(3):  # a skipped (DST) wall time can push one day further back
            day = local.date() - timedelta(days=days_back)
            candidate = datetime.combine(day, time(self.hour, self.minute), tz).timestamp()
            if candidate <= now:
                return candidate
        raise AssertionError("unreachable: a send time exists within three days")


def parse_digest(value: object) -> float | DailyTime:
    """`1h`/`90m`/3600 (an interval, at least 10s) or `daily HH:MM [Zone]`."""
    if isinstance(value, str):
        daily = _DAILY.fullmatch(value.strip())
        if daily:
            return _daily(int(daily.group(1)), int(daily.group(2)), daily.group(3) or "UTC")
        if value.strip().lower().startswith("daily"):
            raise ValueError("write a daily digest as 'daily HH:MM [Zone]', e.g. daily 07:00 UTC")
    if not isinstance(value, str | int | float):
        raise ValueError(
            f"expected an interval such as 1h or 'daily 07:00 Europe/Berlin', got {value!r}"
        )
    interval = parse_duration(value)
    if interval < MIN_INTERVAL_S:
        raise ValueError("must be at least 10s")
    return interval


def _daily(hour: int, minute: int, zone: str) -> DailyTime:
    if hour > 23 or minute > 59:
        raise ValueError(f"{hour:02d}:{minute:02d} is not a time of day (00:00 to 23:59)")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        message = f"unknown time zone {zone!r}; use an IANA name such as Europe/Berlin"
        raise ValueError(message) from None
    return DailyTime(hour, minute, zone)


def daily_due(daily: DailyTime, last_sent: float, now: float) -> bool:
    """Whether a send time has passed since `last_sent` (the previous period's end)."""
    return daily.last_at_or_before(now) > last_sent


def split_digest(value: float | DailyTime | None) -> tuple[float | None, DailyTime | None]:
    """(period in seconds, daily time) of a configured `digest`, for the notifier's endpoint."""
    if isinstance(value, DailyTime):
        return DAY_S, value
    return value, None
