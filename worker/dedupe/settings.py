"""The `dedupe` settings section: the near-duplicate window, threshold and index sizing."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from worker.dedupe.fingerprint import BINS
from worker.units import parse_duration

Duration = Annotated[float, BeforeValidator(parse_duration)]


class DedupeConfig(BaseModel):
    """How long stories stay open and how alike two texts must be to share one.

    `similarity` is the estimated Jaccard similarity of the two texts' 4-word shingle sets above
    which they are one story; 0.3 means at least 5 of the 16 MinHash bins agree (bench/dedupe.py:
    no pair of different real articles reaches 5, a copy cut to two thirds of its words does).
    `slots_per_window` splits the window into time buckets, each expiring as a whole (so an entry
    lives between `window` and `window` plus one slot). `index_buckets` spreads each slot's entries
    over that many small Redis hashes; keep it near articles-per-window / 50 so each hash stays in
    Redis's compact listpack encoding (at most 128 entries by default).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    window: Duration = 7 * 86400.0
    similarity: float = Field(default=0.3, gt=0.0, le=1.0)
    slots_per_window: int = Field(default=7, ge=1, le=48)
    index_buckets: int = Field(default=32768, ge=1, le=1 << 24)
    story_updated_after: int | None = Field(default=None, ge=1)

    @property
    def min_agreeing_bins(self) -> int:
        return max(1, math.ceil(self.similarity * BINS - 1e-9))

    @property
    def slot_s(self) -> float:
        return self.window / self.slots_per_window
