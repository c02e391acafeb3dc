"""WebSub's pure parts: hub discovery, subscription decisions, signatures, tokens, config."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import write_config
from worker.config import load_config
from worker.errors import ConfigError
from worker.feeds.parse import parse_feed
from worker.websub.callbacks import token_of
from worker.websub.decisions import (
    Action,
    RetryPolicy,
    decide,
    granted_lease,
    retry_delay,
    signature_valid,
)
from worker.websub.discovery import discover, header_links
from worker.websub.hubclient import hide


def test_link_header_comes_before_the_feed_links() -> None:
    headers = {"link": '<https://hub.example/>; rel="hub", </self.xml>; rel=self'}
    links = [("hub", "https://other.example/hub")]
    assert discover("https://site.example/feed", headers, links) == (
        "https://hub.example/",
        "https://site.example/self.xml",
    )
    assert discover("https://site.example/feed", {}, links) == (
        "https://other.example/hub",
        "https://site.example/feed",
    )
    assert discover("https://s.example/f", {}, [("hub", "javascript:x")]) == ("", "")
    assert discover("https://s.example/f", {}, []) == ("", "")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('<https://h/>; rel="hub"', [("hub", "https://h/")]),
        ('<https://h/>; rel="self hub"', [("self", "https://h/"), ("hub", "https://h/")]),
        ('<a>; rel=hub, <b>; title="x"; REL=self', [("hub", "a"), ("self", "b")]),
        ('<a>; rel="alternate", <b>; rel=""', [("alternate", "a")]),
        ("<a>;rel=HUB,<b>;rel=self", [("hub", "a"), ("self", "b")]),
        ("garbage", []),
        ("", []),
    ],
)
def test_link_header_parsing(value: str, expected: list[tuple[str, str]]) -> None:
    assert header_links(value) == expected


def test_parsed_feeds_keep_hub_and_self_links() -> None:
    rss = (
        b'<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">'
        b'<channel><title>T</title><atom:link rel="hub" href="https://hub.example/"/>'
        b'<atom:link rel="self" href="https://s.example/rss"/><item><guid>a</guid></item>'
        b"</channel></rss>"
    )
    parsed = parse_feed(rss, url="https://s.example/rss", content_type="application/rss+xml")
    assert parsed.links == (("hub", "https://hub.example/"), ("self", "https://s.example/rss"))
    json_feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "J",
        "feed_url": "https://s.example/feed.json",
        "hubs": [{"type": "WebSub", "url": "https://hub.example/"}, "junk"],
        "items": [],
    }
    parsed = parse_feed(
        json.dumps(json_feed).encode(), url="https://s.example/f", content_type=None
    )
    assert parsed.links == (
        ("hub", "https://hub.example/"),
        ("self", "https://s.example/feed.json"),
    )


NOW = 1000.0


@pytest.mark.parametrize(
    ("record", "configured", "expected"),
    [
        ({"state": "discovered", "hub": "h", "topic": "t"}, True, Action("subscribe")),
        ({"state": "failed", "hub": "h", "next_at": "2000"}, True, Action("wait", 2000.0)),
        ({"state": "failed", "hub": "h", "next_at": "900"}, True, Action("subscribe")),
        ({"state": "denied", "hub": "h", "next_at": "900"}, True, Action("subscribe")),
        ({"state": "subscribing", "hub": "h", "next_at": "1500"}, True, Action("wait", 1500.0)),
        ({"state": "subscribing", "hub": "h", "next_at": "999"}, True, Action("give_up")),
        (
            {"state": "active", "hub": "h", "topic": "t", "sub_hub": "h", "sub_topic": "t",
             "renew_at": "1200"},
            True,
            Action("wait", 1200.0),
        ),
        (
            {"state": "active", "hub": "h2", "topic": "t", "sub_hub": "h", "sub_topic": "t",
             "renew_at": "1200"},
            True,
            Action("subscribe"),
        ),
        ({"state": "active", "hub": "h", "token": "x"}, False, Action("unsubscribe")),
        ({"state": "active", "hub": "", "token": "x"}, True, Action("unsubscribe")),
        ({"state": "unsubscribing", "hub": "h", "next_at": "1100"}, False, Action("wait", 1100.0)),
        ({"state": "unsubscribing", "hub": "h", "next_at": "900"}, False, Action("forget")),
        ({"state": "unsubscribing", "hub": "h", "next_at": "1100"}, True, Action("subscribe")),
        ({"state": "failed", "hub": "h"}, False, Action("forget")),
        # a hub the scheduler found for a feed this process's config does not name yet
        ({"state": "discovered", "hub": "h", "found_at": "990"}, False, Action("wait", 1020.0)),
        ({"state": "discovered", "hub": "h", "found_at": "960"}, False, Action("forget")),
        ({"state": "discovered", "hub": "h"}, False, Action("forget")),
        ({"state": "failed", "hub": "h", "token": "x", "expires_at": "1001"}, False,
         Action("unsubscribe")),
        ({"state": "failed", "hub": "h", "token": "x", "expires_at": "999"}, False,
         Action("forget")),
    ],
)  # fmt: skip
def test_decide(record: dict[str, str], configured: bool, expected: Action) -> None:
    assert decide(record, configured, NOW) == expected


def test_retry_delay_doubles_to_its_cap_with_jitter() -> None:
    policy = RetryPolicy(60.0, 600.0)
    assert [retry_delay(n, policy, 0.5) for n in range(1, 6)] == [60, 120, 240, 480, 600]
    assert retry_delay(1, policy, 0.0) == pytest.approx(54.0)
    assert retry_delay(10_000, policy, 0.5) == 600.0


@pytest.mark.parametrize(
    ("given", "expected"),
    [("3600", 3600.0), (None, 99.0), ("", 99.0), ("x", 99.0), ("nan", 99.0), ("-5", 1.0)],
)
def test_granted_lease(given: str | None, expected: float) -> None:
    assert granted_lease(given, 99.0) == expected


def test_signature_check() -> None:
    body = b"payload"
    good = "sha512=" + hmac.new(b"s", body, hashlib.sha512).hexdigest()
    assert signature_valid(good, "s", body)
    assert signature_valid(good.upper().replace("SHA512", "sha512"), "s", body)
    assert not signature_valid(good, "other", body)
    assert not signature_valid(None, "s", body)
    assert not signature_valid("sha512", "s", body)
    assert not signature_valid("md5=" + hashlib.md5(body).hexdigest(), "s", body)


@pytest.mark.parametrize(
    ("path", "token"),
    [
        ("/websub/" + "a" * 43, "a" * 43),
        ("/" + "b" * 43 + "?hub.mode=x", "b" * 43),
        ("/websub/" + "c" * 43 + "/", "c" * 43),
        ("/websub/short", None),
        ("/websub/../etc/passwd", None),
        ("/", None),
    ],
)
def test_token_of(path: str, token: str | None) -> None:
    assert token_of(path) == token


def test_websub_is_off_by_default(tmp_path: Path) -> None:
    settings = load_config(write_config(tmp_path, "p", ["https://a.example/rss"]), {})
    assert settings.websub.enabled is False
    assert settings.websub.listen == "0.0.0.0:8470"
    assert settings.websub.lease == 10 * 86400


def test_websub_settings_are_read(tmp_path: Path) -> None:
    section = {"enabled": True, "listen": "[::]:9000", "public_url": "https://h.example/ws",
               "lease": "2d", "max_body": "1MB", "retry_min": "30s", "retry_max": "1h"}  # fmt: skip
    settings = load_config(write_config(tmp_path, "p", [], websub=section), {})
    w = settings.websub
    assert (w.enabled, w.listen, w.public_url) == (True, "[::]:9000", "https://h.example/ws")
    assert (w.lease, w.max_body, w.retry_min, w.retry_max) == (172800.0, 1_000_000, 30.0, 3600.0)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"enabled": True}, "websub: public_url is required when websub is enabled"),
        ({"listen": "8470"}, "websub.listen: '8470' is not host:port"),
        ({"listen": "host:99999"}, "websub.listen: 'host:99999' is not host:port"),
        ({"lease": "30s"}, "websub.lease: must be at least 1m"),
        ({"public_url": "ftp://x/"}, "websub.public_url: URL must start with http"),
        ({"public_url": "https://x/cb?a=1"}, "websub.public_url: public_url must have no query"),
        ({"max_body": "0"}, "websub.max_body: size must be greater than zero"),
        ({"retry_min": "2h", "retry_max": "1h"}, "retry_min must not be longer than retry_max"),
        ({"leese": "1d"}, "websub.leese: unknown key; did you mean 'lease'?"),
    ],
)
def test_websub_config_errors_name_file_line_and_field(
    tmp_path: Path, section: dict[str, Any], message: str
) -> None:
    path = write_config(tmp_path, "p", [], websub=section)
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}:")
    assert message in problem


def test_run_supervises_websub_only_when_enabled(tmp_path: Path) -> None:
    from worker.cli.roles import supervised_roles

    off = load_config(write_config(tmp_path, "p", []), {})
    assert "websub" not in supervised_roles(off)
    section = {"enabled": True, "public_url": "https://h.example/ws"}
    on = load_config(write_config(tmp_path, "p", [], websub=section), {})
    assert supervised_roles(on)[-1] == "websub"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x=s3cr3t/value&y=1", "x=[hidden]&y=1"),
        ("quoted: s3cr3t%2Fvalue", "quoted: [hidden]"),
        ("cut off: s3cr3", "cut off: [hidden]"),
        ("cut off: s3c", "cut off: s3c"),  # too short a start to tell
        ("nothing here", "nothing here"),
    ],
)
def test_hidden_values_are_blanked_out_of_a_hub_reply(text: str, expected: str) -> None:
    assert hide(text, ["s3cr3t/value", ""]) == expected


@pytest.mark.parametrize(
    "href",
    ["https://h.example/\x1b[2J", "https://h.example/\x9b2J", "https://h.example/a b",
     "https://h.example/\u2028x"],
)  # fmt: skip
def test_hub_urls_with_control_characters_or_spaces_are_ignored(href: str) -> None:
    """They would reach `wirewatch feeds` and the logs as they are (a JSON Feed may hold any)."""
    assert discover("https://s.example/f", {}, [("hub", href)]) == ("", "")
    hub = "https://hub.example/"
    assert discover("https://s.example/f", {}, [("hub", hub), ("self", href)]) == (
        hub,
        "https://s.example/f",
    )
