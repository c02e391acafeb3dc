"""Items shards (`queue.partitions`) against a real Redis, and a Redis Cluster with REDIS_URL.

Entries come in through the scheduler's real intake; workers are real ShardedConsumers as the
worker role builds them (Runtime.item_consumer, minus the process). `claim_idle` is an hour:
anything taken over here was taken over by liveness alone.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import redis

from tests.integration.test_end_to_end import run_summary
from tests.integration.test_recovery import mount_slow_nato_site, start_run_in_own_group
from tests.support.cli import run_cli, write_config
from tests.support.httpserver import LocalServer
from tests.support.roles import wait_until
from tests.support.site import Receiver, mount_seed_site
from worker.alerts.index import AlertIndex
from worker.feeds.intake import EntryIntake, IntakeLimits
from worker.ops.dlq import list_dead, replay
from worker.ops.status import items_status
from worker.queue.connection import Client
from worker.queue.keys import ITEMS_GROUP, Keys, shard_of
from worker.queue.liveness import Instance, Registry
from worker.queue.partitions import ItemShards, ShardedConsumer
from worker.queue.streams import Entry, StreamConsumer
from worker.queue.takeover import DeadTakeover, LeaseReads
from worker.records import FeedItem

LEASE_S = 10.0
AN_HOUR_MS = 3_600_000
FEEDS = [f"https://site{n}.example/feed.xml" for n in range(24)]
PER_FEED = 5


class Log:
    def warning(self, event: str, **fields: object) -> None:
        raise AssertionError(f"unexpected warning {event} {fields}")


def intake(client: Client, keys: Keys, partitions: int) -> EntryIntake:
    ItemShards(client, keys, partitions).record()  # as the scheduler role does at start
    limits = IntakeLimits(retention_s=86_400, partitions=partitions)
    return EntryIntake(client, keys, time.time, limits, Log())


def queue_feeds(client: Client, keys: Keys, partitions: int, feeds: list[str]) -> set[str]:
    """Queue PER_FEED entries of each feed; their entry ids."""
    entries = intake(client, keys, partitions)
    queued = set()
    for url in feeds:
        items = [FeedItem(url, url, f"{url}#{n}", link=f"{url}/a{n}") for n in range(PER_FEED)]
        assert entries.enqueue(url, items).added == PER_FEED
        queued |= {item.entry_id for item in items}
    return queued


def worker(client: Client, keys: Keys, name: str, partitions: int) -> ShardedConsumer:
    """A worker's consumer of every shard, as Runtime.item_consumer builds it."""
    reg = Registry(client, keys, "worker", LEASE_S)
    reg.beat(Instance.this_process("worker", name))
    shared = LeaseReads(reg, every_s=0)

    def shard_consumer(shard: int) -> StreamConsumer:
        stream = keys.items_stream_of(shard)
        takeover = DeadTakeover(client, stream, ITEMS_GROUP, reg, every_s=0,
                                leases_elsewhere=shard > 0, shared=shared)  # fmt: skip
        return StreamConsumer(client, stream, ITEMS_GROUP, name, keys.items_dead_of(shard),
                              claim_idle_ms=AN_HOUR_MS, takeover=takeover)  # fmt: skip

    shards = ItemShards(client, keys, partitions)
    consumer = ShardedConsumer(client, shard_consumer, shards.readable)
    consumer.ensure_group()
    return consumer


def entry_ids(entries: list[Entry]) -> list[str]:
    return [FeedItem.from_json(fields["item"]).entry_id for _, fields in entries]


def drain(consumers: list[ShardedConsumer], rounds: int = 200) -> list[str]:
    """Read and ack with the consumers in turn until none gets anything; the entry ids done."""
    done: list[str] = []
    for _ in range(rounds):
        got = 0
        for consumer in consumers:
            entries = consumer.read(7, None)
            got += len(entries)
            for entry in entries:
                consumer.ack(entry[0])
            done += entry_ids(entries)
        if not got:
            return done
    raise AssertionError("the queue never drained")


def pending_by_shard(client: Client, keys: Keys, shards: int) -> list[dict[str, int]]:
    found = []
    for shard in range(shards):
        summary: Any = client.xpending(keys.items_stream_of(shard), ITEMS_GROUP)
        found.append({c["name"]: int(c["pending"]) for c in summary.get("consumers") or []})
    return found


def test_entries_of_many_feeds_spread_over_the_shards_each_feed_in_its_own(
    client: redis.Redis, keys: Keys
) -> None:
    queue_feeds(client, keys, 4, FEEDS)

    for shard in range(4):
        queued: Any = client.xrange(keys.items_stream_of(shard))
        feeds = {FeedItem.from_json(f["item"]).feed_url for _, f in queued}
        assert feeds, f"shard {shard} got nothing"
        assert {shard_of(url, 4) for url in feeds} == {shard}
        for url in feeds:  # the seen set sits in the slot of the stream it guards
            assert client.zcard(keys.feed_seen_in(shard, url)) == PER_FEED
    assert not client.exists(keys.items_stream_of(4))


def test_every_entry_on_every_shard_is_processed_exactly_once_by_several_workers(
    client: redis.Redis, keys: Keys
) -> None:
    queued = queue_feeds(client, keys, 4, FEEDS)
    workers = [worker(client, keys, f"w{n}", 4) for n in range(3)]

    done = drain(workers)

    assert Counter(done) == Counter(queued), "each entry once, none missing"
    assert pending_by_shard(client, keys, 4) == [{}, {}, {}, {}]
    workers[0].trim()
    assert [client.xlen(keys.items_stream_of(k)) for k in range(4)] == [0, 0, 0, 0], "trimmed"
    report = items_status(client, keys)
    assert report["partitions"] == 4 and report["length"] == report["pending"] == 0


def test_a_worker_reads_the_shards_in_turn_not_one_until_it_is_empty(
    client: redis.Redis, keys: Keys
) -> None:
    queue_feeds(client, keys, 4, FEEDS)
    consumer = worker(client, keys, "w", 4)

    firsts = [consumer.read(2, None) for _ in range(4)]

    shards = [{FeedItem.from_json(f["item"]).feed_url for _, f in batch} for batch in firsts]
    assert sorted(shard_of(next(iter(urls)), 4) for urls in shards) == [0, 1, 2, 3]


def test_a_dead_workers_pending_entries_on_every_shard_are_taken_over_at_once(
    client: redis.Redis, keys: Keys
) -> None:
    queued = queue_feeds(client, keys, 4, FEEDS)
    dead = worker(client, keys, "dead", 4)
    taken = []
    while len(taken) < len(queued) // 2:  # holds entries of every shard, acks none
        taken += dead.read(5, None)
    held = pending_by_shard(client, keys, 4)
    assert all(shard.get("dead") for shard in held), held
    Registry(client, keys, "worker", LEASE_S).leave(Instance.this_process("worker", "dead"))

    done = drain([worker(client, keys, "live", 4)])

    assert Counter(done) == Counter(queued), "the dead one's entries too, once each"
    assert pending_by_shard(client, keys, 4) == [{}, {}, {}, {}]
    for shard in range(4):  # the dead consumer was removed from every shard's group
        names = {
            c["name"] for c in client.xinfo_consumers(keys.items_stream_of(shard), ITEMS_GROUP)
        }
        assert names == {"live"}


def test_a_live_workers_entries_are_not_taken_from_it(client: redis.Redis, keys: Keys) -> None:
    queue_feeds(client, keys, 4, FEEDS[:8])
    holder = worker(client, keys, "holder", 4)
    held = holder.read(5, None) + holder.read(5, None)
    other = worker(client, keys, "other", 4)

    done = drain([other])

    assert not set(done) & set(entry_ids(held))
    assert sum(p.get("holder", 0) for p in pending_by_shard(client, keys, 4)) == len(held)
    report = items_status(client, keys)  # `status`, metrics and /readyz: every shard summed
    assert report["pending"] == len(held) and report["undelivered"] == 0
    by_name = {c["name"]: c["pending"] for c in report["consumers"]}
    assert by_name == {"holder": len(held), "other": 0}


def test_status_reports_the_oldest_undelivered_entry_of_any_shard(
    client: redis.Redis, keys: Keys
) -> None:
    url = next(u for u in FEEDS if shard_of(u, 4) == 2)
    worker(client, keys, "w", 4)  # the groups exist, nothing read
    queue_feeds(client, keys, 4, [url])

    report = items_status(client, keys)

    first: Any = client.xrange(keys.items_stream_of(2), count=1)
    assert report["undelivered"] == PER_FEED == report["length"]
    assert report["oldest_undelivered_at"] == int(first[0][0].split("-")[0]) / 1000


def test_a_failing_entry_is_dead_lettered_in_its_shard_and_replayed_there(
    client: redis.Redis, keys: Keys
) -> None:
    url = next(u for u in FEEDS if shard_of(u, 4) == 3)
    queue_feeds(client, keys, 4, [url])
    consumer = worker(client, keys, "w", 4)
    for shard in consumer.shards:
        shard.max_attempts = 1
    entry = consumer.read(1, None)[0]

    assert consumer.fail(entry, "boom")

    assert client.xlen(keys.items_dead_of(3)) == 1
    (letter,) = list_dead(client, keys)
    assert letter.id.startswith("items:3/") and letter.reason == "boom"
    assert replay(client, keys, [letter.id]) == [letter.id]
    assert client.xlen(keys.items_dead_of(3)) == 0
    assert client.xlen(keys.items_stream_of(3)) == PER_FEED + 1, "back in its own shard"


def test_changing_the_partition_count_loses_no_entry(client: redis.Redis, keys: Keys) -> None:
    before = queue_feeds(client, keys, 1, FEEDS[:6])  # the unpartitioned stream of before
    assert not client.exists(keys.items_partitions), "one partition records nothing"
    grown = queue_feeds(client, keys, 4, FEEDS[6:14])
    shrunk = queue_feeds(client, keys, 2, FEEDS[14:])

    done = drain([worker(client, keys, "w", 2)])  # configured 2: reads the 4 shards used

    assert Counter(done) == Counter(before | grown | shrunk)
    assert ItemShards(client, keys, 1).readable() == 4


def test_a_feed_moved_to_another_shard_queues_nothing_it_had_seen(
    client: redis.Redis, keys: Keys
) -> None:
    queue_feeds(client, keys, 1, FEEDS[:12])  # seen sets under the names of before
    for change, count in enumerate((4, 16, 4), start=1):
        entries = intake(client, keys, count)
        for url in FEEDS[:12]:
            items = [FeedItem(url, url, f"{url}#{n}") for n in range(PER_FEED + change)]

            added = entries.enqueue(url, items).added

            assert added == 1, f"only the new entry, with {count} partitions"
            shard = shard_of(url, count)
            assert client.zcard(keys.feed_seen_in(shard, url)) == PER_FEED + change
            others = {0, shard_of(url, 4), shard_of(url, 16)} - {shard}
            assert not any(client.exists(keys.feed_seen_in(k, url)) for k in others), "moved"


def test_one_partition_uses_the_names_of_before(client: redis.Redis, keys: Keys) -> None:
    queue_feeds(client, keys, 1, FEEDS[:3])

    assert client.xlen(keys.items_stream) == 3 * PER_FEED
    assert all(client.zcard(keys.feed_seen(url)) == PER_FEED for url in FEEDS[:3])
    assert ItemShards(client, keys, 1).streams() == [keys.items_stream]
    assert "partitions" not in items_status(client, keys)


def test_run_once_with_four_partitions_alerts_once_and_drains_every_shard(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    site = mount_seed_site(server)
    feeds = feeds_on_every_shard(site["feed"], 4)  # copies of one feed: the same 3 articles
    receiver = Receiver()
    hook = server.route("/hook", receiver)
    config = write_config(tmp_path, prefix, feeds, hook, queue={"partitions": 4})

    result = run_cli("run", "--once", "--config", str(config), redis_url=redis_url)

    assert result.returncode == 0, result.stderr
    assert run_summary(result.stderr)["items_processed"] == 3 * len(feeds)
    watchlists = sorted(json.loads(r.body)["data"]["watchlist"]["id"] for r in receiver.received)
    assert watchlists == ["nato", "olympics", "olympics", "taiwan"], "each article alerted once"
    keys = Keys(prefix)
    assert [client.xlen(keys.items_stream_of(k)) for k in range(4)] == [0, 0, 0, 0]
    assert pending_by_shard(client, keys, 4) == [{}, {}, {}, {}]


def feeds_on_every_shard(feed: str, partitions: int) -> list[str]:
    """Copies of `feed` (its URL with `?copy=n`), at least one going to each shard."""
    feeds: dict[int, str] = {}
    copy = 0
    while len(feeds) < partitions:
        url = f"{feed}?copy={copy}"
        feeds.setdefault(shard_of(url, partitions), url)
        copy += 1
    return sorted(feeds.values())


def test_a_blocking_read_gets_an_entry_that_arrives_on_any_shard(
    client: redis.Redis, keys: Keys
) -> None:
    url = next(u for u in FEEDS if shard_of(u, 4) == 3)
    consumer = worker(client, keys, "w", 4)
    assert consumer.read(5, 200) == [], "nothing queued: the wait ends empty"
    got: list[Entry] = []

    def read_until_queued() -> bool:
        if not got:
            queue_feeds(client, keys, 4, [url])
        got.extend(consumer.read(5, 1000))
        return bool(got)

    assert wait_until(read_until_queued, timeout=30)
    assert {FeedItem.from_json(f["item"]).feed_url for _, f in got} == {url}
    assert all(eid.startswith("3/") for eid, _ in got)


def test_a_sigkilled_run_then_run_once_alerts_every_article_of_every_shard_once(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    paths = paths_on_every_shard(server, 4)
    feeds = [mount_slow_nato_site(server, 40 // len(paths), 0.3, path) for path in paths]
    receiver = Receiver()
    hook = server.route("/hook", receiver)
    config = write_config(
        tmp_path, prefix, feeds, hook,
        watchlists=[{"id": "nato", "query": "NATO", "notify": ["hook"]}],
        scheduler={"host_min_spacing": "0s", "host_max_concurrent": 8},
        queue={"partitions": 4},
    )  # fmt: skip
    keys = Keys(prefix)

    service = start_run_in_own_group(config, redis_url)
    try:
        assert wait_until(lambda: len(receiver.received) >= 8, timeout=120)
    finally:
        os.killpg(service.pid, signal.SIGKILL)
        service.wait(timeout=30)
    assert len(receiver.received) < 40, "the kill came mid-stream"
    held = pending_by_shard(client, keys, 4)
    print(f"pending at the kill, by shard: {held}")

    result = run_cli("run", "--once", "--config", str(config), redis_url=redis_url, timeout=300)

    assert result.returncode == 0, result.stderr[-3000:]
    alerts = [a["id"] for a in AlertIndex(client, keys, 86400, 10**6).recent(0)]
    assert len(alerts) == 40 == len(set(alerts)), f"every article alerted once (held: {held})"
    delivered = {json.loads(r.body)["data"]["alert_id"] for r in receiver.received}
    assert delivered == set(alerts)
    assert pending_by_shard(client, keys, 4) == [{}, {}, {}, {}]
    for shard in range(4):
        stream = keys.items_stream_of(shard)
        assert client.xinfo_consumers(stream, ITEMS_GROUP) == [], "the dead instance left"


def paths_on_every_shard(server: LocalServer, partitions: int) -> list[str]:
    """Feed paths whose `<path>/nato.xml` feeds cover every shard."""
    paths: dict[int, str] = {}
    n = 0
    while len(paths) < partitions:
        paths.setdefault(shard_of(server.url(f"/p{n}/nato.xml"), partitions), f"/p{n}")
        n += 1
    return sorted(paths.values())
