"""Feed text made inert for chat formats: no mention, link or markup can come from a feed.

Titles, snippets and URLs in alerts come from feeds and pages, i.e. from anyone. In Slack's
mrkdwn, `<!channel>`, `<!here>`, `<@U…>` and `<url|text>` are control sequences, and Slack's
rule is to escape exactly `&`, `<` and `>` as HTML entities in text; Mattermost (which takes the
same webhooks) also pings on a bare `@channel`, `@all` or `@here`. Discord renders markdown
(masked links `[text](url)`, headings, quotes) in embed descriptions and pings `@everyone`,
`<@id>` and `<@&role>` in content unless the body's `allowed_mentions` says otherwise; every
ASCII punctuation character may be escaped with a backslash there.
"""

from __future__ import annotations

import re

# Between "@" and a word a zero-width space keeps every "@name" from being read as a mention,
# and looks the same.
_MENTION = re.compile(r"@(?=\w)")
_ZERO_WIDTH_SPACE = "\u200b"
_WHITESPACE = re.compile(r"\s+")
_SLACK_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_SLACK_SPECIAL = re.compile(r"[&<>]")
# Slack splits `<url|text>` at the first "|"; a lookalike keeps the text's meaning.
_BROKEN_BAR = "\u00a6"
# Characters Discord's markdown gives a meaning to (and the backslash itself).
_DISCORD_MARKUP = re.compile(r"([\\*_~`|>#\[\]()<\-])")
_ORDERED_LIST = re.compile(r"^(\d+)\.")  # "1. " starting a line would make a list
# In a URL, characters that would end Slack's `<url|text>` or Discord's masked link early.
_URL_UNSAFE = {"|": "%7C", "<": "%3C", ">": "%3E", " ": "%20", '"': "%22", "\n": "", "\r": ""}


def one_line(text: str) -> str:
    """Whitespace runs (newlines included) as one space: a feed's text cannot start a new
    line, so it cannot start a quote, heading or list of its own."""
    return _WHITESPACE.sub(" ", text).strip()


def without_mentions(text: str) -> str:
    return _MENTION.sub("@" + _ZERO_WIDTH_SPACE, text)


def slack_text(text: str) -> str:
    """Feed text for Slack/Mattermost mrkdwn: `&`, `<`, `>` escaped (no control sequence such
    as `<!channel>` can form), bare @-mentions broken, on one line."""
    escaped = _SLACK_SPECIAL.sub(lambda m: _SLACK_ENTITIES[m.group()], one_line(text))
    return without_mentions(escaped)


def slack_link_text(text: str) -> str:
    """Feed text for the text part of `<url|text>`: as `slack_text`, and no "|"."""
    return slack_text(text).replace("|", _BROKEN_BAR)


def safe_url(url: str) -> str:
    """`url` with the characters that could end a chat link early percent-encoded."""
    return "".join(_URL_UNSAFE.get(char, char) for char in url.strip())


def slack_url(url: str) -> str:
    """`url` for the URL part of `<url|text>`: "&" is escaped there too (Slack's rule)."""
    return safe_url(url).replace("&", "&amp;")


def discord_text(text: str) -> str:
    """Feed text for Discord markdown: every markup character backslash-escaped, @-mentions
    broken, on one line (`allowed_mentions` in the body is what guarantees no ping)."""
    escaped = _DISCORD_MARKUP.sub(r"\\\1", one_line(text))
    return without_mentions(_ORDERED_LIST.sub(r"\1\\.", escaped))
