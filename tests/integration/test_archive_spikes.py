"""Spike alerts: a steady synthetic stream with a burst, and `alert.spike` through delivery."""

from __future__ import annotations

import math
import os
import random
import threading
import time
from pathlib import Path

import redis
import structlog
import yaml
from standardwebhooks.webhooks import Webhook

from tests.support.archive import article
from tests.support.cli import run_cli, write_config
from tests.support.httpserver import LocalServer
from tests.support.roles import wait_until
from tests.support.site import WEBHOOK_SECRET, Receiver
from worker.archive.spikes import (
    Expectation,
    SpikeWatch,
    judge,
    poisson_upper_tail,
    upper_tail,
)
from worker.archive.sqlite import SqliteArchive
from worker.config import load_config
from worker.config.archive import SpikeConfig
from worker.config.models import WatchlistConfig
from worker.config.watch import ConfigFileWatcher, config_signature
from worker.queue.keys import Keys

HOUR = 3600.0
T0 = 1_800_000_000.0 // (7 * 86400) * (7 * 86400)  # a week boundary, so buckets line up


def poisson(rnd: random.Random, rate: float) -> int:
    limit, k, p = math.exp(-rate), 0, 1.0
    while True:
        p *= rnd.random()
        if p < limit:
            return k
        k += 1


def steady(
    rate_of_hour: object, hours: int, seed: int = 1, start: float = T0
) -> list[tuple[float, str]]:
    """Stories per hour drawn from Poisson(rate_of_hour(hour)), one article each."""
    rnd = random.Random(seed)
    events = []
    for hour in range(hours):
        for n in range(poisson(rnd, rate_of_hour(hour))):  # type: ignore[operator]
            events.append((start + hour * HOUR + rnd.random() * HOUR, f"st_{hour}_{n}"))
    return events


def burst(hour: int, stories: int, within: float = HOUR / 2) -> list[tuple[float, str]]:
    return [(T0 + hour * HOUR + within * (n + 0.5) / stories, f"burst_{n}") for n in range(stories)]


def test_poisson_upper_tail_matches_the_direct_sum() -> None:
    for rate in (0.2, 3.0, 12.5):
        for count in (0, 1, 4, 20):
            direct = 1.0 - sum(math.exp(-rate) * rate**k / math.factorial(k) for k in range(count))
            assert math.isclose(
                poisson_upper_tail(count, rate), direct, rel_tol=1e-9, abs_tol=1e-15
            )
    assert 0 < poisson_upper_tail(60, 5.0) < 1e-30  # the far tail is not lost to rounding


def test_the_predictive_tail_widens_with_the_uncertainty_of_the_baseline() -> None:
    assert upper_tail(6, Expectation(2.0, 0.0)) == poisson_upper_tail(6, 2.0)
    rate, variance = 2.0, 0.5
    shape = rate * rate / variance
    p = shape / (shape + rate)

    def pmf(k: int) -> float:
        return (
            math.exp(math.lgamma(k + shape) - math.lgamma(shape) - math.lgamma(k + 1))
            * p**shape
            * (1 - p) ** k
        )

    for count in (0, 1, 3, 9):
        direct = 1.0 - sum(pmf(k) for k in range(count))
        assert math.isclose(upper_tail(count, Expectation(rate, variance)), direct, rel_tol=1e-9)
    assert upper_tail(9, Expectation(rate, variance)) > poisson_upper_tail(9, rate)
    assert 0 < upper_tail(400, Expectation(rate, variance)) < 1e-100  # ends, never loops


def test_the_false_alarm_budget_sets_each_buckets_alarm_probability() -> None:
    assert SpikeConfig().alarm_probability == 0.05 / 168
    three_hours = SpikeConfig(bucket="3h", false_alarms_per_week=0.1)
    assert math.isclose(three_hours.alarm_probability, 0.1 * 3 / 168)
    assert SpikeConfig(sensitivity=1e-3).alarm_probability == 1e-3


def test_a_quiet_watchlist_sees_a_5x_hour_and_no_false_alarm_in_a_week() -> None:
    """2 stories an hour for four weeks; the last week judged hour by hour raises nothing, and
    an hour of 10 stories (5x) is a spike within that hour."""
    config = SpikeConfig()
    hours = 28 * 24
    events = steady(lambda _: 2.0, hours, seed=7)
    alarms = [
        h
        for h in range(hours - 168, hours)
        if (
            v := judge(
                [e for e in events if e[0] < T0 + (h + 1) * HOUR], T0 + h * HOUR + HOUR - 1, config
            )
        )
        and v.spike
    ]
    assert alarms == []
    verdict = judge(events + burst(hours, 10), T0 + hours * HOUR + HOUR - 1, config)
    assert verdict is not None and verdict.spike, verdict
    assert 1.5 < verdict.expected < 2.5


def test_a_3x_burst_on_a_steady_stream_is_found_within_its_bucket() -> None:
    config = SpikeConfig(bucket=HOUR, min_stories=5, sensitivity=1e-4)
    hours = 21 * 24
    events = steady(lambda _: 8.0, hours)
    false_alarms = [
        h
        for h in range(24, hours)
        if (
            v := judge(
                [e for e in events if e[0] < T0 + (h + 1) * HOUR], T0 + h * HOUR + HOUR - 1, config
            )
        )
        and v.spike
    ]
    assert false_alarms == []
    spiky = events + burst(hours, 24)  # 3x the usual 8 stories, in the first half of the hour
    verdict = judge(spiky, T0 + hours * HOUR + HOUR / 2, config)
    assert verdict is not None and verdict.spike
    assert verdict.stories == 24 + sum(1 for at, _ in events if at >= T0 + hours * HOUR)
    assert 7.0 < verdict.expected < 11.0
    assert set(verdict.story_ids) >= {f"burst_{n}" for n in range(24)}


def test_no_verdict_without_a_day_of_history_and_never_below_min_stories() -> None:
    config = SpikeConfig(bucket=HOUR, min_stories=5, sensitivity=1e-4)
    young = steady(lambda _: 2.0, 10) + burst(10, 20)
    assert judge(young, T0 + 10.5 * HOUR, config) is None
    quiet = [*steady(lambda _: 0.0, 48), (T0, "first"), *burst(48, 4)]
    strict = SpikeConfig(bucket=HOUR, min_stories=5, sensitivity=0.01)
    verdict = judge(quiet, T0 + 48.5 * HOUR, strict)
    assert verdict is not None and verdict.p_value < 0.01
    assert not verdict.spike  # 4 stories against almost nothing is unusual, but below min_stories
    loose = SpikeConfig(bucket=HOUR, min_stories=3, sensitivity=0.01)
    assert judge(quiet, T0 + 48.5 * HOUR, loose).spike  # type: ignore[union-attr]


def test_the_baseline_follows_the_hour_of_day() -> None:
    """Busy 09-17 (12 stories an hour), quiet otherwise (1 an hour): 12 at 03:00 is a spike,
    12 at 10:00 is an ordinary hour."""
    config = SpikeConfig(bucket=HOUR, min_stories=5, sensitivity=1e-4)
    days = 10
    events = steady(lambda h: 12.0 if 9 <= h % 24 < 17 else 1.0, days * 24, seed=3)
    night = days * 24 + 3
    at_night = judge(events + burst(night, 12), T0 + night * HOUR + HOUR - 1, config)
    assert at_night is not None and at_night.spike
    day = days * 24 + 10
    by_day = judge(events + burst(day, 12), T0 + day * HOUR + HOUR - 1, config)
    assert by_day is not None and not by_day.spike
    assert by_day.expected > 8 > 3 > at_night.expected


def fill_history(store: SqliteArchive, now: float, watchlist: str) -> None:
    """Two weeks of about 4 stories an hour for `watchlist`, then 30 in the current hour."""
    hours = 14 * 24
    start = (now // HOUR - hours) * HOUR
    history = steady(lambda _: 4.0, hours, seed=5, start=start)
    current = now // HOUR * HOUR
    history += [(current + (now - current) * (n + 0.5) / 30, f"burst_{n}") for n in range(30)]
    store.add(
        [
            article(n, at, text="x", story=story, watchlists=(watchlist,))
            for n, (at, story) in enumerate(history)
        ]
    )


def test_the_watch_sends_one_spike_alert_per_bucket(
    tmp_path: Path, client: redis.Redis, keys: Keys
) -> None:
    now = time.time()
    store = SqliteArchive(tmp_path / "a.sqlite3")
    fill_history(store, now, "nato")
    nato = WatchlistConfig(id="nato", query="NATO", notify=["hook"], spike=SpikeConfig())
    calm = WatchlistConfig(id="calm", query="calm", spike=SpikeConfig())
    watch = SpikeWatch.build(client, keys, store, [nato, calm], structlog.get_logger())
    try:
        assert watch.check(now) == 1
        assert watch.check(now + 1) == 0  # the same bucket alerts once
    finally:
        store.close()
    ((_entry_id, fields),) = client.xrange(keys.alerts_stream)
    assert fields["notify"] == '["hook"]'
    assert '"type":"alert.spike"' in fields["body"]


def test_a_spike_is_delivered_signed_like_any_alert(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str
) -> None:
    receiver = Receiver()
    watchlists = [
        {"id": "nato", "query": "NATO", "notify": ["hook"], "spike": {"min_stories": 5}},
        {"id": "calm", "query": "calm", "notify": ["hook"], "spike": {"bucket": "1h"}},
    ]
    hook = server.route("/hook", receiver)
    config = write_config(tmp_path, prefix, [], hook, watchlists=watchlists)
    now = time.time()
    store = SqliteArchive(tmp_path / "data" / "archive.sqlite3")
    fill_history(store, now, "nato")
    store.close()
    result = run_cli("run", "--once", "--config", str(config), redis_url=redis_url)
    assert result.returncode == 0, result.stderr
    events = [Webhook(WEBHOOK_SECRET).verify(r.body, r.headers) for r in receiver.received]
    assert [e["type"] for e in events] == ["alert.spike"]
    data = events[0]["data"]
    assert data["watchlist"]["id"] == "nato"
    assert data["stories"] >= 30 and data["expected"] < 10
    assert data["bucket"]["seconds"] == 3600 and data["event_id"].startswith("sp_")
    assert receiver.received[0].headers["webhook-id"] == data["event_id"]


def test_spike_settings_follow_config_edits_without_a_restart(
    tmp_path: Path, client: redis.Redis, keys: Keys, prefix: str
) -> None:
    """As the archiver runs it: its SpikeWatch follows the watchlists of the edited config."""
    path = write_config(tmp_path, prefix, [])
    now = time.time()
    store = SqliteArchive(tmp_path / "a.sqlite3")
    fill_history(store, now, "nato")
    settings = load_config(path, os.environ)
    watch = SpikeWatch.build(
        client, keys, store, [w for w in settings.watchlists if w.spike], structlog.get_logger()
    )
    watcher = ConfigFileWatcher(
        path, lambda: load_config(path, os.environ).watchlists, watch.follow,
        structlog.get_logger(), config_signature(path), interval_s=0.05,
    )  # fmt: skip
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert watch.check(now) == 0, "nato has not opted in"
        config = yaml.safe_load(path.read_text())
        config["watchlists"][0]["spike"] = {"min_stories": 50}
        path.write_text(yaml.safe_dump(config))
        assert wait_until(lambda: [w.id for w in watch.watchlists] == ["nato"], timeout=30)
        assert watch.check(now) == 0, "30 stories are below min_stories 50"
        config["watchlists"][0]["spike"] = {"min_stories": 5}
        path.write_text(yaml.safe_dump(config))
        assert wait_until(
            lambda: [w.spike for w in watch.watchlists] == [SpikeConfig(min_stories=5)], timeout=30
        )
        assert watch.check(now) == 1, "the edited min_stories is in force"
        del config["watchlists"][0]["spike"]
        path.write_text(yaml.safe_dump(config))
        assert wait_until(lambda: not watch.watchlists, timeout=30)
    finally:
        stop.set()
        thread.join(5)
        store.close()
