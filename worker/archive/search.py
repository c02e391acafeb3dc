"""Search and back-test over the archive: plain functions an API can call as well as the CLI.

Both work the same way: the query's required words (`prefilter`) go to the database's
full-text index, which narrows the candidates in the time window; the project's own `Matcher`
then decides on each candidate's rules document, rebuilt field for field as the worker built it.
So a result is exactly what alerting would have said about that article with this query.
When the query requires no word at all (`site:x`, `NOT …` inside an OR), the window is scanned.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from worker.archive.prefilter import prefilter
from worker.archive.record import ArchivedArticle
from worker.archive.store import ArchiveStore
from worker.rules import Matcher, parse_query
from worker.rules.compiled import compile_check

_RULE = "query"


@dataclass(frozen=True)
class ArticleHit:
    article_id: str
    processed_at: float
    title: str
    url: str
    story_id: str
    feed: str
    watchlists: tuple[str, ...]
    matches: tuple[dict[str, str], ...] = ()  # field, text, snippet (as in an alert)

    @property
    def when(self) -> str:
        return datetime.fromtimestamp(self.processed_at, UTC).strftime("%Y-%m-%d %H:%MZ")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["processed_at"] = when_iso(self.processed_at)
        data["watchlists"], data["matches"] = list(self.watchlists), list(self.matches)
        return data


@dataclass(frozen=True)
class SearchResult:
    query: str
    since: float
    hits: list[ArticleHit]
    examined: int  # candidates the index gave and the matcher looked at
    scanned: bool  # True when nothing could be required of an article (the window was read)
    more: bool  # True when `limit` cut the list short

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "since": when_iso(self.since),
            "count": len(self.hits),
            "more": self.more,
            "examined": self.examined,
            "scanned": self.scanned,
            "results": [hit.as_dict() for hit in self.hits],
        }


def when_iso(timestamp: float) -> str:
    return (
        datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


class CompiledQuery:
    """A query in the watchlist language, parsed once (a QueryError says where it is wrong)."""

    def __init__(self, query: str) -> None:
        self.text = query
        self.node = parse_query(query)
        self.matcher = Matcher({_RULE: self.node})
        # The matcher's own compiled test of this rule: what `Matcher.matching` runs after its
        # presearch index, which the database's prefilter has already done the work of.
        self.check = compile_check(self.node)
        self.condition = prefilter(self.node)

    def hit(self, record: ArchivedArticle, doc: Any) -> ArticleHit:
        hits = self.matcher.match(doc).get(_RULE, [])
        return article_hit(record, tuple(hit.as_dict() for hit in hits))


def article_hit(record: ArchivedArticle, matches: tuple[dict[str, str], ...]) -> ArticleHit:
    return ArticleHit(
        record.article_id,
        record.processed_at,
        record.title,
        record.canonical_url or record.url,
        record.story_id,
        record.feed_name,
        record.watchlists,
        matches,
    )


def search(
    store: ArchiveStore,
    query: str,
    since: float,
    watchlist: str | None = None,
    limit: int = 20,
) -> SearchResult:
    """The newest `limit` archived articles since `since` (unix seconds) that `query` matches;
    with `watchlist`, only among those that watchlist matched when they arrived."""
    compiled = CompiledQuery(query)
    hits: list[ArticleHit] = []
    examined = 0
    more = False
    for record in store.candidates(compiled.condition, since, watchlist=watchlist):
        examined += 1
        doc = record.document()
        if not compiled.check(doc):
            continue
        if len(hits) == limit:
            more = True
            break
        hits.append(compiled.hit(record, doc))
    return SearchResult(query, since, hits, examined, compiled.condition is None, more)


# -- back-test -----------------------------------------------------------------------------
@dataclass
class DayCount:
    day: str
    articles: int = 0
    stories: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {"day": self.day, "articles": self.articles, "stories": len(self.stories)}


@dataclass(frozen=True)
class WouldAlert:
    """The alert a query would have sent for one story: on its first matching article that was
    not an exact duplicate (the worker matches no exact duplicate)."""

    story_id: str
    article: ArticleHit

    def as_dict(self) -> dict[str, Any]:
        return {"story_id": self.story_id, "article": self.article.as_dict()}


@dataclass(frozen=True)
class BacktestResult:
    query: str
    since: float
    articles: int
    stories: int
    per_day: list[DayCount]
    alerts: list[WouldAlert]  # oldest first
    samples: list[ArticleHit]  # newest matching articles, with snippets
    examined: int
    against: str | None = None
    gained: list[WouldAlert] = field(default_factory=list)  # alerts only this query sends
    lost: list[WouldAlert] = field(default_factory=list)  # alerts only `against` sends

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "query": self.query,
            "since": when_iso(self.since),
            "articles": self.articles,
            "stories": self.stories,
            "alerts": len(self.alerts),
            "examined": self.examined,
            "per_day": [day.as_dict() for day in self.per_day],
            "would_alert": [alert.as_dict() for alert in self.alerts],
            "samples": [hit.as_dict() for hit in self.samples],
        }
        if self.against is not None:
            data["against"] = self.against
            data["gained"] = [alert.as_dict() for alert in self.gained]
            data["lost"] = [alert.as_dict() for alert in self.lost]
        return data


@dataclass
class _Tally:
    articles: int = 0
    examined: int = 0
    days: dict[str, DayCount] = field(default_factory=dict)
    alerts: dict[str, WouldAlert] = field(default_factory=dict)  # story -> earliest seen so far
    samples: list[ArticleHit] = field(default_factory=list)


def _tally(compiled: CompiledQuery, store: ArchiveStore, since: float, samples: int) -> _Tally:
    tally = _Tally()
    for record in store.candidates(compiled.condition, since):
        tally.examined += 1
        doc = record.document()
        if not compiled.check(doc):
            continue
        tally.articles += 1
        story = record.story_id or record.article_id
        day = datetime.fromtimestamp(record.processed_at, UTC).strftime("%Y-%m-%d")
        count = tally.days.setdefault(day, DayCount(day))
        count.articles += 1
        count.stories.add(story)
        if len(tally.samples) < samples:
            tally.samples.append(compiled.hit(record, doc))
        if not record.outcome.startswith("duplicate"):  # newest first: the last one seen wins
            tally.alerts[story] = WouldAlert(story, article_hit(record, ()))
    return tally


def backtest(
    store: ArchiveStore,
    query: str,
    since: float,
    against: str | None = None,
    samples: int = 5,
) -> BacktestResult:
    """What `query` would have caught since `since`: matching articles and distinct stories per
    day, the alerts it would have sent (one per story), sample hits; with `against` (another
    query, e.g. the watchlist as it is now), the alerts gained and lost by switching."""
    compiled = CompiledQuery(query)
    other = CompiledQuery(against) if against is not None else None
    tally = _tally(compiled, store, since, samples)
    alerts = sorted(tally.alerts.values(), key=lambda a: a.article.processed_at)
    per_day = [tally.days[day] for day in sorted(tally.days)]
    stories = len(set().union(*(day.stories for day in per_day))) if per_day else 0
    result = BacktestResult(
        query, since, tally.articles, stories, per_day, alerts, tally.samples, tally.examined
    )
    if other is None:
        return result
    theirs = _tally(other, store, since, 0).alerts
    gained = [alert for alert in alerts if alert.story_id not in theirs]
    lost = sorted(
        (alert for story, alert in theirs.items() if story not in tally.alerts),
        key=lambda a: a.article.processed_at,
    )
    return BacktestResult(
        query,
        since,
        tally.articles,
        stories,
        per_day,
        alerts,
        tally.samples,
        tally.examined,
        against,
        gained,
        lost,
    )
