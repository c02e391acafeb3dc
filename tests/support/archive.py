"""Archive backends for tests: SQLite in a temporary folder and PostgreSQL in a schema of its
own (dropped afterwards) on the machine's server ($WIREWATCH_TEST_POSTGRES, default
postgresql://postgres@127.0.0.1:5432/test)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from worker.archive.record import ArchivedArticle
from worker.archive.store import ArchiveStore

POSTGRES_URL = os.environ.get(
    "WIREWATCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
BACKENDS = ("sqlite", "postgres")


def open_backend(kind: str, tmp_path: Path) -> Iterator[ArchiveStore]:
    if kind == "sqlite":
        from worker.archive.sqlite import SqliteArchive

        store = SqliteArchive(tmp_path / "archive.sqlite3")
        try:
            yield store
        finally:
            store.close()
        return
    from worker.archive.postgres import PostgresArchive

    pg = PostgresArchive(POSTGRES_URL, schema="t_" + uuid.uuid4().hex[:12])
    try:
        yield pg
    finally:
        pg.db.rollback()
        pg.drop()
        pg.close()


def article(
    n: int,
    at: float,
    title: str = "",
    text: str = "",
    story: str = "",
    watchlists: tuple[str, ...] = (),
    **extra: str,
) -> ArchivedArticle:
    return ArchivedArticle(
        article_id=f"a{n}",
        processed_at=at,
        url=f"https://news.example/{n}",
        canonical_url=f"https://news.example/{n}",
        title=title or f"Article {n}",
        text=text,
        story_id=story or f"st_{n}",
        outcome="alerted" if watchlists else "no_match",
        watchlists=watchlists,
        site="news.example",
        feed_name="Example News",
        feed_tags=("world",),
        **extra,  # type: ignore[arg-type]
    )
