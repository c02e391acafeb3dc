"""The story index against a real Redis: clustering, races, retries, expiry, compact encoding."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from tests.unit.test_dedupe_fingerprint import ORIGINAL, SAME_EVENT_PAIRS, VARIANTS, body
from worker.dedupe.settings import DedupeConfig
from worker.dedupe.stories import StoryAssignment, StoryIndex
from worker.errors import QueueError
from worker.queue.keys import Keys

NOW = 1_700_000_000.0


def index(client: redis.Redis, keys: Keys, **settings: object) -> StoryIndex:
    return StoryIndex(client, keys, DedupeConfig.model_validate(settings))


def test_three_variants_make_one_story_of_three(client: redis.Redis, keys: Keys) -> None:
    stories = index(client, keys)
    first = stories.assign("feed-a/original", ORIGINAL, "Sweden drops Assange case", NOW)
    second = stories.assign("feed-b/syndicated", VARIANTS["boilerplate around"], "Other", NOW + 5)
    third = stories.assign("m.feed-c/short", VARIANTS["shortened to two thirds"], "X", NOW + 9)
    assert first.new_story and first.articles == 1 and first.story_id.startswith("st_")
    assert second == StoryAssignment(first.story_id, 2, False)
    assert third == StoryAssignment(first.story_id, 3, False)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_variant_joins_the_original(client: redis.Redis, keys: Keys, name: str) -> None:
    stories = index(client, keys)
    first = stories.assign("original", ORIGINAL, "t", NOW)
    assert stories.assign("copy", VARIANTS[name], "t", NOW) == StoryAssignment(
        first.story_id, 2, False
    )


@pytest.mark.parametrize(("a", "b"), SAME_EVENT_PAIRS)
def test_two_articles_on_one_event_make_two_stories(
    client: redis.Redis, keys: Keys, a: str, b: str
) -> None:
    stories = index(client, keys)
    first = stories.assign(a, body(a), "t", NOW)
    second = stories.assign(b, body(b), "t", NOW)
    assert first.new_story and second.new_story and first.story_id != second.story_id


def race(stories: StoryIndex, texts: list[str], tag: str, now: float) -> list[StoryAssignment]:
    """Assign each text from its own thread, all released at the same instant."""
    barrier = threading.Barrier(len(texts))
    results = [StoryAssignment("", 0, False)] * len(texts)

    def work(i: int) -> None:
        barrier.wait()
        results[i] = stories.assign(f"{tag}-{i}", texts[i], "t", now)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_racing_workers_open_one_story(client: redis.Redis, keys: Keys) -> None:
    stories = index(client, keys)
    copies = [VARIANTS["boilerplate around"], VARIANTS["editor's note"], ORIGINAL]
    for round_ in range(30):
        # a new round a day later: a fresh story each time
        results = race(stories, copies, f"r{round_}", NOW + round_ * 86400 * 8)
        assert len({r.story_id for r in results}) == 1
        assert sorted(r.new_story for r in results) == [False, False, True]
        assert sorted(r.articles for r in results) == [1, 2, 3]


def test_a_retry_returns_its_story_and_counts_once(client: redis.Redis, keys: Keys) -> None:
    stories = index(client, keys)
    first = stories.assign("original", ORIGINAL, "t", NOW)
    copy = stories.assign("copy", VARIANTS["paragraph dropped"], "t", NOW + 1)
    again = stories.assign("copy", VARIANTS["paragraph dropped"], "t", NOW + 2)
    edited = stories.assign("copy", "Corrected and rewritten. " * 20, "New headline", NOW + 3)
    assert copy == again == edited == StoryAssignment(first.story_id, 2, False)
    assert stories.assign("original", ORIGINAL, "t", NOW + 4).articles == 2


def test_an_updated_item_is_not_a_new_story(client: redis.Redis, keys: Keys) -> None:
    stories = index(client, keys)
    first = stories.assign("url-1", ORIGINAL, "t", NOW)
    updated = stories.assign("url-1", body(SAME_EVENT_PAIRS[0][0]), "t", NOW + 60)
    assert updated == StoryAssignment(first.story_id, 1, False)


def test_short_texts_never_join_a_story(client: redis.Redis, keys: Keys) -> None:
    stories = index(client, keys)
    one = stories.assign("a", "Breaking: markets fall", "Markets fall", NOW)
    two = stories.assign("b", "Breaking: markets fall", "Markets fall", NOW)
    assert one.new_story and two.new_story and one.story_id != two.story_id


def test_stories_close_after_the_window(client: redis.Redis, keys: Keys) -> None:
    stories = index(client, keys, window="1h", slots_per_window=4)
    first = stories.assign("a", ORIGINAL, "t", NOW)
    joined = stories.assign("b", VARIANTS["editor's note"], "t", NOW + 3599)
    later = stories.assign("c", VARIANTS["paragraph dropped"], "t", NOW + 3599 + 4500)
    assert joined.story_id == first.story_id and joined.articles == 2
    assert later.new_story and later.story_id != first.story_id
    # past the window the first story is forgotten: "a" again counts as a copy of the later one
    again = stories.assign("a", ORIGINAL, "t", NOW + 2 * 4500)
    assert again == StoryAssignment(later.story_id, 2, False)


def test_redis_drops_the_index_after_the_window(client: redis.Redis, keys: Keys) -> None:
    stories = index(client, keys, window="300ms", slots_per_window=1)
    stories.assign("a", ORIGINAL, "t", time.time())
    assert client.keys(f"{{{keys.prefix}:stories}}:b:*")
    ttls = [client.pttl(k) for k in client.keys(f"{{{keys.prefix}:stories}}:[bras]:*")]
    assert ttls and all(0 < ttl <= 600 for ttl in ttls)
    time.sleep(0.8)
    assert client.keys(f"{{{keys.prefix}:stories}}:[bras]:*") == []
    assert stories.assign("b", ORIGINAL, "t", time.time()).new_story


def test_index_hashes_stay_compact(client: redis.Redis, keys: Keys) -> None:
    stories = index(client, keys, index_buckets=64)
    for i in range(20):
        stories.assign(f"a{i}", f"{i} " + ORIGINAL, "t", NOW)
    hashes = client.keys(f"{{{keys.prefix}:stories}}:[bras]:*")
    # listpack since Redis 7, ziplist before: both are the compact one
    assert hashes and {client.object("encoding", k) for k in hashes} <= {"listpack", "ziplist"}


def test_redis_failure_is_a_queue_error(keys: Keys) -> None:
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    with pytest.raises(QueueError, match="story index"):
        StoryIndex(dead, keys, DedupeConfig()).assign("a", ORIGINAL, "t", NOW)
