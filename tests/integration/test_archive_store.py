"""The archive's storage: both backends (SQLite + FTS5, PostgreSQL + tsvector) pass every case."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.archive import BACKENDS, article, open_backend
from worker.archive.prefilter import AllOf, AnyOf, Prefix, Word, prefilter, satisfied
from worker.archive.record import ArchivedArticle, indexed_words
from worker.archive.sqlite import SqliteArchive
from worker.archive.store import ArchiveStore
from worker.rules import parse_query

T0 = 1_800_000_000.0


@pytest.fixture(params=BACKENDS)
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArchiveStore]:
    yield from open_backend(request.param, tmp_path)


def ids(found: object) -> list[str]:
    return [record.article_id for record in found]  # type: ignore[attr-defined]


def test_adding_an_article_twice_keeps_one_row(archive: ArchiveStore) -> None:
    record = article(1, T0, text="NATO leaders met in Brussels.")
    assert archive.add([record]) == 1
    assert archive.add([record, record]) == 0
    assert archive.count() == 1
    assert list(archive.candidates(None, 0)) == [record]


def test_a_record_comes_back_field_for_field(archive: ArchiveStore) -> None:
    record = article(
        7,
        T0,
        title="Zürich: «Überraschung»",
        text="Text with 'quotes' and \\ backslashes",
        watchlists=("nato", "swiss"),
        author="Anna Müller",
        language="de",
        published_at="2027-01-15T10:00:00Z",
    )
    archive.add([record])
    assert list(archive.candidates(None, 0)) == [record]


def test_candidates_are_newest_first_within_the_window(archive: ArchiveStore) -> None:
    archive.add([article(n, T0 + n * 60, text="same words") for n in range(5)])
    assert ids(archive.candidates(None, T0 + 60, T0 + 240)) == ["a3", "a2", "a1"]
    assert ids(archive.candidates(Word("same"), T0 + 180)) == ["a4", "a3"]


def test_full_text_condition_selects_by_the_matchers_words(archive: ArchiveStore) -> None:
    archive.add(
        [
            article(1, T0 + 1, text="NATO's expansion eastward"),
            article(2, T0 + 2, text="A senator spoke about the Olympics in Москва"),
            article(3, T0 + 3, text="北京 hosts the Winter Olympiad"),
            article(4, T0 + 4, title="Nothing", text="weather report"),
        ]
    )
    assert ids(archive.candidates(Word("nato"), 0)) == ["a1"]  # never "senator"
    assert ids(archive.candidates(Prefix("olymp"), 0)) == ["a3", "a2"]
    assert ids(archive.candidates(Word("москва"), 0)) == ["a2"]
    assert ids(archive.candidates(Prefix("моск"), 0)) == ["a2"]
    assert ids(archive.candidates(Word("北"), 0)) == ["a3"]
    both = AllOf((Word("winter"), Prefix("olymp")))
    assert ids(archive.candidates(both, 0)) == ["a3"]
    either = AnyOf((Word("weather"), Word("nato")))
    assert ids(archive.candidates(either, 0)) == ["a4", "a1"]
    assert ids(archive.candidates(Word("example"), 0)) == ["a4", "a3", "a2", "a1"]  # feed name


def test_backend_agrees_with_the_reference_prefilter(archive: ArchiveStore) -> None:
    texts = [
        "NATO summit in Vilnius",
        "Olympic torch relay",
        "Olympiad results and NATO-led mission",
        "Taiwan strait tensions",
        "Straßenbahn in Zürich",
    ]
    records = [article(n, T0 + n, text=text) for n, text in enumerate(texts)]
    archive.add(records)
    for query in [
        "NATO",
        "olymp*",
        "NATO AND olymp*",
        "Taiwan OR Vilnius",
        '"torch relay" OR strait',
        "strasse* OR zurich",
        "NATO NEAR/3 mission",
        "tensions -Taiwan",
        "site:news.example",
    ]:
        condition = prefilter(parse_query(query))
        expected = [r.article_id for r in reversed(records)]
        if condition is not None:
            expected = [
                r.article_id for r in reversed(records) if satisfied(condition, indexed_words(r))
            ]
        assert ids(archive.candidates(condition, 0)) == expected, query


def test_watchlist_filter_and_story_times(archive: ArchiveStore) -> None:
    archive.add(
        [
            article(1, T0 + 1, text="x", story="st_a", watchlists=("nato",)),
            article(2, T0 + 2, text="x", story="st_a", watchlists=("nato", "taiwan")),
            article(3, T0 + 3, text="x", story="st_b", watchlists=("taiwan",)),
            article(4, T0 + 4, text="x", story="st_c"),
        ]
    )
    assert ids(archive.candidates(None, 0, watchlist="nato")) == ["a2", "a1"]
    assert ids(archive.candidates(Word("x"), 0, watchlist="taiwan")) == ["a3", "a2"]
    assert archive.watchlist_stories("taiwan", T0 + 2.5) == [(T0 + 3, "st_b")]
    assert archive.watchlist_stories("nato", 0) == [(T0 + 1, "st_a"), (T0 + 2, "st_a")]


def test_feed_days_count_articles_per_feed_and_utc_day(archive: ArchiveStore) -> None:
    day = 86400 * 20_000
    archive.add(
        [
            article(1, day + 10, feed_url="https://a.example/feed"),
            article(2, day + 86399, feed_url="https://a.example/feed"),
            article(3, day + 86400, feed_url="https://a.example/feed"),
            article(4, day + 5, feed_url="https://b.example/feed"),
            article(5, day - 1, feed_url="https://b.example/feed"),
        ]
    )
    assert sorted(archive.feed_days(day)) == [
        ("https://a.example/feed", 20_000, 2),
        ("https://a.example/feed", 20_001, 1),
        ("https://b.example/feed", 20_000, 1),
    ]


def test_pruning_removes_old_articles_from_every_index(archive: ArchiveStore) -> None:
    archive.add([article(n, T0 + n * 3600, text="nato", watchlists=("nato",)) for n in range(10)])
    assert archive.prune(T0 + 4 * 3600) == 4
    assert archive.count() == 6
    assert ids(archive.candidates(Word("nato"), 0)) == [f"a{n}" for n in range(9, 3, -1)]
    assert len(archive.watchlist_stories("nato", 0)) == 6
    assert archive.prune(T0 + 4 * 3600) == 0
    archive.add([article(1, T0 + 3600, text="nato")])  # a late retry of a pruned article
    assert archive.count() == 7


def test_sqlite_archive_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    first = SqliteArchive(path)
    first.add([article(1, T0, text="kept")])
    first.close()
    again = SqliteArchive(path)
    try:
        assert ids(again.candidates(Word("kept"), 0)) == ["a1"]
        assert again.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert again.size_bytes() > 0
    finally:
        again.close()


def test_a_malformed_record_is_refused_with_a_reason() -> None:
    from worker.archive.record import BadArchiveRecord

    with pytest.raises(BadArchiveRecord, match="article_id"):
        ArchivedArticle.from_json(
            '{"article_id": "", "processed_at": 1, "url": "", '
            '"canonical_url": "", "title": "", "text": ""}'
        )
    with pytest.raises(BadArchiveRecord):
        ArchivedArticle.from_json("not json")
    record = article(3, T0, text="body", watchlists=("w",))
    assert ArchivedArticle.from_json(record.to_json()) == record


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("NATO", Word("nato")),
        ("olymp*", Prefix("olymp")),
        ('"North Atlantic"', AllOf((Word("north"), Word("atlantic")))),
        ("NATO -Baltic", Word("nato")),
        ("NATO OR olymp*", AnyOf((Word("nato"), Prefix("olymp")))),
        ("NATO OR (Taiwan NOT Beijing)", AnyOf((Word("nato"), Word("taiwan")))),
        ("NATO OR site:example.com", None),
        ("title:Zürich", Word("zurich")),
        (
            "(NATO OR alliance) NEAR/5 summit",
            AllOf((AnyOf((Word("nato"), Word("alliance"))), Word("summit"))),
        ),
        ("atleast(2, NATO, Taiwan)", AnyOf((Word("nato"), Word("taiwan")))),
        ("lang:en AND =NATO", Word("nato")),
    ],
)
def test_the_prefilter_requires_only_what_the_query_requires(query: str, expected: object) -> None:
    assert prefilter(parse_query(query)) == expected
