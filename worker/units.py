"""Human-written quantities in the config: durations (`90s`, `5m`) and byte sizes (`5MB`).

Pure parsers so the same rules serve the YAML loader, the CLI and tests.
"""

from __future__ import annotations

import math
import re

_DURATION_UNITS: dict[str, float] = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
# One or more number+unit parts, so `1h30m` reads as it would to a person.
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+")

_SIZE_UNITS: dict[str, int] = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")

DURATION_HINT = "use a number of seconds or a number with a unit: 500ms, 90s, 5m, 1h, 7d"
SIZE_HINT = "use a number of bytes or a number with a unit: 512KB, 5MB, 10MiB"


def parse_duration(text: str | int | float) -> float:
    """Seconds in `text`: `90s`, `5m`, `1h`, `7d`, `500ms`, `1h30m` or a bare number of seconds."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ValueError(f"expected a duration, got {type(text).__name__}; {DURATION_HINT}")
    seconds = _duration_text(text) if isinstance(text, str) else float(text)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"duration must be greater than zero, got {text!r}")
    return seconds


def _duration_text(text: str) -> float:
    cleaned = text.strip().lower()
    try:
        return float(cleaned)
    except ValueError:
        pass
    if not _DURATION_WHOLE.fullmatch(cleaned):
        raise ValueError(f"invalid duration {text!r}; {DURATION_HINT}")
    return sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(cleaned))


def parse_size(text: str | int) -> int:
    """Bytes in `text`: an int, or `512KB`, `5MB`, `1GB` (powers of 1000), `10MiB` (of 1024)."""
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise ValueError(f"expected a size, got {type(text).__name__}; {SIZE_HINT}")
    size = text if isinstance(text, int) else _size_text(text)
    if size <= 0:
        raise ValueError(f"size must be greater than zero, got {text!r}")
    return size


def _size_text(text: str) -> int:
    match = _SIZE.fullmatch(text.strip().lower())
    if match is None or match.group(2) not in {"", *_SIZE_UNITS}:
        raise ValueError(f"invalid size {text!r}; {SIZE_HINT}")
    number, unit = match.groups()
    return int(float(number) * _SIZE_UNITS[unit or "b"])
