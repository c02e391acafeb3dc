"""One archived article: what a worker made of a feed item, plus its story and matches.

The worker puts it on the archive stream as flat JSON (`to_json`); the archiver stores it;
search and back-test rebuild the exact rules document from it (`document`), so a query sees
an archived article as the worker's matcher saw it when it arrived.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from worker.errors import WirewatchError
from worker.records import Article
from worker.rules import Document
from worker.rules.occurrences import TEXT_SECTIONS


class BadArchiveRecord(WirewatchError):
    """A stream entry that is not an archived article (dead-lettered, never stored)."""


@dataclass(frozen=True)
class ArchivedArticle:
    article_id: str  # the item identity (feed hash : entry hash): one row per article
    processed_at: float  # unix seconds when the worker processed it
    url: str
    canonical_url: str
    title: str
    text: str
    story_id: str = ""
    outcome: str = ""  # the worker's verdict: alerted, no_match, duplicate_url, duplicate_text
    watchlists: tuple[str, ...] = ()  # ids of the watchlists that matched it
    author: str = ""
    published_at: str = ""
    language: str = ""
    site: str = ""  # the host `site:` queries look at
    feed_url: str = ""
    feed_name: str = ""
    feed_tags: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def of(
        cls,
        article_id: str,
        article: Article,
        processed: tuple[float, str, str],
        watchlists: tuple[str, ...],
        site: str,
    ) -> ArchivedArticle:
        """From a worker's Article; `processed` is (time, story id, outcome)."""
        processed_at, story_id, outcome = processed
        return cls(
            article_id=article_id,
            processed_at=processed_at,
            url=article.url,
            canonical_url=article.canonical_url,
            title=article.title,
            text=article.text,
            story_id=story_id,
            outcome=outcome,
            watchlists=tuple(watchlists),
            author=article.author,
            published_at=article.published_at,
            language=article.language,
            site=site,
            feed_url=article.feed_url,
            feed_name=article.feed_name,
            feed_tags=tuple(article.feed_tags),
        )

    def document(self) -> Document:
        """The rules document, field for field as `worker.pipeline.process.rule_document`."""
        return Document(
            title=self.title,
            body=self.text,
            site=self.site,
            feed=(self.feed_name, *self.feed_tags),
            author=self.author,
            lang=self.language,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ArchivedArticle:
        try:
            data: dict[str, Any] = json.loads(text)
            return cls.from_dict(data)
        except (ValueError, TypeError, KeyError) as exc:
            raise BadArchiveRecord(f"not an archived article: {exc}") from exc

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchivedArticle:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for name in ("watchlists", "feed_tags"):
            known[name] = tuple(str(v) for v in known.get(name) or ())
        record = cls(**known)
        if not record.article_id or not isinstance(record.processed_at, int | float):
            raise BadArchiveRecord("an archived article needs article_id and processed_at")
        return record


def indexed_sequence(record: ArchivedArticle) -> list[str]:
    """The folded words the full-text index holds for an article, in order: those of every
    text section (title, body, author, each feed name and tag) one after the other. A superset
    of what any leaf looks in, so a prefilter built from required words never drops an article
    the matcher would keep; and inside a section, positions differ from the matcher's by the
    section's start only, so distances between words are the matcher's (prefilter.Close)."""
    sequence: list[str] = []
    for section in record.document().sections():
        if section.field in TEXT_SECTIONS:
            sequence += section.field_index.words
    return sequence


def indexed_words(record: ArchivedArticle) -> frozenset[str]:
    """The distinct words of `indexed_sequence`."""
    return frozenset(indexed_sequence(record))
