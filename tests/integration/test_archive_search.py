"""Search and back-test agree exactly with the matcher (`wirewatch match`) over the corpus, on
both backends, for generated queries of every kind the language has."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.support.archive import BACKENDS, open_backend
from tests.support.archive_corpus import corpus_articles
from tests.support.corpus import require_corpus
from worker.archive.record import ArchivedArticle
from worker.archive.search import backtest, search
from worker.archive.store import ArchiveStore
from worker.errors import QueryError
from worker.rules import Document, Matcher
from worker.rules.text import folded_words


@pytest.fixture(scope="module")
def records() -> list[ArchivedArticle]:
    return corpus_articles(require_corpus())


@pytest.fixture(scope="module", params=BACKENDS)
def filled(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    records: list[ArchivedArticle],
) -> Iterator[ArchiveStore]:
    for store in open_backend(request.param, tmp_path_factory.mktemp("archive")):
        store.add(records)
        yield store


@pytest.fixture(scope="module")
def vocabulary(records: list[ArchivedArticle]) -> list[str]:
    """Words of the corpus: frequent ones and rare ones, so queries both hit and miss."""
    counts: dict[str, int] = {}
    for record in records:
        for word in set(folded_words(record.text)):
            if re.fullmatch(r"[a-z]{3,}", word):
                counts[word] = counts.get(word, 0) + 1
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    return ranked[:60] + ranked[200:260] + ranked[2000:2040]


@pytest.fixture(scope="module")
def documents(records: list[ArchivedArticle]) -> list[tuple[str, Document]]:
    """(article id, rules document) newest first, built once: documents keep their indexes."""
    newest_first = sorted(records, key=lambda r: -r.processed_at)
    return [(r.article_id, r.document()) for r in newest_first]


def matcher_ids(documents: list[tuple[str, Document]], query: str) -> list[str]:
    """What `wirewatch match --query` says of each article (the same Matcher), newest first."""
    matcher = Matcher.compile([("q", query)])
    return [article_id for article_id, doc in documents if matcher.match(doc).get("q")]


def queries(words: list[str]) -> st.SearchStrategy[str]:
    word = st.sampled_from(words)
    leaf = st.one_of(
        word,
        word.map(lambda w: w[: max(2, len(w) - 3)] + "*"),
        st.tuples(word, word).map(lambda p: f'"{p[0]} {p[1]}"'),
        st.tuples(word, word, st.integers(1, 8)).map(lambda p: f'"{p[0]} {p[1]}"~{p[2]}'),
        word.map(lambda w: f"title:{w}"),
        st.sampled_from(["site:wsj.com", "site:com", "feed:tech", "lang:en"]),
    )
    near = st.tuples(leaf, leaf, st.integers(1, 10), st.booleans()).map(
        lambda p: f"({p[0]}) {'ONEAR' if p[3] else 'NEAR'}/{p[2]} ({p[1]})"
    )
    base = st.one_of(
        leaf,
        near,
        st.tuples(st.integers(1, 4), word, word).map(lambda p: f"atleast({p[0]}, {p[1]}, {p[2]})"),
    )
    return st.recursive(
        base,
        lambda inner: st.one_of(
            st.tuples(inner, inner).map(lambda p: f"({p[0]}) AND ({p[1]})"),
            st.tuples(inner, inner).map(lambda p: f"({p[0]}) OR ({p[1]})"),
            st.tuples(inner, inner).map(lambda p: f"({p[0]}) NOT ({p[1]})"),
        ),
        max_leaves=5,
    )


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_search_and_backtest_agree_with_the_matcher(
    data: st.DataObject,
    filled: ArchiveStore,
    records: list[ArchivedArticle],
    documents: list[tuple[str, Document]],
    vocabulary: list[str],
) -> None:
    query = data.draw(queries(vocabulary))
    try:
        expected = matcher_ids(documents, query)
    except QueryError:
        assume(False)
    found = search(filled, query, since=0, limit=1000)
    assert [hit.article_id for hit in found.hits] == expected, query
    assert not found.more
    tried = backtest(filled, query, since=0, samples=3)
    assert tried.articles == len(expected)
    by_id = {r.article_id: r for r in records}
    stories = {by_id[i].story_id for i in expected}
    assert tried.stories == len(stories)
    alerting = {by_id[i].story_id for i in expected if by_id[i].outcome == "no_match"}
    assert {alert.story_id for alert in tried.alerts} == alerting
    assert sum(day.articles for day in tried.per_day) == len(expected)
    assert [hit.article_id for hit in tried.samples] == expected[:3]


def near_queries(words: list[str]) -> st.SearchStrategy[str]:
    """NEARs of common words, the case the positional prefilter narrows: terms, prefixes,
    phrases and ORs of them on each side, every distance from 0, both operators."""
    word = st.sampled_from(words[:60])
    leaf = st.one_of(
        word,
        word.map(lambda w: w[: max(2, len(w) - 2)] + "*"),
        st.tuples(word, word).map(lambda p: f'"{p[0]} {p[1]}"'),
        word.map(lambda w: f"title:{w}"),
    )
    side = st.one_of(leaf, st.tuples(leaf, leaf).map(lambda p: f"{p[0]} OR {p[1]}"))
    return st.tuples(side, side, st.integers(0, 12), st.booleans()).map(
        lambda p: f"({p[0]}) {'ONEAR' if p[3] else 'NEAR'}/{p[2]} ({p[1]})"
    )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_near_over_common_words_agrees_with_the_matcher_and_is_narrowed(
    data: st.DataObject,
    filled: ArchiveStore,
    documents: list[tuple[str, Document]],
    vocabulary: list[str],
) -> None:
    query = data.draw(near_queries(vocabulary))
    try:
        expected = matcher_ids(documents, query)
    except QueryError:
        assume(False)
    found = search(filled, query, since=0, limit=1000)
    assert [hit.article_id for hit in found.hits] == expected, query


def test_the_positions_narrow_a_near_of_common_words(filled: ArchiveStore) -> None:
    """Both words are in most articles; close together in few: the index now says which."""
    words_only = search(filled, "people AND time", since=0, limit=1000)
    near = search(filled, "people NEAR/2 time", since=0, limit=1000)
    assert near.hits
    assert near.examined < words_only.examined / 2


def test_the_index_narrows_a_selective_query(
    filled: ArchiveStore, records: list[ArchivedArticle]
) -> None:
    found = search(filled, "google AND (stadia OR xcloud)", since=0)
    assert found.hits, "the corpus has the Stadia article"
    assert not found.scanned
    assert found.examined < len(records) / 10
    assert all(hit.matches and hit.matches[0]["snippet"] for hit in found.hits)


def test_a_query_requiring_no_word_scans_the_window(filled: ArchiveStore) -> None:
    found = search(filled, "site:wsj.com", since=0, limit=1000)
    assert found.scanned
    assert found.hits and all("wsj.com" in hit.url for hit in found.hits)


def test_search_limit_window_and_watchlist(
    filled: ArchiveStore, records: list[ArchivedArticle]
) -> None:
    newest = max(r.processed_at for r in records)
    everything = search(filled, "the", since=0, limit=1000).hits
    recent = search(filled, "the", since=newest - 10 * 1800 + 1, limit=1000).hits
    assert [h.article_id for h in recent] == [h.article_id for h in everything][: len(recent)]
    assert 0 < len(recent) <= 10
    first = search(filled, "the", since=0, limit=3)
    assert len(first.hits) == 3 and first.more
    assert search(filled, "the", since=0, watchlist="nothing-matched-this").hits == []


def test_backtest_against_another_query_lists_stories_gained_and_lost(filled: ArchiveStore) -> None:
    result = backtest(filled, "google", since=0, against="apple")
    google = {a.story_id for a in backtest(filled, "google", since=0).alerts}
    apple = {a.story_id for a in backtest(filled, "apple", since=0).alerts}
    assert {a.story_id for a in result.gained} == google - apple
    assert {a.story_id for a in result.lost} == apple - google
    assert google != apple


def test_a_bad_query_says_where(filled: ArchiveStore) -> None:
    with pytest.raises(QueryError) as caught:
        search(filled, "NATO AND (", since=0)
    assert caught.value.position >= 0
