"""Request bodies per endpoint format: Standard Webhooks JSON, Slack/Mattermost, Discord.

Pure functions from the standard envelope(s) to the exact body text that is sent (and signed).
A digest carries several envelopes in one request.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from worker.alerts.envelope import EventType, envelope
from worker.alerts.escaping import (
    discord_text,
    safe_url,
    slack_link_text,
    slack_text,
    slack_url,
    without_mentions,
)

DIGEST = EventType.ALERT_DIGEST
_DISCORD_MAX_EMBEDS = 10
_SNIPPET_CHARS = 300


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def digest_envelope(envelopes: Sequence[dict[str, Any]], now: datetime) -> dict[str, Any]:
    events = list(envelopes)
    return envelope(DIGEST, {"count": len(events), "events": events}, now.timestamp())


def first_snippet(data: dict[str, Any]) -> str:
    matches = data.get("matches") or []
    return str(matches[0].get("snippet", ""))[:_SNIPPET_CHARS] if matches else ""


def headline(envelope: dict[str, Any]) -> tuple[str, str, str]:
    """(label, title, url) of one event, whatever its type."""
    data = envelope.get("data", {})
    if envelope.get("type") == "alert.created":
        article = data.get("article", {})
        return (
            data.get("watchlist", {}).get("name", ""),
            article.get("title", ""),
            article.get("url", ""),
        )
    subject = data.get("feed", {}) if isinstance(data.get("feed"), dict) else {}
    return (
        str(envelope.get("type", "event")),
        str(subject.get("name", "")),
        str(subject.get("url", "")),
    )


def slack_line(envelope: dict[str, Any]) -> str:
    """One alert as mrkdwn; every piece of feed text escaped (worker/alerts/escaping.py)."""
    label, title, url = headline(envelope)
    link = f"<{slack_url(url)}|{slack_link_text(title or url)}>" if url else slack_text(title)
    snippet = slack_text(first_snippet(envelope.get("data", {})))
    quoted = f"\n> {snippet}" if snippet else ""
    return f"*[{slack_text(label)}]* {link}{quoted}"


def slack_body(envelopes: Sequence[dict[str, Any]]) -> str:
    lines = [slack_line(e) for e in envelopes]
    # link_names off: Slack turns no bare "@name" into a mention
    return dumps({"text": "\n".join(lines), "username": "wirewatch", "link_names": False})


def discord_embed(envelope: dict[str, Any]) -> dict[str, Any]:
    label, title, url = headline(envelope)
    embed: dict[str, Any] = {
        "title": _clipped(discord_text(title or label), 256),
        "footer": {"text": without_mentions(f"wirewatch · {label}")},  # no markdown in footers
    }
    if url:
        embed["url"] = safe_url(url)
    snippet = discord_text(first_snippet(envelope.get("data", {})))
    if snippet:
        embed["description"] = snippet
    return embed


def _clipped(escaped: str, limit: int) -> str:
    """At most `limit` characters, never ending in half an escape ("\\" without its char)."""
    clipped = escaped[:limit]
    trailing = len(clipped) - len(clipped.rstrip("\\"))
    return clipped[:-1] if trailing % 2 else clipped


def discord_body(envelopes: Sequence[dict[str, Any]]) -> str:
    embeds = [discord_embed(e) for e in envelopes[:_DISCORD_MAX_EMBEDS]]
    # No mention of anyone, whatever the text holds (Discord's own guarantee, beyond escaping).
    body: dict[str, Any] = {
        "username": "wirewatch",
        "embeds": embeds,
        "allowed_mentions": {"parse": []},
    }
    extra = len(envelopes) - len(embeds)
    if extra > 0:
        body["content"] = f"and {extra} more alert(s)"
    return dumps(body)


def render(fmt: str, envelopes: Sequence[dict[str, Any]], now: datetime) -> str:
    """The body for one request carrying `envelopes` (one, or a digest of several)."""
    if fmt == "slack":
        return slack_body(envelopes)
    if fmt == "discord":
        return discord_body(envelopes)
    if len(envelopes) == 1:
        return dumps(envelopes[0])
    return dumps(digest_envelope(envelopes, now))
