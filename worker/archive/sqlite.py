"""The embedded archive: one SQLite file under data_dir, WAL, FTS5 over the matcher's words.

FTS5 would tokenize text its own way, so it is given the matcher's folded words instead, each
as one token it cannot split: a word of ASCII letters and digits as itself, any other as `_`
and its UTF-8 in hex (`_` is a token character here and never part of a folded word, so the two
forms never collide, and a hex prefix is a prefix of the hex, so prefix queries still work).
The index keeps no positions (`detail=none`): it only says which articles hold a word.

One process writes (the archiver); readers (search, back-test) run alongside thanks to WAL.
Schema versions are in `PRAGMA user_version`; `_MIGRATIONS[n]` takes version n to n + 1.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from worker.archive.prefilter import AllOf, AnyOf, Filter, Prefix, Word
from worker.archive.record import ArchivedArticle, indexed_words
from worker.archive.store import COLUMNS, LIST_COLUMNS
from worker.errors import WirewatchError

_PLAIN = re.compile(r"[a-z0-9]+")
_FETCH_BATCH = 200
_BUSY_TIMEOUT_S = 30.0

_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE articles (
        id INTEGER PRIMARY KEY,
        article_id TEXT NOT NULL UNIQUE,
        processed_at REAL NOT NULL,
        url TEXT NOT NULL, canonical_url TEXT NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL,
        story_id TEXT NOT NULL, outcome TEXT NOT NULL, watchlists TEXT NOT NULL,
        author TEXT NOT NULL, published_at TEXT NOT NULL, language TEXT NOT NULL,
        site TEXT NOT NULL, feed_url TEXT NOT NULL, feed_name TEXT NOT NULL,
        feed_tags TEXT NOT NULL
    );
    CREATE INDEX articles_processed_at ON articles (processed_at);
    CREATE TABLE article_watchlists (
        watchlist TEXT NOT NULL, processed_at REAL NOT NULL, article INTEGER NOT NULL,
        story_id TEXT NOT NULL,
        PRIMARY KEY (watchlist, processed_at, article)
    ) WITHOUT ROWID;
    CREATE INDEX article_watchlists_article ON article_watchlists (article);
    CREATE VIRTUAL TABLE article_words USING fts5(
        words, tokenize = "unicode61 remove_diacritics 0 tokenchars '_'", detail = none
    );
    """,
)


class ArchiveError(WirewatchError):
    """The archive database could not be opened or used."""


def fts_token(word: str) -> str:
    """The one FTS5 token a folded word is stored as (module doc)."""
    return word if _PLAIN.fullmatch(word) else "_" + word.encode("utf-8").hex()


def fts_query(condition: Filter) -> str:
    """FTS5 query syntax for a prefilter (tokens quoted, so nothing in them is an operator)."""
    if isinstance(condition, Word):
        return f'"{fts_token(condition.word)}"'
    if isinstance(condition, Prefix):
        encoded = '"_' + condition.prefix.encode("utf-8").hex() + '"*'
        if _PLAIN.fullmatch(condition.prefix):  # ASCII words stay plain, longer ones may not
            return f'("{condition.prefix}"* OR {encoded})'
        return encoded
    joiner = " AND " if isinstance(condition, AllOf) else " OR "
    assert isinstance(condition, AllOf | AnyOf)
    return "(" + joiner.join(fts_query(part) for part in condition.parts) + ")"


class SqliteArchive:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")  # WAL: durable at checkpoints
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise ArchiveError(f"cannot open the archive {path}: {exc}") from exc

    def _migrate(self) -> None:
        with self._transaction():
            version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
            for number in range(version, len(_MIGRATIONS)):
                for statement in _statements(_MIGRATIONS[number]):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {number + 1}")

    def _transaction(self) -> Any:
        return _Transaction(self.db)

    def add(self, records: Sequence[ArchivedArticle]) -> int:
        added = 0
        with self._transaction():
            for record in records:
                added += self._add_one(record)
        return added

    def _add_one(self, record: ArchivedArticle) -> int:
        values = [_column_value(name, getattr(record, name)) for name in COLUMNS]
        placeholders = ", ".join("?" * len(COLUMNS))
        cursor = self.db.execute(
            f"INSERT INTO articles ({', '.join(COLUMNS)}) VALUES ({placeholders})"  # noqa: S608
            " ON CONFLICT (article_id) DO NOTHING",
            values,
        )
        if cursor.rowcount == 0:
            return 0
        row = cursor.lastrowid
        words = " ".join(sorted(fts_token(word) for word in indexed_words(record)))
        self.db.execute("INSERT INTO article_words (rowid, words) VALUES (?, ?)", (row, words))
        self.db.executemany(
            "INSERT INTO article_watchlists VALUES (?, ?, ?, ?)",
            [(w, record.processed_at, row, record.story_id) for w in set(record.watchlists)],
        )
        return 1

    def candidates(
        self,
        condition: Filter | None,
        since: float,
        until: float | None = None,
        watchlist: str | None = None,
    ) -> Iterator[ArchivedArticle]:
        sql = f"SELECT {', '.join(COLUMNS)} FROM articles WHERE processed_at >= ?"  # noqa: S608
        params: list[Any] = [since]
        if until is not None:
            sql += " AND processed_at < ?"
            params.append(until)
        if condition is not None:
            sql += " AND id IN (SELECT rowid FROM article_words WHERE article_words MATCH ?)"
            params.append(fts_query(condition))
        if watchlist is not None:
            sql += " AND id IN (SELECT article FROM article_watchlists WHERE watchlist = ?)"
            params.append(watchlist)
        cursor = self.db.execute(sql + " ORDER BY processed_at DESC, id DESC", params)
        while rows := cursor.fetchmany(_FETCH_BATCH):
            yield from map(_record, rows)

    def watchlist_stories(self, watchlist: str, since: float) -> list[tuple[float, str]]:
        rows = self.db.execute(
            "SELECT processed_at, story_id FROM article_watchlists"
            " WHERE watchlist = ? AND processed_at >= ? ORDER BY processed_at",
            (watchlist, since),
        ).fetchall()
        return [(float(at), str(story)) for at, story in rows]

    def feed_days(self, since: float) -> list[tuple[str, int, int]]:
        rows = self.db.execute(
            "SELECT feed_url, CAST(processed_at / 86400 AS INTEGER) AS day, count(*)"
            " FROM articles WHERE processed_at >= ? GROUP BY feed_url, day",
            (since,),
        ).fetchall()
        return [(str(url), int(day), int(n)) for url, day, n in rows]

    def prune(self, before: float) -> int:
        with self._transaction():
            old = "SELECT id FROM articles WHERE processed_at < ?"
            self.db.execute(f"DELETE FROM article_words WHERE rowid IN ({old})", (before,))  # noqa: S608
            self.db.execute(f"DELETE FROM article_watchlists WHERE article IN ({old})", (before,))  # noqa: S608
            return self.db.execute(
                "DELETE FROM articles WHERE processed_at < ?", (before,)
            ).rowcount

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM articles").fetchone()[0])

    def size_bytes(self) -> int:
        return sum(
            p.stat().st_size
            for p in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm"))
            if p.exists()
        )

    def close(self) -> None:
        self.db.close()


class _Transaction:
    """BEGIN IMMEDIATE (take the write lock at once) ... COMMIT, or ROLLBACK on an error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if kind is not None else "COMMIT")


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";\n") if part.strip()]


def _column_value(name: str, value: Any) -> Any:
    return json.dumps(list(value), ensure_ascii=False) if name in LIST_COLUMNS else value


def _record(row: Sequence[Any]) -> ArchivedArticle:
    data = dict(zip(COLUMNS, row, strict=True))
    for name in LIST_COLUMNS:
        data[name] = tuple(json.loads(data[name]))
    return ArchivedArticle(**data)
