"""The poller, politeness gate and schedulers against a real Redis and real local servers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest
import redis

from tests.support.feeds import Feed
from tests.support.httpserver import LocalServer, Request, Response
from worker.fetching import Fetcher, FetchLimits
from worker.fetching.politeness import HostGate, HostLimit, HostSlot, limit_for
from worker.observability.logging import get_logger
from worker.polling.health import HealthPolicy, UnhealthyAlerts
from worker.polling.poller import FeedPoller, PollPolicy
from worker.polling.scheduler import FeedScheduler
from worker.queue.keys import Keys

HOUR = 3600.0


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def rss(hours_apart: float, count: int = 5, extra: str = "") -> bytes:
    base = datetime(2026, 11, 28, 12, 0, tzinfo=UTC).timestamp()
    items = "".join(
        f"<item><guid>g{i}</guid><title>t{i}</title><link>http://example.invalid/{i}</link>"
        f"<pubDate>{format_datetime(datetime.fromtimestamp(base - i * hours_apart * HOUR, UTC))}"
        "</pubDate></item>"
        for i in range(count)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{extra}{items}'
        "</channel></rss>"
    ).encode()


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(FetchLimits(timeout_s=5, allow_private_addresses=True)) as f:
        yield f


def make_poller(
    client: redis.Redis, keys: Keys, fetcher: Fetcher, clock: Clock, **policy: object
) -> FeedPoller:
    settings: dict[str, object] = {
        "jitter": 0.0,
        "max_backoff_s": 6 * HOUR,
        "seen_retention_s": 86400.0,
        "min_interval_s": 300.0,
        "max_interval_s": 4 * HOUR,
    }
    settings.update(policy)
    alerts = UnhealthyAlerts(client, keys, ["hook"])
    return FeedPoller(
        client, keys, fetcher, PollPolicy(**settings), get_logger(), clock,  # type: ignore[arg-type]
        rand=lambda: 0.5, alerts=alerts,
    )  # fmt: skip


# -- adaptive timing through real responses ---------------------------------------------------
@pytest.mark.parametrize(
    ("body", "headers", "expected_delay"),
    [
        (rss(2), {}, HOUR),  # publishes every 2 h: polled every hour
        (rss(0.01), {}, 300.0),  # publishes constantly: the lower bound
        (rss(2), {"Cache-Control": "max-age=10800"}, 3 * HOUR),
        (rss(0.01, extra="<ttl>45</ttl>"), {}, 2700.0),
        (
            rss(
                0.01,
                extra='<sy:updatePeriod xmlns:sy="http://purl.org/rss/1.0/modules/'
                'syndication/">hourly</sy:updatePeriod>',
            ),
            {},
            HOUR,
        ),
    ],
    ids=["rhythm", "busy", "max-age", "ttl", "sy-update"],
)
def test_next_poll_follows_rhythm_and_hints(
    server: LocalServer, client: redis.Redis, keys: Keys, fetcher: Fetcher,
    body: bytes, headers: dict[str, str], expected_delay: float,
) -> None:  # fmt: skip
    url = server.route("/f", Response(200, body, headers))
    clock = Clock()
    outcome = make_poller(client, keys, fetcher, clock).poll(Feed(url))
    assert outcome.status == "new_items"
    assert outcome.next_delay_s == pytest.approx(expected_delay)
    state = client.hgetall(keys.feed_state(url))
    assert float(state["next_poll"]) == pytest.approx(clock.now + expected_delay)


def test_unchanged_poll_keeps_the_learned_rhythm(
    server: LocalServer, client: redis.Redis, keys: Keys, fetcher: Fetcher
) -> None:
    url = server.route("/f", Response(200, rss(2), {"ETag": '"v1"'}))
    poller = make_poller(client, keys, fetcher, Clock())
    poller.poll(Feed(url))
    server.route("/f", Response(304))
    again = poller.poll(Feed(url))
    assert (again.status, again.next_delay_s) == ("unchanged", HOUR)
    assert server.requests[-1].headers.get("If-None-Match") == '"v1"'


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [
        (429, "7200", 7200.0),
        (503, "Sun, 01 Jan 2090 00:00:00 GMT", 6 * HOUR),  # far date: capped, not obeyed
        (500, "7200", 900.0),  # only 429 and 503 carry a load hint; a first error: the interval
        (429, None, 900.0),
    ],
)
def test_retry_after_on_429_and_503(
    server: LocalServer, client: redis.Redis, keys: Keys, fetcher: Fetcher,
    status: int, retry_after: str | None, expected: float,
) -> None:  # fmt: skip
    headers = {"Retry-After": retry_after} if retry_after else {}
    url = server.route("/f", Response(status, b"busy", headers))
    outcome = make_poller(client, keys, fetcher, Clock()).poll(Feed(url))
    assert outcome.status == "error"
    assert outcome.next_delay_s == pytest.approx(expected)


def test_a_failing_feed_is_never_given_up(
    server: LocalServer, client: redis.Redis, keys: Keys, fetcher: Fetcher
) -> None:
    url = server.route("/f", Response(500))
    clock = Clock()
    poller = make_poller(client, keys, fetcher, clock)
    delays = []
    for _ in range(30):
        delays.append(poller.poll(Feed(url)).next_delay_s)
        clock.now += delays[-1]
    assert delays[-1] == 6 * HOUR and max(delays) == 6 * HOUR
    state = client.hgetall(keys.feed_state(url))
    assert state["consecutive_errors"] == "30"
    assert float(state["next_poll"]) == pytest.approx(clock.now)
    server.route("/f", Response(200, rss(2)))
    assert poller.poll(Feed(url)).status == "new_items"
    assert client.hget(keys.feed_state(url), "failing_since") == ""


def stream(client: redis.Redis, key: str) -> list[dict[str, str]]:
    entries: Any = client.xrange(key)
    return [dict(fields) for _id, fields in entries]


def test_feed_unhealthy_event_once_per_failure_streak(
    server: LocalServer, client: redis.Redis, keys: Keys, fetcher: Fetcher
) -> None:
    url = server.route("/f", Response(500))
    clock = Clock()
    health = HealthPolicy(unhealthy_after_s=HOUR, unhealthy_notify=("hook",))
    poller = make_poller(client, keys, fetcher, clock, health=health)
    feed = Feed(url, name="Flaky")
    for _ in range(3):  # 0 s, 40 min, 80 min: only the third is past the threshold
        poller.poll(feed)
        clock.now += 2400
    poller.poll(feed)  # still failing at 2 h: no second event
    entries = stream(client, keys.alerts_stream)
    assert len(entries) == 1
    fields = entries[0]
    body = json.loads(fields["body"])
    alert = body["data"]
    assert set(fields) == {"notify", "body"}, "the alert's JSON once, inside the body"
    assert json.loads(fields["notify"]) == ["hook"]
    assert body["type"] == "feed.unhealthy"
    assert alert["feed"] == {"url": url, "name": "Flaky"}
    assert alert["consecutive_errors"] == 3 and "500" in alert["last_error"]
    assert alert["failing_for_s"] == 4800

    server.route("/f", Response(200, rss(2)))
    poller.poll(feed)
    server.route("/f", Response(500))
    for _ in range(3):  # a new streak is a new event with a new id
        clock.now += 2400
        poller.poll(feed)
    ids = [json.loads(e["body"])["data"]["alert_id"] for e in stream(client, keys.alerts_stream)]
    assert len(ids) == 2 and ids[0] != ids[1]


# -- politeness -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("example.com", HostLimit(8, 0.0)),
        ("feeds.example.com", HostLimit(8, 0.0)),
        ("a.b.example.com", HostLimit(8, 0.0)),
        ("slow.example.com", HostLimit(1, 5.0)),
        ("notexample.com", HostLimit()),
        ("example.org", HostLimit()),
    ],
)
def test_limit_for_host_and_parent_domains(host: str, expected: HostLimit) -> None:
    overrides = {"example.com": HostLimit(8, 0.0), "slow.example.com": HostLimit(1, 5.0)}
    assert limit_for(host, HostLimit(), overrides) == expected


def test_concurrency_limit_is_shared_between_gates(client: redis.Redis, keys: Keys) -> None:
    one = HostGate(client, keys, default=HostLimit(2, 0.0))
    two = HostGate(client, keys, default=HostLimit(2, 0.0))  # as if in another process
    first, second = one.try_acquire("http://h.test/a"), two.try_acquire("http://h.test:81/b")
    assert isinstance(first, HostSlot) and isinstance(second, HostSlot)
    third = one.try_acquire("http://H.test/c")
    assert isinstance(third, float) and third > 0
    assert isinstance(two.try_acquire("http://other.test/"), HostSlot)
    one.release(first)
    assert isinstance(two.try_acquire("http://h.test/c"), HostSlot)


def test_min_spacing_between_request_starts(client: redis.Redis, keys: Keys) -> None:
    gate = HostGate(client, keys, default=HostLimit(5, 0.3))
    gate.release(gate.acquire("http://h.test/", 5))
    wait = gate.try_acquire("http://h.test/")
    assert isinstance(wait, float) and 0.1 < wait <= 0.3
    started = time.monotonic()
    with gate.hold("http://h.test/", max_wait_s=5):
        assert time.monotonic() - started >= 0.1


def test_slots_of_a_dead_process_expire(client: redis.Redis, keys: Keys) -> None:
    gate = HostGate(client, keys, default=HostLimit(1, 0.0), lease_s=0.3)
    assert isinstance(gate.try_acquire("http://h.test/"), HostSlot)  # never released
    assert isinstance(gate.try_acquire("http://h.test/"), float)
    time.sleep(0.35)
    assert isinstance(gate.try_acquire("http://h.test/"), HostSlot)


# -- several schedulers -----------------------------------------------------------------------
class Stamping:
    """A feed route recording when each request arrived."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        with self.lock:
            self.times.append(time.monotonic())
        return Response(200, rss(2))


def schedulers(
    client: redis.Redis, keys: Keys, fetcher: Fetcher, feeds: list[Feed], count: int
) -> list[FeedScheduler]:
    made = []
    for _ in range(count):
        poller = make_poller(client, keys, fetcher, Clock(), min_interval_s=1.0, adaptive=False)
        poller.clock = time.time
        gate = HostGate(client, keys, default=HostLimit(16, 0.0))
        made.append(
            FeedScheduler(poller, feeds, get_logger(), time.time, gate=gate, concurrency=4,
                          lease_s=2.0, start_spread_s=0.2)
        )  # fmt: skip
    return made


def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_two_schedulers_poll_each_due_time_once_and_survive_one_dying(
    server: LocalServer, client: redis.Redis, keys: Keys, fetcher: Fetcher
) -> None:
    routes = {f"/f{i}": Stamping() for i in range(6)}
    feeds = [Feed(server.route(path, route), interval=1.0) for path, route in routes.items()]
    first, second = schedulers(client, keys, fetcher, feeds, 2)
    first.start()
    second.start()
    # Waits on what happened, not on fixed sleeps: a loaded machine only makes it slower.
    polled_thrice = wait_for(lambda: all(len(r.times) >= 3 for r in routes.values()), 30)
    first.stop(wait=False)  # one dies; the other carries on
    died_at = time.monotonic()
    taken_over = wait_for(
        lambda: all(any(t > died_at + 1.5 for t in r.times) for r in routes.values()), 30
    )
    second.stop()
    assert polled_thrice and taken_over, "not taken over"
    for route in routes.values():
        gaps = [b - a for a, b in zip(route.times, route.times[1:], strict=False)]
        assert min(gaps) > 0.8, f"polled twice for one due time: {gaps}"


def test_a_lease_left_by_a_dead_scheduler_is_taken_over(
    server: LocalServer, client: redis.Redis, keys: Keys, fetcher: Fetcher
) -> None:
    route = Stamping()
    feed = Feed(server.route("/f", route), interval=1.0)
    client.set(keys.feed_lease(feed.url), "dead-process", ex=2)  # died mid-poll
    (survivor,) = schedulers(client, keys, fetcher, [feed], 1)
    assert survivor.poll_now(feed.url) is None
    started = time.monotonic()
    survivor.start()
    deadline = started + 10
    while not route.times and time.monotonic() < deadline:
        time.sleep(0.05)
    survivor.stop()
    assert route.times, "never taken over"
    assert 1.5 < route.times[0] - started < 8


@pytest.mark.parametrize(
    ("response", "status"),
    [(Response(200, rss(2)), "new_items"), (Response(500, b"down"), "error")],
    ids=["success", "error"],
)
def test_a_poll_frees_its_lease_and_host_slot_with_the_state_write(
    server: LocalServer,
    client: redis.Redis,
    keys: Keys,
    fetcher: Fetcher,
    response: Response,
    status: str,
) -> None:
    feed = Feed(server.route("/f", response), interval=1.0)
    (scheduler,) = schedulers(client, keys, fetcher, [feed], 1)
    outcome = scheduler.poll_now(feed.url)
    assert outcome is not None and outcome.status == status
    assert not client.exists(keys.feed_lease(feed.url))
    assert client.zcard(keys.host_slots("127.0.0.1")) == 0
    assert float(client.hget(keys.feed_state(feed.url), "next_poll") or 0) > time.time()
    assert scheduler.poll_now(feed.url) is None  # not due again yet


def script_commands(client: redis.Redis) -> int:
    stats: Any = client.info("commandstats")
    return int(stats.get("cmdstat_script", {}).get("calls", 0))


def test_a_poll_asks_redis_no_script_existence_checks(
    server: LocalServer, client: redis.Redis, keys: Keys, fetcher: Fetcher
) -> None:
    """redis-py sends SCRIPT EXISTS before a pipeline holding a registered script: one more
    round trip per poll, which the lease release in the state pipeline must not cost."""
    feed = Feed(server.route("/f", Response(200, rss(2))), interval=1.0)
    (scheduler,) = schedulers(client, keys, fetcher, [feed], 1)
    client.hset(keys.feed_state(feed.url), "next_poll", "0")
    before = script_commands(client)
    assert scheduler.poll_now(feed.url) is not None
    assert script_commands(client) == before
    assert not client.exists(keys.feed_lease(feed.url))
