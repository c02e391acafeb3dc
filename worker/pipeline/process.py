"""One item through the worker's stages: article, exact dedupe, story, rules, alerts.

Every article joins a story (or opens one), duplicates included, so a story counts its sources.
Only an article that is not an exact duplicate is matched; its alerts carry the story id, and an
alert id is (watchlist, story), so a story alerts once per watchlist however many copies arrive.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from worker.alerts.build import STORY_UPDATED, alert_data, story_update_data, webhook_body
from worker.dedupe.exact import MIN_TEXT_FOR_HASH, ExactDedupe, Verdict, title_key
from worker.dedupe.stories import StoryAssignment, StoryIndex, story_update_due
from worker.extraction import text_fingerprint, url_key
from worker.observability.metrics import METRICS
from worker.pipeline.article import PoliteFetcher, build_article
from worker.pipeline.emit import AlertEmitter, PendingAlert
from worker.pipeline.watchlists import WatchlistInfo, WatchlistSet
from worker.queue.keys import short_hash
from worker.records import Article, FeedItem
from worker.rules import Document


class ItemOutcome(StrEnum):
    """What became of one item (the `outcome` of its `item_processed` log line)."""

    ALERTED = "alerted"
    ALREADY_ALERTED = "already_alerted"  # it matched, but its story had alerted those watchlists
    NO_MATCH = "no_match"
    DUPLICATE_URL = Verdict.SAME_URL.value
    DUPLICATE_TEXT = Verdict.SAME_TEXT.value
    DUPLICATE_TITLE = Verdict.SAME_TITLE.value


@dataclass(frozen=True)
class ProcessResult:
    outcome: ItemOutcome
    alerts: int = 0
    article: Article | None = None
    story: StoryAssignment | None = None
    updates: int = 0
    matched: tuple[str, ...] = ()  # the watchlists that matched (alerted now or before)


def item_identity(item: FeedItem) -> str:
    return f"{short_hash(item.feed_url)}:{short_hash(item.entry_id)}"


def dedupe_hashes(item: FeedItem, article: Article) -> tuple[str, str | None, str | None]:
    """(canonical URL, text, title within its feed) keys of an article for exact dedupe."""
    url = article.canonical_url or article.url or f"entry:{article.title}"
    text = text_fingerprint(article.text) if len(article.text) >= MIN_TEXT_FOR_HASH else None
    return url_key(url), text, title_key(item.feed_url, item.title)


def rule_document(article: Article) -> Document:
    """The article as rules see it; `site:` gets the full host so `site:www.x.com` works too."""
    return Document(
        title=article.title,
        body=article.text,
        site=urlsplit(article.canonical_url or article.url).hostname or article.site,
        feed=(article.feed_name, *article.feed_tags),
        author=article.author,
        lang=article.language,
    )


def pending_alerts(
    article: Article,
    hits_by_watchlist: Mapping[str, list[Any]],
    watchlists: Mapping[str, WatchlistInfo],
    story: tuple[str, int],
    now: datetime,
) -> list[PendingAlert]:
    alerts = []
    for watchlist_id, hits in sorted(hits_by_watchlist.items()):
        info = watchlists[watchlist_id]
        matches = [hit.as_dict() for hit in hits]
        data = alert_data(article, (watchlist_id, info.name), story, matches)
        alerts.append(PendingAlert(watchlist_id, data, info.notify, webhook_body(data, now)))
    return alerts


def story_updates(
    article: Article,
    announced: Mapping[str, int],
    watchlists: Mapping[str, WatchlistInfo],
    story: tuple[str, int],
    now: datetime,
) -> list[PendingAlert]:
    """A `story.updated` event for each watchlist that alerted on the story (and still exists)."""
    events = []
    for watchlist_id in sorted(announced):
        info = watchlists.get(watchlist_id)
        if info is None:
            continue
        data = story_update_data(article, (watchlist_id, info.name), story)
        body = webhook_body(data, now, STORY_UPDATED)
        events.append(PendingAlert(watchlist_id, data, info.notify, body))
    return events


@dataclass
class _Work:
    """One item on its way through the stages: what each stage found, and the outcome once a
    stage decides it."""

    item: FeedItem
    now: datetime
    rules: WatchlistSet
    article: Article | None = None
    verdict: Verdict = Verdict.NEW
    story: StoryAssignment | None = None
    hits: Mapping[str, list[Any]] = field(default_factory=dict)
    emitted: int = 0
    outcome: ItemOutcome | None = None


@dataclass
class ItemProcessor:
    pages: PoliteFetcher
    dedupe: ExactDedupe
    stories: StoryIndex
    emitter: AlertEmitter
    rules: Callable[[], WatchlistSet]  # called per item so a reload takes effect at once
    story_updated_after: int | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def process(self, item: FeedItem) -> ProcessResult:
        """Run the item through the stages in order until one decides its outcome, then
        announce the growth of its story once (story.updated, when configured)."""
        work = _Work(item, self.clock(), self.rules())
        for stage in (self._article, self._exact, self._story, self._match, self._emit):
            stage(work)
            if work.outcome is not None:
                break
        assert work.article is not None and work.story is not None and work.outcome is not None
        updates = self._announce_growth(work.article, self._grown(work), work.rules, work.now)
        matched = tuple(sorted(work.hits))
        return ProcessResult(work.outcome, work.emitted, work.article, work.story, updates, matched)

    # -- the stages, in order ------------------------------------------------------------------
    def _article(self, work: _Work) -> None:
        work.article = build_article(work.item, self.pages)

    def _exact(self, work: _Work) -> None:
        assert work.article is not None
        identity = item_identity(work.item)
        work.verdict = self.dedupe.claim(identity, *dedupe_hashes(work.item, work.article))

    def _story(self, work: _Work) -> None:
        """Every article joins a story (or opens one), duplicates included, so a story counts
        its sources; an exact duplicate stops here."""
        assert work.article is not None
        article, at = work.article, work.now.timestamp()
        work.story = self.stories.assign(item_identity(work.item), article.text, article.title, at)
        if work.verdict is not Verdict.NEW:
            work.outcome = ItemOutcome(work.verdict.value)

    def _match(self, work: _Work) -> None:
        assert work.article is not None
        with METRICS.timed("wirewatch_matching_duration_seconds"):
            work.hits = work.rules.matcher.match(rule_document(work.article))
        if not work.hits:
            work.outcome = ItemOutcome.NO_MATCH

    def _emit(self, work: _Work) -> None:
        assert work.article is not None and work.story is not None
        story = work.story
        story_ref = (story.story_id, story.articles)
        alerts = pending_alerts(work.article, work.hits, work.rules.table, story_ref, work.now)
        work.emitted = self.emitter.emit(story.story_id, story.articles, alerts)
        work.outcome = ItemOutcome.ALERTED if work.emitted else ItemOutcome.ALREADY_ALERTED

    def _grown(self, work: _Work) -> StoryAssignment | None:
        """The story as its growth is announced: none for a story this article opened without
        alerting; after an alert, re-counted, since copies may have joined while this one was
        matched (they could not see this alert yet, so their growth is announced from here)."""
        story = work.story
        assert story is not None
        if work.emitted and self.story_updated_after is not None:
            at = work.now.timestamp()
            return replace(story, articles=self.stories.articles(story.story_id, at))
        return None if story.new_story else story

    def _announce_growth(
        self, article: Article, story: StoryAssignment | None, rules: WatchlistSet, now: datetime
    ) -> int:
        every = self.story_updated_after
        if every is None or story is None:
            return 0
        announced = self.emitter.announced(story.story_id)
        if not any(story_update_due(story.articles, n, every) for n in announced.values()):
            return 0
        story_ref = (story.story_id, story.articles)
        events = story_updates(article, announced, rules.table, story_ref, now)
        return self.emitter.update(story.story_id, story.articles, every, events)
