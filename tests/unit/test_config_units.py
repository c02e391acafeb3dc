"""Durations and byte sizes as written in the config."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.config import parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("7d", 604800.0),
        ("2w", 1209600.0),
        ("500ms", 0.5),
        ("1.5s", 1.5),
        ("1h30m", 5400.0),
        (" 10M ", 600.0),
        ("90", 90.0),
        ("0.25", 0.25),
        (45, 45.0),
        (2.5, 2.5),
    ],
)
def test_parse_duration_accepts(text: str | int | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "invalid duration ''"),
        ("5x", "invalid duration '5x'"),
        ("m5", "invalid duration 'm5'"),
        ("5 m", "invalid duration '5 m'"),
        ("1h 30m", "invalid duration"),
        ("-5s", "invalid duration '-5s'"),
        ("0s", "duration must be greater than zero"),
        ("0", "duration must be greater than zero"),
        (0, "duration must be greater than zero"),
        (-3, "duration must be greater than zero"),
        ("nan", "duration must be greater than zero"),
        ("inf", "duration must be greater than zero"),
        (True, "expected a duration, got bool"),
        (None, "expected a duration, got NoneType"),
        ([5], "expected a duration, got list"),
    ],
)
def test_parse_duration_rejects(text: object, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        parse_duration(text)  # type: ignore[arg-type]


def test_parse_duration_error_says_how_to_write_one() -> None:
    with pytest.raises(ValueError, match="500ms, 90s, 5m, 1h, 7d"):
        parse_duration("soon")


@given(st.integers(min_value=1, max_value=10_000), st.sampled_from(["ms", "s", "m", "h", "d"]))
def test_parse_duration_scales_by_unit(number: int, unit: str) -> None:
    factor = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    assert parse_duration(f"{number}{unit}") == pytest.approx(number * factor)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        (1024, 1024),
        ("1024", 1024),
        ("100B", 100),
        ("512KB", 512_000),
        ("5MB", 5_000_000),
        ("1GB", 1_000_000_000),
        ("1KiB", 1024),
        ("10MiB", 10 * 1024 * 1024),
        ("2GiB", 2 * 1024**3),
        ("1.5MB", 1_500_000),
        ("5mb", 5_000_000),
        ("5 MB", 5_000_000),
    ],
)
def test_parse_size_accepts(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("5XB", "invalid size '5XB'"),
        ("MB", "invalid size 'MB'"),
        ("-5MB", "invalid size '-5MB'"),
        ("", "invalid size ''"),
        (0, "size must be greater than zero"),
        ("0KB", "size must be greater than zero"),
        (1.5, "expected a size, got float"),
        (False, "expected a size, got bool"),
    ],
)
def test_parse_size_rejects(text: object, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        parse_size(text)  # type: ignore[arg-type]
