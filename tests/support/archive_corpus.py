"""Archived articles made from the shared corpus' 181 real article bodies."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

from worker.archive.record import ArchivedArticle

T0 = 1_800_000_000.0


def corpus_articles(corpus: Path, start: float = T0, step: float = 1800.0) -> list[ArchivedArticle]:
    """One archived article per real body, half an hour apart; the first sentence is the title.
    Every fifth shares the story of the one before it, marked an exact duplicate every other
    time, so stories, duplicates and alerts per story are exercised too."""
    truth = json.loads((corpus / "articles" / "ground-truth.json").read_text(encoding="utf-8"))
    records = []
    for n, sha in enumerate(sorted(truth)):
        body = truth[sha]["articleBody"]
        url = truth[sha].get("url") or f"https://corpus.example/{n}"
        title = body.split(". ", 1)[0][:120]
        shares = n % 5 == 4
        records.append(
            ArchivedArticle(
                article_id=f"c{n}",
                processed_at=start + n * step,
                url=url,
                canonical_url=url,
                title=title,
                text=body,
                story_id=f"st_{n - 1 if shares else n}",
                outcome="duplicate_text" if shares and n % 10 == 9 else "no_match",
                site=(urlsplit(url).hostname or "").lower(),
                feed_name=f"feed{n % 7}",
                feed_tags=("world",) if n % 2 else ("tech",),
                language="en",
            )
        )
    return records
