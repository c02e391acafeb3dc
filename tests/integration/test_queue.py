"""Redis plumbing against a real server: keys, embedded server, consumers, dedupe, emit."""

from __future__ import annotations

import json
from pathlib import Path

import redis
from redis.cluster import key_slot

from worker.dedupe.exact import ExactDedupe, Verdict
from worker.pipeline.emit import AlertEmitter, PendingAlert
from worker.queue.connection import read_hashes
from worker.queue.embedded import EmbeddedRedis, server_config, socket_path_for
from worker.queue.keys import Keys
from worker.queue.streams import StreamConsumer


def test_a_stream_and_its_helper_keys_share_one_cluster_slot() -> None:
    keys = Keys("ww")
    items = {
        keys.items_stream,
        keys.seen_entries,
        keys.feed_seen("https://ex.com/feed"),
        keys.dedupe_url("a"),
        keys.dedupe_text("b"),
        keys.items_dead,
    }
    alerts = {
        keys.alerts_stream,
        keys.alert_marker("x"),
        keys.deliveries,
        keys.endpoint_due("hook"),
        keys.endpoint_state("hook"),
        keys.digest_buffer("hook"),
        keys.deliveries_dead,
    }
    assert len({key_slot(k.encode()) for k in items}) == 1
    assert len({key_slot(k.encode()) for k in alerts}) == 1


def test_embedded_server_persists_with_aof_and_listens_on_no_port(tmp_path: Path) -> None:
    options = server_config(tmp_path, tmp_path / "s.sock")
    assert options[options.index("--appendonly") + 1] == "yes"
    assert options[options.index("--appendfsync") + 1] == "everysec"
    assert options[options.index("--port") + 1] == "0"
    with EmbeddedRedis(tmp_path) as server:
        conn = redis.Redis.from_url(server.url)
        conn.set("k", "v")
        conn.close()
    with EmbeddedRedis(tmp_path) as server:
        assert redis.Redis.from_url(server.url).get("k") == b"v"


def test_a_long_data_dir_gets_a_short_socket_path(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 120)
    assert len(str(socket_path_for(deep))) <= 100


def group_drained(client: redis.Redis, stream: str) -> bool:
    """No pending entries and none left unread by the group."""
    [group] = client.xinfo_groups(stream)
    last = client.xinfo_stream(stream)["last-generated-id"]
    return group["pending"] == 0 and group["last-delivered-id"] == last


def consumer(client: redis.Redis, keys: Keys, name: str, attempts: int = 3) -> StreamConsumer:
    c = StreamConsumer(
        client,
        keys.items_stream,
        "g",
        name,
        keys.items_dead,
        max_attempts=attempts,
        claim_idle_ms=50,
    )
    c.ensure_group()
    return c


def test_a_restarted_consumer_first_rereads_its_own_pending_entries(
    client: redis.Redis, keys: Keys
) -> None:
    first = consumer(client, keys, "c1")
    client.xadd(keys.items_stream, {"n": "1"})
    client.xadd(keys.items_stream, {"n": "2"})
    taken = first.read(10, None)
    assert [f["n"] for _, f in taken] == ["1", "2"]

    restarted = consumer(client, keys, "c1")  # same name, as after a restart
    again = restarted.read(10, None)

    assert [f["n"] for _, f in again] == ["1", "2"]
    for entry_id, _ in again:
        restarted.ack(entry_id)
    assert restarted.read(10, None) == []
    assert group_drained(client, keys.items_stream)


def test_abandoned_entries_are_claimed_by_another_consumer(client: redis.Redis, keys: Keys) -> None:
    dead = consumer(client, keys, "dead")
    client.xadd(keys.items_stream, {"n": "1"})
    dead.read(10, None)
    other = consumer(client, keys, "other")
    other.read(10, None)  # pending pass: other has none
    import time

    time.sleep(0.1)
    claimed = other.read(10, None)
    assert [f["n"] for _, f in claimed] == ["1"]


def test_an_entry_failing_every_time_is_dead_lettered_and_the_rest_flow(
    client: redis.Redis, keys: Keys
) -> None:
    c = consumer(client, keys, "c", attempts=3)
    poison = client.xadd(keys.items_stream, {"n": "poison"})
    good = client.xadd(keys.items_stream, {"n": "good"})
    for _ in range(3):
        c.rewind_pending()
        entries = c.read(10, None)
        for entry in entries:
            if entry[0] == poison:
                c.fail(entry, "boom")
            else:
                c.ack(entry[0])
    dead = client.xrange(keys.items_dead)
    assert len(dead) == 1
    assert dead[0][1]["id"] == poison and dead[0][1]["error"] == "boom"
    assert json.loads(dead[0][1]["fields"]) == {"n": "poison"}
    assert group_drained(client, keys.items_stream)
    assert good


def test_exact_dedupe_recognises_the_same_item_and_refuses_another(
    client: redis.Redis, keys: Keys
) -> None:
    dedupe = ExactDedupe(client, keys, 60)
    assert dedupe.claim("item-a", "url1", "text1") is Verdict.NEW
    assert dedupe.claim("item-a", "url1", "text1") is Verdict.NEW, "a retry of the same item"
    assert dedupe.claim("item-b", "url1", "text2") is Verdict.SAME_URL
    assert dedupe.claim("item-c", "url3", "text1") is Verdict.SAME_TEXT
    assert dedupe.claim("item-d", "url4", None) is Verdict.NEW
    assert dedupe.claim("item-e", "url5", None, "title1") is Verdict.NEW
    assert dedupe.claim("item-f", "url6", None, "title1") is Verdict.SAME_TITLE
    assert dedupe.claim("item-e", "url5", None, "title1") is Verdict.NEW, "a retry of the same item"
    assert 0 < client.ttl(keys.dedupe_url("url1")) <= 60


def test_emitting_the_same_alert_twice_adds_it_once(client: redis.Redis, keys: Keys) -> None:
    emitter = AlertEmitter(client, keys, 60)
    alert = PendingAlert("nato", {"alert_id": "al_1"}, ["hook"], '{"data":{"alert_id":"al_1"}}')
    other = PendingAlert("taiwan", {"alert_id": "al_2"}, [], '{"data":{"alert_id":"al_2"}}')
    assert emitter.emit("st_1", 1, [alert]) == 1
    assert emitter.emit("st_1", 2, [alert, other]) == 1
    entries = client.xrange(keys.alerts_stream)
    assert [json.loads(f["body"])["data"]["alert_id"] for _, f in entries] == ["al_1", "al_2"]
    assert all(set(f) == {"notify", "body"} for _, f in entries), "the alert's JSON stored once"
    assert json.loads(entries[0][1]["notify"]) == ["hook"]
    assert emitter.announced("st_1") == {"nato": 1, "taiwan": 2}


def test_a_story_update_is_sent_once_per_step_of_growth(client: redis.Redis, keys: Keys) -> None:
    emitter = AlertEmitter(client, keys, 60)
    emitter.emit("st_1", 1, [PendingAlert("nato", {"alert_id": "al_1"}, [], "{}")])
    update = PendingAlert("nato", {"event_id": "su_1"}, [], "{}")
    never_alerted = PendingAlert("taiwan", {"event_id": "su_2"}, [], "{}")

    assert emitter.update("st_1", 2, 2, [update, never_alerted]) == 0, "grew by 1 < 2"
    assert emitter.update("st_1", 3, 2, [update, never_alerted]) == 1
    assert emitter.update("st_1", 3, 2, [update]) == 0, "the same growth is not announced twice"
    assert emitter.announced("st_1") == {"nato": 3}


def test_title_keys_are_per_feed_normalised_and_skip_generic_titles() -> None:
    from worker.dedupe.exact import title_key

    key = title_key("https://a/feed", "Putin, Xi declare opposition to NATO expansion")
    assert key == title_key("https://a/feed", "putin xi declare  opposition to nato expansion!")
    assert key != title_key("https://b/feed", "Putin, Xi declare opposition to NATO expansion")
    assert title_key("https://a/feed", "Live updates") is None


def test_read_hashes_returns_each_hash_in_order_across_batches(
    client: redis.Redis, keys: Keys
) -> None:
    names = [keys.feed_state(f"https://feeds.example/{i}") for i in range(7)]
    for i, name in enumerate(names):
        if i != 3:  # one feed never polled: no hash at all
            client.hset(name, mapping={"n": str(i), "status": "ok"})
    found = read_hashes(client, names, batch=3)
    assert found[3] == {}
    assert [row.get("n") for row in found] == ["0", "1", "2", None, "4", "5", "6"]
    assert all(row["status"] == "ok" for i, row in enumerate(found) if i != 3)
