"""Messages for apprise channels (markup, escaping, clean truncation to each channel's limit),
digest schedules, and how `wirewatch check` treats Apprise URLs."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from worker.alerts.apprise_channel import (
    AppriseChannel,
    check_apprise_url,
    is_apprise_url,
    redact,
    secret_parts,
)
from worker.alerts.messages import Dialect, Message, Style, escape, render_message
from worker.alerts.schedule import DailyTime, daily_due, parse_digest

TELEGRAM = "tgram://123456789:AAHsecretTOKENabcdefghijklmnop/12345"
DISCORD = "discord://1234567/abcdefTOKENsecret"
NTFY = "ntfy://127.0.0.1:9/topic"


def alert(snippet: str, title: str = "Summit opens", url: str = "https://example.org/a") -> dict:
    return {
        "type": "alert.created",
        "timestamp": "2026-12-01T10:00:00Z",
        "data": {
            "alert_id": "al_1",
            "watchlist": {"id": "nato", "name": "NATO"},
            "article": {"url": url, "title": title, "feed": {"name": "Wire"}},
            "matches": [{"field": "body", "text": "NATO", "snippet": snippet}],
        },
    }


def message(url: str, events: list[dict], digest: bool = False) -> Message:
    channel = AppriseChannel(url, 5.0, 1)
    try:
        return Message.from_json(channel.render(events, digest))
    finally:
        channel.close()


@pytest.mark.parametrize(
    ("url", "limit", "in_bytes"),
    [(TELEGRAM, 4096, False), (DISCORD, 2000, False), (NTFY, 4096, True)],
)
def test_a_long_alert_is_cut_at_a_word_to_the_channels_limit_keeping_the_link(
    url: str, limit: int, in_bytes: bool
) -> None:
    snippet = "NATO " + "é longword " * 1500
    sent = message(url, [alert(snippet)])
    total = sent.body if url != TELEGRAM else sent.title + sent.body  # no title field there
    assert (len(total.encode()) if in_bytes else len(total)) <= limit
    assert re.search(r"(?:é|longword)…", sent.body), "cut after a whole word, with an ellipsis"
    assert not re.search(r"longwor?…|longw…", sent.body)
    last_line = re.split(r"<br>|\n", sent.body)[-1]
    assert "https://example.org/a" in last_line, "the link survives the cut"


def test_telegram_has_no_title_field_so_the_title_leads_the_body() -> None:
    sent = message(TELEGRAM, [alert("… NATO …")])
    assert sent.title == ""
    assert sent.body.startswith("<b>[NATO] Summit opens</b>")


@pytest.mark.parametrize("dialect", list(Dialect))
def test_markup_and_mentions_from_a_feed_do_not_take_effect(dialect: Dialect) -> None:
    written = escape("@everyone <b>x</b> **y** [z](http://e.vil) <@123>", dialect)
    assert "@everyone" not in written and "<@123>" not in written
    if dialect is Dialect.HTML:
        assert "<b>" not in written and "&lt;b&gt;" in written
    if dialect is Dialect.MARKDOWN:
        assert "**" not in written and "\\*\\*y\\*\\*" in written and "\\[z\\]" in written


def test_discord_messages_are_markdown_with_hits_bold_and_feed_markdown_escaped() -> None:
    sent = message(DISCORD, [alert("… NATO said *now* …", title="@here _big_ news")])
    assert "**NATO**" in sent.body
    assert "\\*now\\*" in sent.body
    assert "@\u200bhere" in sent.title
    assert "<https://example.org/a>" in sent.body


def test_a_digest_groups_by_watchlist_newest_first_and_says_what_it_left_out() -> None:
    events = []
    for hour in range(10, 22):
        event = alert("")
        event["timestamp"] = f"2026-12-01T{hour:02d}:00:00Z"
        event["data"]["article"]["title"] = f"story at {hour} " + "x" * 150
        events.append(event)
    style = Style(Dialect.TEXT, 900, 100)
    sent = render_message(events, style, digest=True)
    assert sent.title == "wirewatch digest: 12 alerts"
    assert len(sent.body) <= 900
    assert sent.body.index("story at 21") < sent.body.index("story at 20")
    assert "more not shown here" in sent.body
    assert "story at 10" not in sent.body, "the oldest are the ones left out"


def test_an_empty_snippet_list_and_a_non_http_link_still_make_a_message() -> None:
    event = alert("", url="javascript:alert(1)")
    event["data"]["matches"] = []
    sent = render_message([event], Style(Dialect.HTML, 4000, 200), digest=False)
    assert "href" not in sent.body, "only http(s) links become links"
    assert "javascript:alert(1)" in sent.body


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("1h", 3600.0),
        ("90s", 90.0),
        ("daily 07:00 Europe/Berlin", DailyTime(7, 0, "Europe/Berlin")),
        ("DAILY 7:30", DailyTime(7, 30, "UTC")),
    ],
)
def test_digest_periods_parse(written: str, expected: object) -> None:
    assert parse_digest(written) == expected


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("5s", "at least 10s"),
        ("daily 24:00", "not a time of day"),
        ("daily 07:00 Mars/Olympus", "unknown time zone"),
        ("daily at seven", "daily HH:MM"),
    ],
)
def test_bad_digest_periods_are_refused(written: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_digest(written)


def test_a_daily_time_follows_daylight_saving_on_the_wall_clock() -> None:
    daily = DailyTime(7, 0, "Europe/Berlin")
    summer = datetime(2026, 7, 1, 5, 0, 1, tzinfo=UTC).timestamp()  # 07:00:01 CEST
    winter = datetime(2026, 12, 1, 6, 0, 1, tzinfo=UTC).timestamp()  # 07:00:01 CET
    assert daily.last_at_or_before(summer) == summer - 1
    assert daily.last_at_or_before(winter) == winter - 1
    assert daily_due(daily, last_sent=summer - 3600, now=summer)
    assert not daily_due(daily, last_sent=summer, now=summer + 23 * 3600)


def test_only_non_http_schemes_go_through_apprise() -> None:
    assert is_apprise_url("mailtos://u:p@smtp.example.org")
    assert not is_apprise_url("https://hooks.example.org/x")
    assert check_apprise_url(" ntfys://ntfy.sh/topic ") == "ntfys://ntfy.sh/topic"


def test_redaction_hides_every_credential_like_part_of_the_url() -> None:
    url = "ntfys://reader:pa55@ntfy.example.org/topic-123?token=tk_abcdef&priority=high"
    said = f"failed posting to {url} as reader with pa55, token tk_abcdef to topic-123"
    shown = redact(said, secret_parts(url))
    for secret in ("pa55", "tk_abcdef", "topic-123", "reader"):
        assert secret not in shown
    assert url not in shown


def test_check_reports_unknown_and_malformed_apprise_urls_with_file_and_line(
    tmp_path: Path,
) -> None:
    config = tmp_path / "hooks.yaml"
    config.write_text(
        "redis_prefix: t\n"
        "webhooks:\n"
        "  - id: a\n"
        "    url: nosuch://admin:hunter22@example.org\n"
        "  - id: b\n"
        "    url: tgram://hunter33\n"
        "  - id: c\n"
        "    url: ntfys://ntfy.sh/topic\n"
        "    digest: daily 07:00 Europe/Berlin\n"
        "  - id: d\n"
        "    url: ntfys://ntfy.sh/other\n"
        "    format: slack\n",
        encoding="utf-8",
    )
    result = run_cli("check", "--config", str(config))
    assert result.returncode == 2
    out = result.stdout + result.stderr
    assert f"{config}:4: webhooks[0].url: unknown URL scheme nosuch://" in out
    assert f"{config}:6: webhooks[1].url: malformed tgram:// URL" in out
    assert "webhooks[2]" not in out
    assert f"{config}:10: webhooks[3]: format and secret apply to http(s) webhooks" in out
    assert "hunter22" not in out and "hunter33" not in out


def test_a_delivery_body_that_is_no_message_fails_cleanly_instead_of_crashing() -> None:
    channel = AppriseChannel(NTFY, 1.0, 1)
    try:
        outcome = channel.send('{"type": "alert.created", "data": {}}')
    finally:
        channel.close()
    assert not outcome.delivered
    assert "no message for this channel" in outcome.error
