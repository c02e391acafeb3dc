"""What the callback answers: a hub's verification (GET) and content distribution (POST).

A callback request names only its token (the last segment of the path). Verification echoes
`hub.challenge` only for a request of ours: the token's subscription, the same topic, and a mode
we asked for; anything else gets 404. A push is taken only with a valid `X-Hub-Signature` made
with the subscription's secret (else acknowledged with 2xx, as the spec asks, and dropped), and
goes through the poller's own parser, entry identity and seen-entry set: an entry is queued once,
whether a push or a poll brings it first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from worker.feeds.intake import EntryIntake
from worker.feeds.model import FeedLike, feed_name
from worker.feeds.newitems import former_members
from worker.feeds.parse import FeedParseError, parse_feed, to_feed_item
from worker.queue.connection import write_hash
from worker.websub.decisions import (
    ACTIVE,
    DENIED,
    UNSUBSCRIBING,
    Record,
    RetryPolicy,
    granted_lease,
    number,
    renew_time,
    retry_delay,
    signature_valid,
    verification,
)
from worker.websub.store import WebSubStore

_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,128}")
_REASON_CHARS = 200


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes = b""


NOT_FOUND = Answer(404, b"not found\n")
GONE = Answer(410, b"gone\n")
ACCEPTED = Answer(202)


def token_of(path: str) -> str | None:
    """The token in a callback path (`/websub/<token>`, or `/<token>` behind a proxy that strips
    its prefix), or None when the last segment cannot be one."""
    last = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return last if _TOKEN.fullmatch(last) else None


class Callbacks:
    def __init__(
        self,
        store: WebSubStore,
        intake: EntryIntake,
        feeds: Iterable[FeedLike],
        log: Any,
        clock: Callable[[], float],
        *,
        lease_s: float,
        retry: RetryPolicy,
        rand: Callable[[], float],
    ) -> None:
        self.store = store
        self.intake = intake
        self.feeds = {feed.url: feed for feed in feeds}
        self.log = log
        self.clock = clock
        self.lease_s = lease_s
        self.retry = retry
        self.rand = rand

    def knows(self, token: str) -> bool:
        """Whether `token` is a current subscription's (a push to any other gets 404)."""
        return self._subscription(token) is not None

    def _subscription(self, token: str) -> tuple[str, Record] | None:
        feed_url = self.store.feed_for_token(token)
        if feed_url is None:
            return None
        record = self.store.read(feed_url)
        return (feed_url, record) if record.get("token") == token else None

    # -- verification ------------------------------------------------------------------------
    def verify(self, token: str, query: Mapping[str, str]) -> Answer:
        found = self._subscription(token)
        if found is None:
            return NOT_FOUND
        feed_url, record = found
        mode, topic = query.get("hub.mode", ""), query.get("hub.topic", "")
        outcome = verification(record, mode, topic)
        challenge = query.get("hub.challenge", "")
        if outcome == "denied":
            self._denied(feed_url, record, token, query.get("hub.reason", ""))
            return Answer(200)
        if outcome is None or not challenge:
            return NOT_FOUND
        if outcome == "subscribed":
            done = self._subscribed(feed_url, record, token, query.get("hub.lease_seconds"))
        else:
            done = self._unsubscribed(feed_url, record, token)
        return Answer(200, challenge.encode("utf-8")) if done else NOT_FOUND

    def _unsubscribed(self, feed_url: str, record: Record, token: str) -> bool:
        """False when the record changed since it was read (the feed is wanted again)."""
        if not self.store.forget(feed_url, token, {"state": UNSUBSCRIBING, "token": token}):
            return False
        self.log.info("websub_unsubscribed", feed=self._name(feed_url))
        return True

    def _subscribed(self, feed_url: str, record: Record, token: str, lease: str | None) -> bool:
        now = self.clock()
        lease_s = granted_lease(lease, self.lease_s)
        renew_at = renew_time(now, lease_s)
        fields = {
            "state": ACTIVE,
            "lease_s": str(lease_s),
            "verified_at": str(now),
            "expires_at": str(now + lease_s),
            "renew_at": str(renew_at),
            "next_at": str(renew_at),
            "attempts": "0",
            "last_error": "",
        }
        guard = {"state": record.get("state", ""), "token": token}
        if not self.store.update_if(feed_url, guard, fields, due=renew_at):
            return False
        event = "websub_renewed" if record.get("verified_at") else "websub_subscribed"
        self.log.info(
            event, feed=self._name(feed_url), hub=record.get("sub_hub"), lease_s=round(lease_s)
        )
        return True

    def _denied(self, feed_url: str, record: Record, token: str, reason: str) -> None:
        now = self.clock()
        attempts = int(number(record, "attempts")) + 1
        delay = retry_delay(attempts, self.retry, self.rand())
        shown = "".join(c for c in reason[:_REASON_CHARS] if c.isprintable())
        fields = {
            "state": DENIED,
            "attempts": str(attempts),
            "next_at": str(now + delay),
            "last_error": f"denied by the hub: {shown}".rstrip(": "),
        }
        guard = {"state": record.get("state", ""), "token": token}
        if self.store.update_if(feed_url, guard, fields, due=now + delay):
            self.log.warning(
                "websub_denied",
                feed=self._name(feed_url),
                reason=shown,
                attempts=attempts,
                retry_in_s=round(delay),
            )

    # -- content distribution ----------------------------------------------------------------
    def push(self, token: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """`headers` with lower-case names. Raises only when Redis fails (answered 503: the hub
        sends it again, and polling would bring it anyway)."""
        found = self._subscription(token)
        if found is None:
            return NOT_FOUND
        feed_url, record = found
        feed = self.feeds.get(feed_url)
        if feed is None or record.get("state") == UNSUBSCRIBING:
            return GONE  # the spec's way to tell a hub the subscription is over
        secret = record.get("secret", "")  # every subscription has one: none fails closed
        if not secret or not signature_valid(headers.get("x-hub-signature"), secret, body):
            why = "bad signature" if headers.get("x-hub-signature") else "unsigned"
            self.log.warning("websub_push_rejected", feed=feed_name(feed), reason=why)
            return ACCEPTED
        self._take(feed, record, headers.get("content-type"), body)
        return ACCEPTED

    def _take(self, feed: FeedLike, record: Record, content_type: str | None, body: bytes) -> None:
        # against the URL the poll parses it at (after redirects): the same identities
        base = record.get("base_url") or feed.url
        try:
            parsed = parse_feed(body, url=base, content_type=content_type)
        except FeedParseError as exc:
            self.log.warning("websub_push_unparsable", feed=feed_name(feed), error=str(exc)[:300])
            return
        name = feed_name(feed)
        items = [to_feed_item(e, feed.url, name, list(feed.tags)) for e in parsed.entries]
        formers = former_members(parsed.entries)
        added = self.intake.enqueue(feed.url, items, formers=formers).added
        now = self.clock()
        if added:
            write_hash(
                self.store.client, self.store.keys.feed_state(feed.url), {"last_new_item": str(now)}
            )
        self.store.update_if(feed.url, {"token": record["token"]}, {"last_push_at": str(now)})
        self.log.info("websub_push", feed=name, entries=len(items), new_items=added)

    def _name(self, feed_url: str) -> str:
        feed = self.feeds.get(feed_url)
        return feed_name(feed) if feed is not None else feed_url
