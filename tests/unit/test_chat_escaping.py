"""Slack and Discord bodies: feed text can neither mention anyone nor break or forge a link."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from worker.alerts.escaping import discord_text, slack_text
from worker.alerts.formats import render

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
HOSTILE_TITLE = "<!channel> Breaking | news > rumours & <@U123> [click](https://evil.example)"
HOSTILE_SNIPPET = "… @channel @everyone <!here> **bold** `code` # heading …"


def alert(title: str, url: str, snippet: str) -> dict:
    return {
        "type": "alert.created",
        "timestamp": "2026-11-29T12:00:00Z",
        "data": {
            "alert_id": "al_1",
            "watchlist": {"id": "nato", "name": "NATO"},
            "article": {"url": url, "title": title},
            "matches": [{"field": "body", "text": "NATO", "snippet": snippet}],
        },
    }


def slack_text_of(title: str, url: str, snippet: str = "") -> str:
    return json.loads(render("slack", [alert(title, url, snippet)], NOW))["text"]


def test_slack_escapes_control_sequences_so_no_channel_is_pinged() -> None:
    text = slack_text_of(HOSTILE_TITLE, "https://ex.com/a", HOSTILE_SNIPPET)
    assert "<!channel>" not in text and "<!here>" not in text and "<@U123>" not in text
    assert "&lt;!channel&gt;" in text
    # a bare @channel (Mattermost pings on it) is broken by a zero-width space
    assert re.search(r"@(channel|everyone|here)\b", text) is None
    assert "@\u200bchannel" in text


def test_slack_link_keeps_its_text_whole_with_pipes_and_angle_brackets() -> None:
    first_line = slack_text_of(HOSTILE_TITLE, "https://ex.com/a|b>c?x=1&y=2").split("\n")[0]
    # exactly one control sequence on the line: the link itself, from "<" to its ">"
    assert first_line.count("<") == 1 and first_line.count(">") == 1
    url, _, link_text = first_line[first_line.index("<") + 1 : first_line.index(">")].partition("|")
    assert url == "https://ex.com/a%7Cb%3Ec?x=1&amp;y=2"
    assert "|" not in link_text
    assert link_text.startswith("&lt;!channel&gt; Breaking ¦ news &gt; rumours &amp;")


def test_slack_feed_text_cannot_start_a_line_of_its_own() -> None:
    text = slack_text_of("Title\n> forged quote", "https://ex.com/a", "one\n\ntwo")
    assert text.split("\n") == [
        "*[NATO]* <https://ex.com/a|Title &gt; forged quote>",
        "> one two",
    ]


def test_discord_body_allows_no_mentions_at_all() -> None:
    body = json.loads(render("discord", [alert(HOSTILE_TITLE, "https://ex.com/a", "x")], NOW))
    assert body["allowed_mentions"] == {"parse": []}


def test_discord_neutralises_markdown_links_and_mentions_in_feed_text() -> None:
    body = json.loads(
        render("discord", [alert(HOSTILE_TITLE, "https://ex.com/a)b", HOSTILE_SNIPPET)], NOW)
    )
    embed = body["embeds"][0]
    assert "[click](" not in embed["title"]
    assert "\\[click\\]\\(https://evil.example\\)" in embed["title"]
    assert "<@U123>" not in embed["title"] and "\\<@\u200bU123\\>" in embed["title"]
    description = embed["description"]
    assert "@everyone" not in description and "@\u200beveryone" in description
    assert "**bold**" not in description and "\\*\\*bold\\*\\*" in description
    assert "\\# heading" in description


def test_discord_title_is_clipped_without_leaving_half_an_escape() -> None:
    title = "a" * 255 + "*tail"
    body = json.loads(render("discord", [alert(title, "https://ex.com/a", "")], NOW))
    assert body["embeds"][0]["title"] == "a" * 255


def test_plain_text_is_left_readable() -> None:
    assert slack_text("Olympics: Paris 2024, day 3") == "Olympics: Paris 2024, day 3"
    assert discord_text("Olympics: Paris 2024, day 3") == "Olympics: Paris 2024, day 3"
    assert discord_text("1. Headline") == "1\\. Headline"
