"""The archiver: articles from the workers' stream into the archive, once each, whatever dies."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
import structlog

from tests.support.archive import POSTGRES_URL
from tests.support.cli import start_cli, write_config
from tests.support.roles import kill, stop, wait_until
from worker.archive.archiver import Archiver
from worker.archive.intake import ArchiveSink, archived
from worker.archive.record import ArchivedArticle
from worker.archive.sqlite import SqliteArchive
from worker.pipeline.process import ProcessResult, item_identity
from worker.queue.keys import ARCHIVE_GROUP, Keys
from worker.queue.streams import StreamConsumer
from worker.records import Article, FeedItem

T0 = 1_800_000_000.0


def item_and_result(n: int, text: str = "NATO allies met.") -> tuple[FeedItem, ProcessResult]:
    item = FeedItem("https://feed.example/rss", "Feed", f"entry-{n}", f"https://x.example/{n}")
    article = Article(
        url=item.link,
        canonical_url=item.link,
        title=f"Story {n}",
        text=text,
        feed_url=item.feed_url,
        feed_name="Feed",
        feed_tags=["world"],
    )
    return item, ProcessResult("alerted", 1, article, None, 0, ("nato",))


def consumer(client: redis.Redis, keys: Keys, max_attempts: int = 2) -> StreamConsumer:
    return StreamConsumer(
        client,
        keys.archive_stream,
        ARCHIVE_GROUP,
        "archiver-test",
        keys.archive_dead,
        max_attempts=max_attempts,
        claim_idle_ms=1,
    )


def test_a_processed_article_is_archived_once_even_when_handed_over_twice(
    client: redis.Redis, keys: Keys, tmp_path: Path
) -> None:
    sink = ArchiveSink(client, keys, max_len=10_000, clock=lambda: T0)
    for n in range(3):
        sink.put(*item_and_result(n))
    sink.put(*item_and_result(1))  # a worker retried item 1 after a crash before its ack
    store = SqliteArchive(tmp_path / "a.sqlite3")
    archiver = Archiver(consumer(client, keys), store, 86400.0, 3600.0, 100, structlog.get_logger())
    try:
        assert archiver.run_until_drained() == 4
        assert store.count() == 3
        stored = list(store.candidates(None, 0))
        item, result = item_and_result(2)
        assert archived(item, result, T0) in stored
        assert {r.article_id for r in stored} == {
            item_identity(item_and_result(n)[0]) for n in range(3)
        }
        assert all(r.watchlists == ("nato",) and r.site == "x.example" for r in stored)
    finally:
        store.close()


def test_a_malformed_entry_is_dead_lettered_and_the_others_are_stored(
    client: redis.Redis, keys: Keys, tmp_path: Path
) -> None:
    sink = ArchiveSink(client, keys, max_len=10_000, clock=lambda: T0)
    sink.put(*item_and_result(1))
    client.xadd(keys.archive_stream, {"article": '{"article_id": "no time"}'})
    client.xadd(keys.archive_stream, {"something": "else"})
    sink.put(*item_and_result(2))
    store = SqliteArchive(tmp_path / "a.sqlite3")
    archiver = Archiver(consumer(client, keys), store, 86400.0, 3600.0, 100, structlog.get_logger())
    try:
        archiver.run_until_drained()
        archiver.run_until_drained()  # the second attempt dead-letters them (max_attempts 2)
        assert store.count() == 2
        dead = client.xrange(keys.archive_dead)
        assert len(dead) == 2
        assert all("article" in entry["error"] or "KeyError" in entry["error"] for _, entry in dead)
        assert client.xpending(keys.archive_stream, ARCHIVE_GROUP)["pending"] == 0
    finally:
        store.close()


def test_pruning_runs_by_itself_on_the_archivers_clock(
    client: redis.Redis, keys: Keys, tmp_path: Path
) -> None:
    now = [T0]
    sink = ArchiveSink(client, keys, max_len=10_000, clock=lambda: now[0])
    store = SqliteArchive(tmp_path / "a.sqlite3")
    archiver = Archiver(
        consumer(client, keys), store, 86400.0, 3600.0, 100, structlog.get_logger(), lambda: now[0]
    )
    archiver.consumer.ensure_group()
    try:
        for n in range(48):  # one article an hour for two days
            now[0] = T0 + n * 3600
            sink.put(*item_and_result(n))
            archiver.step(None)
        assert store.count() == 25  # the last day (and the article exactly a day old)
        oldest = min(r.processed_at for r in store.candidates(None, 0))
        assert oldest >= now[0] - 86400 - 3600
    finally:
        store.close()


def test_the_stream_is_capped_so_no_archiver_cannot_fill_redis(
    client: redis.Redis, keys: Keys
) -> None:
    sink = ArchiveSink(client, keys, max_len=1000, clock=lambda: T0)
    for n in range(3000):
        sink.put(*item_and_result(n, text="x"))
    assert client.xlen(keys.archive_stream) < 2000


# -- SIGKILL mid-write, on both backends ------------------------------------------------------
ARTICLES = 3000


@pytest.fixture(params=["sqlite", "postgres"])
def archive_section(request: pytest.FixtureRequest) -> Iterator[dict[str, object]]:
    if request.param == "sqlite":
        yield {"batch": 500}
        return
    schema = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
    try:
        yield {"batch": 500, "url": f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"}
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as db:
            db.execute(f"DROP SCHEMA {schema} CASCADE")


def stored_ids(section: dict[str, object], data_dir: Path) -> list[str]:
    if "url" in section:
        with psycopg.connect(str(section["url"])) as db:
            try:
                rows = db.execute("SELECT article_id FROM archive_articles").fetchall()
            except psycopg.errors.UndefinedTable:
                return []
        return [row[0] for row in rows]
    path = data_dir / "archive.sqlite3"
    if not path.exists():
        return []
    store = SqliteArchive(path)
    try:
        return [row[0] for row in store.db.execute("SELECT article_id FROM articles")]
    finally:
        store.close()


def test_one_row_per_article_after_sigkills_of_the_archiver_mid_write(
    tmp_path: Path,
    redis_url: str,
    prefix: str,
    client: redis.Redis,
    archive_section: dict[str, object],
) -> None:
    keys = Keys(prefix)
    sink = ArchiveSink(client, keys, max_len=100_000, clock=lambda: T0)
    rnd = random.Random(7)
    words = [
        "nato",
        "summit",
        "alliance",
        "taiwan",
        "strait",
        "olympics",
        "games",
        "winter",
        "beijing",
    ]
    for n in range(ARTICLES):
        sink.put(*item_and_result(n, " ".join(rnd.choices(words, k=400))))
    # read now: the stream is trimmed once every group has acked its entries
    sample = json.loads(client.xrange(keys.archive_stream, count=1)[0][1]["article"])
    worker = {"claim_idle": "1s", "max_attempts": 50}
    config = write_config(tmp_path, prefix, [], worker=worker, archive=archive_section)
    data_dir = tmp_path / "data"
    kills_mid_way = 0
    for _ in range(3):
        process = start_cli("archiver", "--config", str(config), redis_url=redis_url)
        before = len(stored_ids(archive_section, data_dir))
        wait_until(lambda b=before: len(stored_ids(archive_section, data_dir)) > b, timeout=60)
        kill(process)  # SIGKILL: whatever batch it was writing is cut off
        if len(stored_ids(archive_section, data_dir)) < ARTICLES:
            kills_mid_way += 1
    assert kills_mid_way >= 1, "every kill came after the archiver had finished"
    last = start_cli("archiver", "--config", str(config), redis_url=redis_url)
    drained = wait_until(lambda: len(stored_ids(archive_section, data_dir)) >= ARTICLES, 120)
    assert wait_until(
        lambda: client.xpending(keys.archive_stream, ARCHIVE_GROUP)["pending"] == 0, 60
    )
    log = stop(last)
    ids = stored_ids(archive_section, data_dir)
    assert drained, log[-2000:]
    assert len(ids) == ARTICLES
    assert len(set(ids)) == ARTICLES
    assert client.xlen(keys.archive_dead) == 0
    assert ArchivedArticle.from_dict(sample).article_id in set(ids)
