"""WebSub lines for `wirewatch feeds`: each feed's subscription state, never its secret."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from worker.feeds.model import FeedLike, feed_name
from worker.websub.decisions import ACTIVE, DENIED, FAILED, SUBSCRIBING, Record, number


def subscription_line(record: Record, now: float, when: Callable[[str | None], str]) -> str:
    """`state via hub (…)`; `when(epoch)` renders a time relative to `now`."""
    state = record.get("state", "")
    hub = record.get("sub_hub") or record.get("hub") or "?"
    if state == ACTIVE:
        detail = f"expires {when(record.get('expires_at'))}, renews {when(record.get('renew_at'))}"
    elif state in (FAILED, DENIED):
        detail = f"{record.get('last_error', '')}; retry {when(record.get('next_at'))}"
    elif state == SUBSCRIBING:
        detail = f"waiting for the hub's verification until {when(record.get('next_at'))}"
    else:
        detail = ""
    pushed = number(record, "last_push_at")
    if pushed and now:
        detail += f"{'; ' if detail else ''}last push {when(record.get('last_push_at'))}"
    return f"{state} via {hub}" + (f" ({detail})" if detail else "")


def websub_lines(
    feeds: Sequence[FeedLike],
    records: Mapping[str, Record],
    now: float,
    when: Callable[[str | None], str],
) -> list[str]:
    lines = [
        f"  {feed_name(feed)}: {subscription_line(records[feed.url], now, when)}"
        for feed in feeds
        if records.get(feed.url)
    ]
    without = len(feeds) - len(lines)
    header = f"WebSub: {len(lines)} feed(s) name a hub, {without} without a known hub (polled only)"
    return [header, *lines]
