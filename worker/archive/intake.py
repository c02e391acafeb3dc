"""The worker's side: each processed article onto the archive stream, before its item is acked.

A worker that dies after this and before the ack processes the item again and puts it here
again; the archive keeps one row per article id, so the copy changes nothing. The stream is
capped (approximately, `archive.stream_max` entries) so that Redis cannot fill up when no
archiver runs; an archiver that is down longer than that loses the oldest articles (never
alerts, which travel on their own stream).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from worker.archive.record import ArchivedArticle
from worker.pipeline.process import ProcessResult, item_identity, rule_document
from worker.queue.connection import Client
from worker.queue.keys import Keys
from worker.records import FeedItem


def archived(item: FeedItem, result: ProcessResult, now: float) -> ArchivedArticle | None:
    """The archive record of a processed item (None when it produced no article)."""
    article = result.article
    if article is None:
        return None
    story = result.story.story_id if result.story else ""
    site = rule_document(article).site  # the host `site:` saw, however the article named it
    processed = (now, story, result.outcome)
    return ArchivedArticle.of(item_identity(item), article, processed, result.matched, site)


@dataclass
class ArchiveSink:
    client: Client
    keys: Keys
    max_len: int
    clock: Callable[[], float] = time.time

    def put(self, item: FeedItem, result: ProcessResult) -> None:
        record = archived(item, result, self.clock())
        if record is None:
            return
        self.client.xadd(
            self.keys.archive_stream,
            {"article": record.to_json()},
            maxlen=self.max_len,
            approximate=True,
        )
