"""The `dedupe` settings section: the near-duplicate window, threshold and index sizing."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from worker.dedupe.fingerprint import BINS
from worker.units import parse_duration

_LEGACY_MIN_BINS = 5
Duration = Annotated[float, BeforeValidator(parse_duration)]


class DedupeConfig(BaseModel):
    """How long stories stay open and how alike two texts must be to share one.

    An article joins a story when, against the story's representative (docs/stories.md), both
    the estimated Jaccard similarity of their 4-word shingle sets reaches `similarity` and the
    estimated containment (the share of the smaller set found in the larger) reaches
    `containment`. A copy cut to half: 0.5 and ~1.0; different articles sharing a quoted passage
    of 40% of each: 0.25 and 0.4 (bench/stories_stream.py). `min_agreeing_bins` is the previous
    design's rule (bins of 16, at least 5), still applied to the index an upgraded install
    wrote before, until it expires.
    `slots_per_window` splits the window into time buckets, each expiring as a whole (so an entry
    lives between `window` and `window` plus one slot). `index_buckets` spreads each slot's entries
    over that many small Redis hashes; keep it near articles-per-window / 50 so each hash stays in
    Redis's compact listpack encoding (at most 128 entries by default).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    window: Duration = 7 * 86400.0
    similarity: float = Field(default=0.2, gt=0.0, le=1.0)
    containment: float = Field(default=0.7, gt=0.0, le=1.0)
    slots_per_window: int = Field(default=7, ge=1, le=48)
    index_buckets: int = Field(default=32768, ge=1, le=1 << 24)
    story_updated_after: int | None = Field(default=None, ge=1)

    @property
    def min_agreeing_bins(self) -> int:
        """The previous design's vote (bins of 16), at least its old default of 5: legacy stories
        are joined no more loosely after an upgrade than before it."""
        return max(_LEGACY_MIN_BINS, math.ceil(self.similarity * BINS - 1e-9))

    @property
    def slot_s(self) -> float:
        return self.window / self.slots_per_window
