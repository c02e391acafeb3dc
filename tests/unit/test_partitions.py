"""Items shards (`queue.partitions`): which shard a feed's entries go to, and the key names."""

from __future__ import annotations

from collections import Counter

import pytest
from redis.crc import key_slot

from worker.config import Settings
from worker.queue.keys import Keys, shard_of
from worker.queue.partitions import qualified, unqualified

FEEDS = [f"https://news{n}.example/feed.xml" for n in range(1600)]


def test_one_partition_puts_every_feed_in_shard_zero() -> None:
    assert {shard_of(url, 1) for url in FEEDS} == {0}


def test_a_feeds_shard_is_a_stable_hash_of_its_url() -> None:
    # Fixed values: a change of hash would move every feed's seen set to another shard.
    assert [shard_of(url, 16) for url in FEEDS[:8]] == [9, 2, 13, 4, 0, 6, 6, 5]
    assert shard_of("https://example.com/feed", 16) == 7
    assert shard_of("https://example.com/feed", 4) == 7 % 4


@pytest.mark.parametrize("partitions", [2, 4, 16])
def test_feeds_spread_evenly_over_the_shards(partitions: int) -> None:
    counts = Counter(shard_of(url, partitions) for url in FEEDS)
    assert set(counts) == set(range(partitions))
    expected = len(FEEDS) / partitions
    assert all(0.75 * expected < n < 1.25 * expected for n in counts.values()), counts


def test_shard_zero_keeps_the_unpartitioned_names() -> None:
    keys = Keys("ww")
    url = FEEDS[0]
    assert keys.items_stream_of(0) == keys.items_stream == "{ww:items}:stream"
    assert keys.items_dead_of(0) == keys.items_dead
    assert keys.seen_entries_of(0) == keys.seen_entries
    assert keys.feed_seen_in(0, url) == keys.feed_seen(url)


def test_each_shards_keys_share_one_slot_and_shards_use_different_slots() -> None:
    keys = Keys("ww")
    slots = []
    for shard in range(16):
        url = next(u for u in FEEDS if shard_of(u, 16) == shard)
        names = [
            keys.items_stream_of(shard),
            keys.items_dead_of(shard),
            keys.seen_entries_of(shard),
            keys.feed_seen_in(shard, url),
            f"{keys.items_stream_of(shard)}:failures",
        ]
        assert len({key_slot(name.encode()) for name in names}) == 1, names
        slots.append(key_slot(names[0].encode()))
    assert len(set(slots)) == 16


def test_qualified_entry_ids_name_their_shard() -> None:
    assert unqualified(qualified(3, "1700000000000-7")) == (3, "1700000000000-7")


def test_the_setting_defaults_to_one_partition_and_refuses_zero() -> None:
    assert Settings().queue.partitions == 1
    assert Settings.model_validate({"queue": {"partitions": 16}}).queue.partitions == 16
    with pytest.raises(ValueError, match="partitions"):
        Settings.model_validate({"queue": {"partitions": 0}})
