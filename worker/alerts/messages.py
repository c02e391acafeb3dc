"""Readable messages for chat, push and email channels: pure functions from alert envelopes.

One alert: a title (watchlist and article title) and a body with the watchlist, source, time,
each match's snippet with the hit marked, and the link. A digest: its alerts grouped by
watchlist, newest first. Each message is written in the channel's own markup (`Dialect`), and
everything taken from a feed is escaped for it, with `@` defused, so no markup or mention written
in a feed takes effect. A message longer than the channel allows is cut cleanly: snippets are
shortened at a word, a digest lists fewer alerts and says how many it left out; the link stays.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import Enum
from typing import Any
from urllib.parse import quote, urlsplit

from worker.alerts.build import ALERT_CREATED

ELLIPSIS = "…"
_ZWSP = "\u200b"  # after '@': "@everyone" and "@user" stay text on every chat platform
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#|<>~])")
_MARKDOWN_BULLET = re.compile(r"^([-+=])", re.MULTILINE)  # a list item or setext heading
_MARKDOWN_NUMBERED = re.compile(r"^(\d+)\.", re.MULTILINE)  # a numbered list item
_SPACES = re.compile(r"\s+")


class Dialect(Enum):
    TEXT = "text"
    MARKDOWN = "markdown"
    HTML = "html"


@dataclass(frozen=True)
class Style:
    """How one channel takes a message: its markup, and its length limits."""

    dialect: Dialect
    body_max: int  # characters, or UTF-8 bytes when `in_bytes`
    title_max: int  # 0: the channel has no title; it is written as the body's first line
    in_bytes: bool = False

    def measure(self, text: str) -> int:
        return len(text.encode()) if self.in_bytes else len(text)


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    dialect: str  # a Dialect value: the markup `body` is written in

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Message:
        return cls(**json.loads(text))


# -- escaping and markup ------------------------------------------------------------------------
def one_line(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def defuse(text: str) -> str:
    return text.replace("@", "@" + _ZWSP)


def escape(text: str, dialect: Dialect) -> str:
    """`text` from a feed, made literal in `dialect`."""
    text = defuse(text)
    if dialect is Dialect.HTML:
        return html.escape(text, quote=True)
    if dialect is Dialect.MARKDOWN:
        text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
        text = _MARKDOWN_BULLET.sub(r"\\\1", text)
        return _MARKDOWN_NUMBERED.sub(r"\1\\.", text)
    return text


def strong(text: str, dialect: Dialect) -> str:
    """Escaped `text`, emphasised."""
    escaped = escape(text, dialect)
    if dialect is Dialect.HTML:
        return f"<b>{escaped}</b>"
    if dialect is Dialect.MARKDOWN:
        return f"**{escaped}**"
    return f"«{escaped}»"


def safe_url(url: str) -> str:
    """An http(s) link with spaces, quotes and angle brackets percent-encoded; '' otherwise."""
    url = url.strip()
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        return ""
    return quote(url, safe="/:?#[]@!$&'()*+,;=%~-._")


def link(url: str, label: str, dialect: Dialect) -> str:
    target = safe_url(url)
    if not target:
        return escape(url, dialect)
    if dialect is Dialect.HTML:
        return f'<a href="{html.escape(target)}">{escape(label or url, dialect)}</a>'
    if dialect is Dialect.MARKDOWN:
        return f"<{target}>"  # an autolink: nothing inside it is markup
    return target


def mark_hits(snippet: str, hits: Sequence[str], dialect: Dialect) -> str:
    """`snippet` escaped, each occurrence of a hit (case-insensitive) emphasised."""
    words = sorted({h for h in hits if h.strip()}, key=len, reverse=True)
    if not words:
        return escape(snippet, dialect)
    pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
    out: list[str] = []
    position = 0
    for found in pattern.finditer(snippet):
        out.append(escape(snippet[position : found.start()], dialect))
        out.append(strong(found.group(0), dialect))
        position = found.end()
    out.append(escape(snippet[position:], dialect))
    return "".join(out)


def cut_at_word(text: str, keep: int) -> str:
    """The first `keep` characters of `text`, ending at a word, with an ellipsis if cut."""
    if len(text) <= keep:
        return text
    head = text[:keep]
    if " " in head[keep // 2 :]:
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(" ,;:.-") + ELLIPSIS


def largest_fitting(high: int, fits: Callable[[int], bool]) -> int:
    """The largest n in 0..high with fits(n), for a `fits` that holds up to some point; -1 if
    not even 0 fits."""
    if not fits(0):
        return -1
    low = 0
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


# -- the facts of one event -----------------------------------------------------------------
@dataclass(frozen=True)
class Facts:
    """What a message says about one event, as plain text (escaping comes later)."""

    label: str  # the watchlist's name, or the event type
    title: str
    source: str
    when: str
    url: str
    snippets: tuple[tuple[str, tuple[str, ...]], ...]  # (snippet, hit texts)
    sort_key: str


def facts_of(envelope: dict[str, Any]) -> Facts:
    data = envelope.get("data", {})
    stamp = str(envelope.get("timestamp", ""))
    if envelope.get("type") != ALERT_CREATED and "article" not in data:
        return _other_facts(envelope, data, stamp)
    article = data.get("article", {})
    feed = article.get("feed") or {}
    label = str(data.get("watchlist", {}).get("name") or data.get("watchlist", {}).get("id", ""))
    return Facts(
        label=one_line(label),
        title=one_line(str(article.get("title") or article.get("url", ""))),
        source=one_line(str(feed.get("name") or urlsplit(str(article.get("url", ""))).hostname)),
        when=readable_time(str(article.get("published_at") or stamp)),
        url=str(article.get("url", "")),
        snippets=_snippets(data.get("matches") or []),
        sort_key=stamp,
    )


def _snippets(matches: Sequence[dict[str, Any]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """One entry per distinct snippet, with every hit found in it."""
    by_snippet: dict[str, list[str]] = {}
    for match in matches:
        snippet = one_line(str(match.get("snippet", "")))
        if snippet:
            by_snippet.setdefault(snippet, []).append(str(match.get("text", "")))
    return tuple((s, tuple(hits)) for s, hits in by_snippet.items())


def _other_facts(envelope: dict[str, Any], data: dict[str, Any], stamp: str) -> Facts:
    feed = data.get("feed") if isinstance(data.get("feed"), dict) else {}
    assert isinstance(feed, dict)
    error = one_line(str(data.get("last_error", "")))
    return Facts(
        label=str(envelope.get("type", "event")),
        title=one_line(str(feed.get("name") or feed.get("url") or envelope.get("type", ""))),
        source=one_line(str(feed.get("url", ""))),
        when=readable_time(stamp),
        url=str(feed.get("url", "")),
        snippets=((error, ()),) if error else (),
        sort_key=stamp,
    )


def readable_time(stamp: str) -> str:
    """`2026-11-29 12:00 UTC` from an ISO time; the text itself when it is not one."""
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return one_line(stamp)
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.strftime("%Y-%m-%d %H:%M %Z").replace("UTC+00:00", "UTC").strip()


# -- one alert ----------------------------------------------------------------------------------
def _break(dialect: Dialect) -> str:
    # No newline after <br>: an email's plain-text part (made from the HTML) would indent lines.
    return "<br>" if dialect is Dialect.HTML else "\n"


def _field(name: str, value: str, dialect: Dialect) -> str:
    if dialect is Dialect.HTML:
        return f"<b>{name}:</b> {escape(value, dialect)}"
    return f"{name}: {escape(value, dialect)}"


def _alert_body(facts: Facts, snippet_chars: int | None, dialect: Dialect) -> str:
    br = _break(dialect)
    lines = [
        _field("Watchlist", facts.label, dialect),
        _field("Source", facts.source, dialect),
        _field("Time", facts.when, dialect),
    ]
    blocks = [br.join(lines)]
    for snippet, hits in facts.snippets:
        text = snippet if snippet_chars is None else cut_at_word(snippet, snippet_chars)
        if text and text != ELLIPSIS:
            blocks.append(mark_hits(text, hits, dialect))
    if facts.url:  # the address itself, so that plain-text renderings keep it too
        blocks.append(link(facts.url, facts.url, dialect))
    return (br + br).join(blocks)


def alert_title(facts: Facts) -> str:
    return f"[{facts.label}] {facts.title}" if facts.label else facts.title


def _with_title(title: str, body: str, style: Style) -> str:
    if style.title_max > 0:
        return body
    return strong(title, style.dialect) + _break(style.dialect) + _break(style.dialect) + body


def _title_for(text: str, style: Style) -> str:
    """The title line as sent in the title field (plain text; channels do not render it)."""
    if style.title_max <= 0:
        return ""
    return cut_at_word(defuse(text), style.title_max)


def alert_message(envelope: dict[str, Any], style: Style) -> Message:
    facts = facts_of(envelope)
    title = alert_title(facts)

    def body_with(snippet_chars: int | None, shown_title: str = title) -> str:
        return _with_title(shown_title, _alert_body(facts, snippet_chars, style.dialect), style)

    body = body_with(None)
    if style.measure(body) > style.body_max:
        longest = max((len(s) for s, _ in facts.snippets), default=0)
        keep = largest_fitting(longest, lambda n: style.measure(body_with(n)) <= style.body_max)
        body = body_with(keep) if keep >= 0 else _hard_cut(body_with(0), style)
    return Message(_title_for(title, style), body, style.dialect.value)


def _hard_cut(body: str, style: Style) -> str:
    """Last resort (an absurdly long title or source): plain text cut to the limit."""
    plain = body if style.dialect is Dialect.TEXT else re.sub(r"<[^>]*>|\\", "", body)
    keep = largest_fitting(
        len(plain), lambda n: style.measure(plain[:n] + ELLIPSIS) <= style.body_max
    )
    return plain[: max(keep, 0)] + ELLIPSIS


# -- a digest -----------------------------------------------------------------------------------
def newest_first_by_label(envelopes: Sequence[dict[str, Any]]) -> list[tuple[str, list[Facts]]]:
    """The events grouped by watchlist (groups in name order), newest first in each group."""
    groups: dict[str, list[Facts]] = {}
    for envelope in envelopes:
        facts = facts_of(envelope)
        groups.setdefault(facts.label, []).append(facts)
    return [
        (label, sorted(items, key=lambda f: f.sort_key, reverse=True))
        for label, items in sorted(groups.items(), key=lambda kv: kv[0].casefold())
    ]


def _digest_line(facts: Facts, dialect: Dialect) -> str:
    head = f"{escape(facts.when, dialect)} · {escape(facts.title, dialect)}"
    if facts.source:
        head += f" ({escape(facts.source, dialect)})"
    if not facts.url:
        return "• " + head
    return f"• {head}{_break(dialect)}  {link(facts.url, facts.url, dialect)}"


def _digest_body(groups: Sequence[tuple[str, list[Facts]]], shown: int, dialect: Dialect) -> str:
    br = _break(dialect)
    blocks: list[str] = []
    left = shown
    total = sum(len(items) for _, items in groups)
    for label, items in groups:
        if left <= 0:
            break
        lines = [strong(f"{label} ({len(items)})", dialect)]
        lines += [_digest_line(f, dialect) for f in items[:left]]
        left -= min(left, len(items))
        blocks.append(br.join(lines))
    if shown < total:
        blocks.append(escape(f"{ELLIPSIS} and {total - shown} more not shown here", dialect))
    return (br + br).join(blocks)


def digest_title(count: int) -> str:
    return f"wirewatch digest: {count} alert{'s' if count != 1 else ''}"


def digest_message(envelopes: Sequence[dict[str, Any]], style: Style) -> Message:
    groups = newest_first_by_label(envelopes)
    total = len(envelopes)
    title = digest_title(total)

    def body_with(shown: int) -> str:
        return _with_title(title, _digest_body(groups, shown, style.dialect), style)

    shown = largest_fitting(total, lambda n: style.measure(body_with(n)) <= style.body_max)
    body = body_with(shown) if shown >= 0 else _hard_cut(body_with(0), style)
    return Message(_title_for(title, style), body, style.dialect.value)


def render_message(envelopes: Sequence[dict[str, Any]], style: Style, digest: bool) -> Message:
    """The message for one delivery: one event, or a digest (of one event or more)."""
    if not digest and len(envelopes) == 1:
        return alert_message(envelopes[0], style)
    return digest_message(envelopes, style)
