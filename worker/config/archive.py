"""The `archive` settings section and the per-watchlist `spike` section.

The archive keeps every processed article for `retention` (see docs/archive.md). Without `url`
it is a SQLite file under `data_dir`; `url: postgresql://…` shares one PostgreSQL database
between machines. `stream_max` bounds the Redis stream the workers hand articles to the
archiver on, so a setup that runs no archiver cannot fill Redis (the oldest entries go first).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from worker.units import parse_duration

Duration = Annotated[float, BeforeValidator(parse_duration)]
POSTGRES_SCHEMES = ("postgresql", "postgres")


class ArchiveConfig(BaseModel):
    """Where articles are archived, and for how long."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    url: str | None = None  # None: SQLite under data_dir
    retention: Annotated[Duration, Field(ge=3600.0)] = 30 * 86400.0
    prune_every: Annotated[Duration, Field(ge=1.0)] = 3600.0
    stream_max: Annotated[int, Field(ge=1000)] = 200_000
    batch: Annotated[int, Field(ge=1, le=10_000)] = 256

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, url: str | None) -> str | None:
        if url is None or not url.strip():
            return None
        if urlsplit(url.strip()).scheme.lower() not in POSTGRES_SCHEMES:
            raise ValueError("must start with postgresql:// (leave it out for SQLite)")
        return url.strip()


class SpikeConfig(BaseModel):
    """Opt-in spike alerts for one watchlist: stories per `bucket` against its own baseline.

    `false_alarms_per_week` is the false-alarm budget: how many spikes a week ordinary traffic
    may raise, spread over the week's buckets (each bucket's test alarms with probability
    budget x bucket / week). `sensitivity`, when set, is that per-bucket probability directly.
    `min_stories` is the fewest stories in a bucket that can ever be a spike.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    bucket: Annotated[Duration, Field(ge=60.0, le=7 * 86400.0)] = 3600.0
    min_stories: Annotated[int, Field(ge=1)] = 5
    false_alarms_per_week: Annotated[float, Field(gt=0.0, le=10.0)] = 0.05
    sensitivity: Annotated[float | None, Field(gt=0.0, lt=0.5)] = None

    @property
    def alarm_probability(self) -> float:
        """The chance that one bucket of ordinary traffic is called a spike."""
        if self.sensitivity is not None:
            return self.sensitivity
        return min(0.5, self.false_alarms_per_week * self.bucket / (7 * 86400.0))
