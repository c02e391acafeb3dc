"""`wirewatch feeds` from the real CLI: OPML in and out, discovery, the health table."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
import yaml

from tests.support.cli import run_cli, write_config
from tests.support.httpserver import LocalServer, Response
from tests.support.site import mount_seed_site
from worker.feeds.opml import FeedEntry, OpmlError, discover_feeds, parse_opml, to_opml

OPML = b"""<?xml version="1.0"?>
<opml version="1.0"><head><title>mine</title></head><body>
  <outline text="News">
    <outline text="Example" title="Example News" type="rss" xmlUrl="https://example.org/rss"/>
    <outline text="Dup" xmlUrl="https://example.org/rss"/>
  </outline>
  <outline text="Top" xmlUrl="http://top.example/feed.xml"/>
  <outline text="Not http" xmlUrl="file:///etc/passwd"/>
</body></opml>"""


def test_parse_opml_keeps_folders_as_tags_and_skips_non_http() -> None:
    assert parse_opml(OPML) == [
        FeedEntry("https://example.org/rss", "Example News", ("News",)),
        FeedEntry("http://top.example/feed.xml", "Top", ()),
    ]


def test_opml_round_trip() -> None:
    feeds = [FeedEntry("https://a.example/rss", "A & B", ("x", "y")), FeedEntry("http://b/")]
    assert [(f.url, f.name) for f in parse_opml(to_opml(feeds))] == [
        ("https://a.example/rss", "A & B"),
        ("http://b/", "http://b/"),
    ]


@pytest.mark.parametrize(
    "data",
    [
        b"<html><body/></html>",
        b"not xml",
        b'<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><opml><body/></opml>',
        b'<!DOCTYPE o [<!ENTITY x SYSTEM "file:///etc/passwd">]><opml><body>&x;</body></opml>',
    ],
)
def test_bad_or_hostile_opml_is_refused(data: bytes) -> None:
    with pytest.raises(OpmlError):
        parse_opml(data)


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (
            b'<html><head><link rel="alternate" type="application/rss+xml" href="/rss">'
            b'<link rel="Alternate" type="application/atom+xml; charset=utf-8" href="a.xml">'
            b'<link rel="alternate" type="text/html" href="/fr/">'
            b'<link rel="stylesheet" href="/s.css"></head></html>',
            ["https://site.example/rss", "https://site.example/news/a.xml"],
        ),
        (b"<html><head><title>none</title></head></html>", []),
        (b"", []),
    ],
)
def test_discover_feeds(html: bytes, expected: list[str]) -> None:
    assert discover_feeds(html, "https://site.example/news/") == expected


def test_import_then_export_through_the_cli(tmp_path: Path, prefix: str) -> None:
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    write_config(config_dir, prefix, ["http://top.example/feed.xml"])
    opml = tmp_path / "subs.opml"
    opml.write_bytes(OPML)

    first = run_cli("feeds", "import", str(opml), "--config", str(config_dir))
    again = run_cli("feeds", "import", str(opml), "--config", str(config_dir))
    exported = run_cli("feeds", "export", "--config", str(config_dir))

    assert first.returncode == 0, first.stderr
    assert "added 1 feed(s), 1 already configured" in first.stdout
    assert "added 0 feed(s)" in again.stdout
    written = yaml.safe_load((config_dir / "feeds-imported.yaml").read_text())
    assert written == {
        "feeds": [{"url": "https://example.org/rss", "name": "Example News", "tags": ["News"]}]
    }
    assert exported.returncode == 0, exported.stderr
    urls = [f.url for f in parse_opml(exported.stdout.encode())]
    assert sorted(urls) == ["http://top.example/feed.xml", "https://example.org/rss"]


def test_discover_through_the_cli(tmp_path: Path, server: LocalServer, prefix: str) -> None:
    feed = mount_seed_site(server)["feed"]
    page = b'<html><head><link rel="alternate" type="application/rss+xml" href="/feed.xml">'
    site = server.route("/", Response(200, page, {"Content-Type": "text/html"}))
    config = write_config(tmp_path, prefix, [])

    from_page = run_cli("feeds", "discover", site, "--config", str(config))
    from_feed = run_cli("feeds", "discover", feed, "--config", str(config))
    nothing = run_cli("feeds", "discover", server.url("/local/weather"), "--config", str(config))

    assert (from_page.returncode, from_page.stdout) == (0, feed + "\n")
    assert (from_feed.returncode, from_feed.stdout) == (0, feed + "\n")
    assert nothing.returncode == 1 and "no feed" in nothing.stderr


def test_health_table_after_a_run(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    feed = mount_seed_site(server)["feed"]
    missing = server.url("/missing.xml")
    config = write_config(tmp_path, prefix, [feed, missing])
    (tmp_path / "x").mkdir()
    never = write_config(tmp_path / "x", prefix, [feed, missing, server.url("/never.xml")])
    assert run_cli("run", "--once", "--config", str(config), redis_url=redis_url).returncode == 0

    table = run_cli("feeds", "--config", str(never), redis_url=redis_url)

    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["feed", "status", "last", "success", "last", "new", "item",
                                "next", "poll", "errors"]  # fmt: skip
    rows = {line.split()[0]: line.split() for line in lines[1:4]}
    assert rows["feed0"][1] == "ok" and rows["feed0"][-1] == "0" and "ago" in lines[1]
    assert rows["feed1"][1] == "error" and rows["feed1"][-1] == "1"
    assert rows["feed2"][1] == "new"
    assert "feed1: http_status" in table.stdout and "404" in table.stdout
