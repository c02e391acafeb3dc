"""One item through the worker's stages: article, exact dedupe, rules, alerts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from worker.alerts.build import alert_data, story_id_for, webhook_body
from worker.dedupe.exact import MIN_TEXT_FOR_HASH, ExactDedupe, Verdict
from worker.extraction import text_fingerprint, url_key
from worker.fetching import Fetcher
from worker.pipeline.article import build_article
from worker.pipeline.emit import AlertEmitter, PendingAlert
from worker.queue.keys import short_hash
from worker.records import Article, FeedItem
from worker.rules import Document, Matcher


@dataclass(frozen=True)
class WatchlistInfo:
    name: str
    notify: list[str]


@dataclass(frozen=True)
class ProcessResult:
    outcome: str  # "alerted", "no_match", "duplicate_url", "duplicate_text"
    alerts: int = 0
    article: Article | None = None


def item_identity(item: FeedItem) -> str:
    return f"{short_hash(item.feed_url)}:{short_hash(item.entry_id)}"


def dedupe_hashes(article: Article) -> tuple[str, str | None]:
    url = article.canonical_url or article.url or f"entry:{article.title}"
    text = text_fingerprint(article.text) if len(article.text) >= MIN_TEXT_FOR_HASH else None
    return url_key(url), text


def pending_alerts(
    article: Article,
    hits_by_watchlist: Mapping[str, list[Any]],
    watchlists: Mapping[str, WatchlistInfo],
    now: datetime,
) -> list[PendingAlert]:
    story = (story_id_for(article.canonical_url or article.url), 1)
    alerts = []
    for watchlist_id, hits in sorted(hits_by_watchlist.items()):
        info = watchlists[watchlist_id]
        matches = [hit.as_dict() for hit in hits]
        data = alert_data(article, (watchlist_id, info.name), story, matches)
        alerts.append(PendingAlert(data, info.notify, webhook_body(data, now)))
    return alerts


@dataclass
class ItemProcessor:
    fetcher: Fetcher
    dedupe: ExactDedupe
    emitter: AlertEmitter
    matcher: Callable[[], Matcher]  # called per item so a reload takes effect at once
    watchlists: Callable[[], Mapping[str, WatchlistInfo]]
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def process(self, item: FeedItem) -> ProcessResult:
        article = build_article(item, self.fetcher)
        verdict = self.dedupe.claim(item_identity(item), *dedupe_hashes(article))
        if verdict is not Verdict.NEW:
            return ProcessResult(verdict.value, article=article)
        hits = self.matcher().match(Document(title=article.title, body=article.text))
        if not hits:
            return ProcessResult("no_match", article=article)
        alerts = pending_alerts(article, hits, self.watchlists(), self.clock())
        return ProcessResult("alerted", self.emitter.emit(alerts), article)
