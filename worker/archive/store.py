"""The archive's storage interface, and opening the configured backend.

Two backends implement it with the same behaviour (the tests run every case on both):
`sqlite.SqliteArchive` (FTS5, the embedded default under data_dir) and
`postgres.PostgresArchive` (tsvector + GIN, for several machines). Both index the folded words
the matcher itself produces (`record.indexed_words`), not the text through a tokenizer of their
own, so a prefilter built from the query's required words agrees with the matcher by design.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, Protocol

from worker.archive.prefilter import Filter
from worker.archive.record import ArchivedArticle
from worker.config.archive import ArchiveConfig

# Column order of the stored article, shared by both backends' SELECTs and INSERTs.
COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ArchivedArticle))
LIST_COLUMNS = ("watchlists", "feed_tags")
SQLITE_FILE = "archive.sqlite3"


class ArchiveStore(Protocol):
    def add(self, records: Sequence[ArchivedArticle]) -> int:
        """Store the records not stored yet, in one transaction; returns how many were new.
        Idempotent: adding an article again (a retried stream entry) changes nothing."""

    def candidates(
        self,
        condition: Filter | None,
        since: float,
        until: float | None = None,
        watchlist: str | None = None,
    ) -> Iterator[ArchivedArticle]:
        """Articles processed in [since, until) that pass `condition` (every one when None) and,
        with `watchlist`, that this watchlist matched when they arrived; newest first."""

    def watchlist_stories(self, watchlist: str, since: float) -> list[tuple[float, str]]:
        """(processed_at, story id) of every article `watchlist` matched since `since`."""

    def feed_days(self, since: float) -> list[tuple[str, int, int]]:
        """(feed URL, UTC day number, articles) for each feed and day with articles processed
        since `since` (the dashboard's items per day)."""

    def prune(self, before: float) -> int:
        """Delete the articles processed before `before`; returns how many."""

    def count(self) -> int: ...

    def size_bytes(self) -> int:
        """Bytes the archive takes on disk (tables and indexes)."""

    def close(self) -> None: ...


def row_to_record(row: Sequence[Any]) -> ArchivedArticle:
    data = dict(zip(COLUMNS, row, strict=True))
    for name in LIST_COLUMNS:
        data[name] = tuple(data[name] or ())
    return ArchivedArticle(**data)


def open_archive(config: ArchiveConfig, data_dir: Path) -> ArchiveStore:
    """The configured archive: PostgreSQL when `archive.url` is set, else SQLite in data_dir."""
    if config.url is not None:
        from worker.archive.postgres import PostgresArchive

        return PostgresArchive(config.url)
    from worker.archive.sqlite import SqliteArchive

    return SqliteArchive(data_dir / SQLITE_FILE)
