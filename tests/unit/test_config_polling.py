"""The scheduler section's polling settings: defaults, units, per-host overrides, errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from worker.config.models import HostPolitenessConfig, SchedulerConfig


def test_defaults() -> None:
    s = SchedulerConfig()
    assert (s.host_max_concurrent, s.host_min_spacing) == (2, 1.0)
    assert (s.min_interval, s.max_interval, s.max_backoff) == (300.0, 14400.0, 21600.0)
    assert s.adaptive and s.unhealthy_after is None and s.hosts == {}


@pytest.mark.parametrize(
    ("written", "seconds"),
    [(0, 0.0), ("0", 0.0), ("0s", 0.0), ("0ms", 0.0), ("500ms", 0.5), ("2s", 2.0), (3, 3.0)],
)
def test_spacing_accepts_zero_and_durations(written: object, seconds: float) -> None:
    s = SchedulerConfig.model_validate(
        {"host_min_spacing": written, "hosts": {"a.example": {"min_spacing": written}}}
    )
    assert s.host_min_spacing == seconds
    assert s.hosts["a.example"].min_spacing == seconds


def test_per_host_override() -> None:
    s = SchedulerConfig.model_validate(
        {"hosts": {"feeds.example.com": {"max_concurrent": 8}}, "unhealthy_after": "1d"}
    )
    assert s.hosts["feeds.example.com"] == HostPolitenessConfig(max_concurrent=8, min_spacing=1.0)
    assert s.unhealthy_after == 86400.0


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"min_interval": "5h"}, "min_interval must not be longer than max_interval"),
        ({"min_interval": "500ms"}, "at least 1s"),
        ({"host_max_concurrent": 0}, "greater than or equal to 1"),
        ({"hosts": {"a": {"max_concurrent": 2, "burst": 3}}}, "Extra inputs"),
        ({"host_min_spacing": "-1s"}, "invalid duration"),
        ({"stale_factor": 0.5}, "greater than or equal to 1"),
    ],
)
def test_invalid_settings(section: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SchedulerConfig.model_validate(section)
