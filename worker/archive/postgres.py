"""The shared archive: PostgreSQL, full text through a tsvector of the matcher's words + GIN.

As with SQLite, the database does not tokenize: each article's tsvector is built with
`array_to_tsvector` from the folded words the matcher produces, so a lexeme is exactly a
matcher word and a tsquery of required words (`'nato' & 'olymp':*`) never drops a match.
PostgreSQL refuses lexemes of 2 KB or more, so a word longer than `MAX_LEXEME` characters is
stored cut to that length, and a query word that long asks for the cut form as a prefix.

Migrations are versioned in `archive_migrations`; every process applies the missing ones at
start under an advisory lock, so several archivers starting together do it once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from psycopg import sql

from worker.archive.prefilter import AllOf, AnyOf, Filter, Prefix, Word
from worker.archive.record import ArchivedArticle, indexed_words
from worker.archive.sqlite import ArchiveError
from worker.archive.store import COLUMNS, row_to_record

MAX_LEXEME = 500
_FETCH_BATCH = 200
_LOCK_KEY = 0x77_77_61_72  # "wwar": the migration advisory lock

_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE archive_articles (
        id BIGSERIAL PRIMARY KEY,
        article_id TEXT NOT NULL UNIQUE,
        processed_at DOUBLE PRECISION NOT NULL,
        url TEXT NOT NULL, canonical_url TEXT NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL,
        story_id TEXT NOT NULL, outcome TEXT NOT NULL, watchlists TEXT[] NOT NULL,
        author TEXT NOT NULL, published_at TEXT NOT NULL, language TEXT NOT NULL,
        site TEXT NOT NULL, feed_url TEXT NOT NULL, feed_name TEXT NOT NULL,
        feed_tags TEXT[] NOT NULL,
        words TSVECTOR NOT NULL
    );
    CREATE INDEX archive_articles_processed_at ON archive_articles (processed_at);
    CREATE INDEX archive_articles_words ON archive_articles USING GIN (words);
    CREATE INDEX archive_articles_watchlists ON archive_articles USING GIN (watchlists);
    """,
)


def lexeme(word: str) -> str:
    return word[:MAX_LEXEME]


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def ts_query(condition: Filter) -> str:
    """tsquery syntax for a prefilter; lexemes quoted, taken as they are (no normalising)."""
    if isinstance(condition, Word):
        if len(condition.word) > MAX_LEXEME:
            return _quoted(lexeme(condition.word)) + ":*"
        return _quoted(condition.word)
    if isinstance(condition, Prefix):
        return _quoted(lexeme(condition.prefix)) + ":*"
    joiner = " & " if isinstance(condition, AllOf) else " | "
    assert isinstance(condition, AllOf | AnyOf)
    return "(" + joiner.join(ts_query(part) for part in condition.parts) + ")"


class PostgresArchive:
    def __init__(self, url: str, schema: str | None = None) -> None:
        self.schema = schema
        try:
            self.db = psycopg.connect(url)
            if schema is not None:
                self.db.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
                )
                self.db.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
                self.db.commit()
            self._migrate()
        except psycopg.Error as exc:
            raise ArchiveError(f"cannot open the archive database: {exc}") from exc

    def _migrate(self) -> None:
        with self.db.transaction():
            self.db.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS archive_migrations"
                " (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            row = self.db.execute("SELECT coalesce(max(version), 0) FROM archive_migrations")
            version = int(row.fetchone()[0])  # type: ignore[index]
            for number in range(version, len(_MIGRATIONS)):
                self.db.execute(_MIGRATIONS[number])
                self.db.execute(
                    "INSERT INTO archive_migrations (version) VALUES (%s)", (number + 1,)
                )

    def add(self, records: Sequence[ArchivedArticle]) -> int:
        columns = ", ".join((*COLUMNS, "words"))
        placeholders = ", ".join(["%s"] * len(COLUMNS) + ["array_to_tsvector(%s::text[])"])
        statement = (
            f"INSERT INTO archive_articles ({columns}) VALUES ({placeholders})"  # noqa: S608
            " ON CONFLICT (article_id) DO NOTHING"
        )
        rows = [_row(record) for record in records]
        if not rows:
            return 0
        with self.db.transaction(), self.db.cursor() as cursor:
            cursor.executemany(statement, rows)  # pipelined: one round trip per batch
            return max(0, cursor.rowcount)  # the rows inserted (a known id inserts none)

    def candidates(
        self,
        condition: Filter | None,
        since: float,
        until: float | None = None,
        watchlist: str | None = None,
    ) -> Iterator[ArchivedArticle]:
        query = f"SELECT {', '.join(COLUMNS)} FROM archive_articles WHERE processed_at >= %s"  # noqa: S608
        params: list[Any] = [since]
        if until is not None:
            query += " AND processed_at < %s"
            params.append(until)
        if condition is not None:
            query += " AND words @@ %s::tsquery"
            params.append(ts_query(condition))
        if watchlist is not None:
            query += " AND watchlists @> ARRAY[%s]::text[]"
            params.append(watchlist)
        query += " ORDER BY processed_at DESC, id DESC"
        with self.db.transaction(), self.db.cursor(name=f"c{uuid.uuid4().hex}") as cursor:
            cursor.itersize = _FETCH_BATCH
            cursor.execute(query, params)
            for row in cursor:
                yield row_to_record(row)

    def watchlist_stories(self, watchlist: str, since: float) -> list[tuple[float, str]]:
        with self.db.transaction():
            rows = self.db.execute(
                "SELECT processed_at, story_id FROM archive_articles"
                " WHERE watchlists @> ARRAY[%s]::text[] AND processed_at >= %s"
                " ORDER BY processed_at",
                (watchlist, since),
            ).fetchall()
        return [(float(at), str(story)) for at, story in rows]

    def feed_days(self, since: float) -> list[tuple[str, int, int]]:
        with self.db.transaction():
            rows = self.db.execute(
                "SELECT feed_url, floor(processed_at / 86400)::bigint AS day, count(*)"
                " FROM archive_articles WHERE processed_at >= %s GROUP BY feed_url, day",
                (since,),
            ).fetchall()
        return [(str(url), int(day), int(n)) for url, day, n in rows]

    def prune(self, before: float) -> int:
        with self.db.transaction():
            cursor = self.db.execute(
                "DELETE FROM archive_articles WHERE processed_at < %s", (before,)
            )
            return cursor.rowcount

    def count(self) -> int:
        with self.db.transaction():
            row = self.db.execute("SELECT count(*) FROM archive_articles").fetchone()
        return int(row[0]) if row else 0

    def size_bytes(self) -> int:
        with self.db.transaction():
            row = self.db.execute(
                "SELECT pg_total_relation_size('archive_articles'::regclass)"
            ).fetchone()
        return int(row[0]) if row else 0

    def drop(self) -> None:
        """Remove the archive's tables (and its schema, when it has its own): for tests."""
        with self.db.transaction():
            if self.schema is not None:
                self.db.execute(
                    sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(self.schema))
                )
            else:
                self.db.execute("DROP TABLE archive_articles, archive_migrations")

    def close(self) -> None:
        self.db.close()


def _row(record: ArchivedArticle) -> list[Any]:
    values: list[Any] = [getattr(record, name) for name in COLUMNS]
    values = [list(v) if isinstance(v, tuple) else v for v in values]
    values.append(sorted({lexeme(word) for word in indexed_words(record)}))
    return values
