"""Streams trimmed of what every consumer group acked; pending and unread entries stay."""

from __future__ import annotations

import redis

from worker.queue.keys import Keys
from worker.queue.streams import StreamConsumer
from worker.queue.trim import acked_floor, trim_acked


def fill(client: redis.Redis, stream: str, count: int) -> list[str]:
    return [str(client.xadd(stream, {"n": str(n)})) for n in range(count)]


def consumer(client: redis.Redis, keys: Keys, group: str, name: str = "c") -> StreamConsumer:
    made = StreamConsumer(client, keys.items_stream, group, name, keys.items_dead, trim_every_s=1e9)
    made.ensure_group()
    return made


def test_only_entries_every_group_acked_are_trimmed(client: redis.Redis, keys: Keys) -> None:
    ids = fill(client, keys.items_stream, 10)
    fast, slow = consumer(client, keys, "fast"), consumer(client, keys, "slow")
    for entry_id, _ in fast.read(10, None):
        fast.ack(entry_id)
    taken = slow.read(6, None)
    for entry_id, _ in taken[:3]:
        slow.ack(entry_id)  # 3, 4 and 5 stay pending (a consumer holds them); 6 to 9 unread

    removed = trim_acked(client, keys.items_stream)

    assert removed == 3
    assert [e for e, _ in client.xrange(keys.items_stream)] == ids[3:]
    assert acked_floor(client, keys.items_stream) == ids[3]


def test_a_dead_consumers_pending_entries_survive_and_can_be_claimed(
    client: redis.Redis, keys: Keys
) -> None:
    fill(client, keys.items_stream, 4)
    dead = consumer(client, keys, "g", "dead")
    held = dead.read(2, None)  # taken, never acked: the consumer died
    later = consumer(client, keys, "g", "alive")
    for entry_id, _ in later.read(2, None):
        later.ack(entry_id)

    trim_acked(client, keys.items_stream)
    later.claim_idle_ms = 0
    claimed = later.read(10, None)

    assert claimed == held, "fields intact: trimming never takes a pending entry"


def test_a_stream_nobody_reads_yet_is_never_trimmed(client: redis.Redis, keys: Keys) -> None:
    fill(client, keys.items_stream, 3)
    assert trim_acked(client, keys.items_stream) == 0
    assert client.xlen(keys.items_stream) == 3
    assert trim_acked(client, keys.alerts_stream) == 0, "nor one that does not exist"


def test_reading_trims_now_and_then(client: redis.Redis, keys: Keys) -> None:
    fill(client, keys.items_stream, 5)
    reader = consumer(client, keys, "g")
    reader.trim_every_s = 0.0
    for entry_id, _ in reader.read(5, None):
        reader.ack(entry_id)

    assert reader.read(5, None) == []
    assert client.xlen(keys.items_stream) == 0, "every entry was acked: all went"
