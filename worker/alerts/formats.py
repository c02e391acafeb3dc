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
    label, title, url = headline(envelope)
    link = f"<{url}|{title or url}>" if url else title
    snippet = first_snippet(envelope.get("data", {}))
    quoted = f"\n> {snippet}" if snippet else ""
    return f"*[{label}]* {link}{quoted}"


def slack_body(envelopes: Sequence[dict[str, Any]]) -> str:
    lines = [slack_line(e) for e in envelopes]
    return dumps({"text": "\n".join(lines), "username": "wirewatch"})


def discord_embed(envelope: dict[str, Any]) -> dict[str, Any]:
    label, title, url = headline(envelope)
    embed: dict[str, Any] = {
        "title": (title or label)[:256],
        "footer": {"text": f"wirewatch · {label}"},
    }
    if url:
        embed["url"] = url
    snippet = first_snippet(envelope.get("data", {}))
    if snippet:
        embed["description"] = snippet
    return embed


def discord_body(envelopes: Sequence[dict[str, Any]]) -> str:
    embeds = [discord_embed(e) for e in envelopes[:_DISCORD_MAX_EMBEDS]]
    body: dict[str, Any] = {"username": "wirewatch", "embeds": embeds}
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
