"""The dashboard's pure pieces: hits marked in escaped snippets, chart coordinates, and the
spike baseline series it draws."""

from __future__ import annotations

from worker.archive.spikes import bucket_series, poisson_upper_tail, spike_threshold
from worker.config.archive import SpikeConfig
from worker.web.dashboard.render import band_chart, bars, mark_hits, sparkline, when_iso
from worker.web.dashboard.session import same


def test_hits_are_marked_case_insensitively_and_everything_else_is_escaped() -> None:
    marked = mark_hits("<b>Taiwan</b> and taiwan & TAIWANESE", ["taiwan"])
    assert str(marked) == (
        "&lt;b&gt;<mark>Taiwan</mark>&lt;/b&gt; and <mark>taiwan</mark> &amp; "
        "<mark>TAIWAN</mark>ESE"
    )


def test_a_term_that_looks_like_markup_is_escaped_too_and_no_term_marks_nothing() -> None:
    assert str(mark_hits("a <mark> b", ["<mark>"])) == "a <mark>&lt;mark&gt;</mark> b"
    assert str(mark_hits("x < y", [])) == "x &lt; y"


def test_sparkline_and_bars_scale_to_the_largest_value() -> None:
    assert sparkline([0, 2, 1], width=100, height=24) == "0.0,23.0 50.0,1.0 100.0,12.0"
    assert sparkline([]) == ""
    tall, short = bars([("a", 4), ("b", 2)], width=100, height=100)
    assert (tall.height, short.height, short.y) == (100, 50, 50)


def test_band_chart_polygon_runs_along_the_threshold_and_back_along_the_expectation() -> None:
    chart = band_chart([("a", 1, 1.0, 3, False), ("b", 4, 1.0, 3, True)], width=10, height=44)
    assert chart.top == 4
    assert chart.band_polygon.split() == ["0.0,12.0", "10.0,12.0", "10.0,32.0", "0.0,32.0"]
    assert chart.count_line == "0.0,32.0 10.0,2.0"


def test_times_and_constant_time_equality() -> None:
    assert when_iso("2026-12-07T04:10:00Z") == "2026-12-07 04:10Z"
    assert when_iso("garbage") == "garbage"
    assert same("abc", "abc") and not same("abd", "abc") and not same(None, "abc")


def test_spike_threshold_is_the_first_count_below_the_sensitivity() -> None:
    config = SpikeConfig(bucket=3600, min_stories=2, sensitivity=0.001)
    threshold = spike_threshold(1.5, config)
    assert poisson_upper_tail(threshold, 1.5) < 0.001 <= poisson_upper_tail(threshold - 1, 1.5)
    assert spike_threshold(0.01, SpikeConfig(bucket=3600, min_stories=5)) >= 5


def test_bucket_series_shows_the_baseline_each_bucket_was_judged_against() -> None:
    config = SpikeConfig(bucket=3600, min_stories=3, sensitivity=0.001)
    now = 100 * 86400 + 1800.0
    events = [(now - h * 3600, f"s{h}") for h in range(1, 73)]  # one story an hour
    events += [(now - 60, f"burst{i}") for i in range(8)]
    series = bucket_series(events, now, config, 30)
    assert len(series) == 30
    assert series[-1].stories == 8 and series[-1].spike
    assert not any(p.spike for p in series[:-1])
    assert all(p.expected is not None and 0.5 < p.expected < 3 for p in series[:-1])
    assert series[-1].threshold is not None and series[-1].threshold <= 8


def test_only_http_links_are_links() -> None:
    from worker.web.dashboard.render import safe_url

    assert safe_url("https://news.example/a") == "https://news.example/a"
    assert safe_url(" JavaScript:alert(1)") == "#"
    assert safe_url("data:text/html,x") == "#" and safe_url(None) == "#"
