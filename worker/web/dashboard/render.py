"""Pure helpers of the dashboard's templates: hits marked in snippets, small SVG charts, times.

Charts are drawn on the server as SVG coordinates (no chart library, nothing for the browser to
fetch); every number here is a plain float or int, so the templates only place them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from markupsafe import Markup, escape

_MAX_MARKED_TERMS = 20


def mark_hits(snippet: str, terms: Iterable[str]) -> Markup:
    """The snippet, escaped, with each occurrence of a matched term inside `<mark>`."""
    words = sorted({t for t in terms if t and t.strip()}, key=len, reverse=True)
    words = words[:_MAX_MARKED_TERMS]
    if not words:
        return escape(snippet)
    pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
    out: list[str] = []
    last = 0
    for found in pattern.finditer(snippet):
        out.append(str(escape(snippet[last : found.start()])))
        out.append(f"<mark>{escape(found.group())}</mark>")
        last = found.end()
    out.append(str(escape(snippet[last:])))
    return Markup("".join(out))  # noqa: S704 - every piece above is escaped


def safe_url(url: str | None) -> str:
    """A link target only when it is http(s): a feed's `javascript:` link never becomes one."""
    text = (url or "").strip()
    return text if text.lower().startswith(("http://", "https://")) else "#"


def when(epoch: float | None) -> str:
    if not epoch:
        return "—"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%MZ")


def when_iso(text: str | None) -> str:
    """An ISO-8601 time as `YYYY-MM-DD HH:MMZ`; the text itself when it does not parse."""
    if not text:
        return "—"
    try:
        return when(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return text


def sparkline(values: Sequence[float], width: float = 100, height: float = 24) -> str:
    """An SVG polyline's `points` for the values, left to right, zero at the bottom."""
    if not values:
        return ""
    top = max([*values, 1])
    step = width / max(len(values) - 1, 1)
    return " ".join(
        f"{i * step:.1f},{height - 1 - (v / top) * (height - 2):.1f}" for i, v in enumerate(values)
    )


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: float


def bars(rows: Sequence[tuple[str, float]], width: float = 600, height: float = 120) -> list[Bar]:
    """One bar per (label, value), scaled to the largest value."""
    if not rows:
        return []
    top = max([*(v for _, v in rows), 1])
    slot = width / len(rows)
    gap = min(2.0, slot / 4)
    return [
        Bar(i * slot + gap / 2, height - v / top * height, slot - gap, v / top * height, label, v)
        for i, (label, v) in enumerate(rows)
    ]


def day_rows(counts: Sequence[float]) -> list[tuple[str, float]]:
    """Counts as (label, value) rows for `bars`, labelled by their place."""
    return [(str(i), v) for i, v in enumerate(counts)]


@dataclass(frozen=True)
class BandPoint:
    x: float
    count_y: float
    low_y: float
    high_y: float
    label: str
    count: int
    expected: float
    threshold: int
    spike: bool


@dataclass(frozen=True)
class BandChart:
    points: list[BandPoint]
    width: float
    height: float
    top: float

    @property
    def band_polygon(self) -> str:
        """The baseline band: expected up to the spike threshold, as one SVG polygon."""
        upper = [f"{p.x:.1f},{p.high_y:.1f}" for p in self.points]
        lower = [f"{p.x:.1f},{p.low_y:.1f}" for p in reversed(self.points)]
        return " ".join(upper + lower)

    @property
    def count_line(self) -> str:
        return " ".join(f"{p.x:.1f},{p.count_y:.1f}" for p in self.points)


def band_chart(
    rows: Sequence[tuple[str, int, float, int, bool]], width: float = 600, height: float = 120
) -> BandChart:
    """Rows of (label, stories, expected, threshold, spike) as coordinates."""
    top = float(max([1, *(max(r[1], r[3]) for r in rows)]))
    step = width / max(len(rows) - 1, 1)

    def y(value: float) -> float:
        return height - value / top * (height - 4) - 2

    points = [
        BandPoint(i * step, y(c), y(e), y(t), label, c, e, t, s)
        for i, (label, c, e, t, s) in enumerate(rows)
    ]
    return BandChart(points, width, height, top)
