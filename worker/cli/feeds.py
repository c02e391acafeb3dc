"""`wirewatch feeds`: the health table, OPML import/export and feed discovery."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import yaml

from worker.cli.common import Subparsers, add_command, load, with_runtime
from worker.cli.errors import UsageError, one_line
from worker.config import Settings
from worker.config.policies import fetch_limits
from worker.feeds.opml import FeedEntry, OpmlError, discover_feeds, parse_opml, to_opml
from worker.feeds.parse import FeedParseError, parse_feed
from worker.fetching import Fetcher, FetchLimits
from worker.polling.health import feed_status, health_policy
from worker.queue.connection import read_hashes

IMPORT_FILE = "feeds-imported.yaml"
COLUMNS = ("feed", "status", "last success", "last new item", "next poll", "errors")


def register(sub: Subparsers) -> None:
    text = "feed health table; import/export OPML; discover a site's feeds"
    feeds = add_command(sub, "feeds", text, cmd_feeds)
    commands = feeds.add_subparsers(dest="feeds_command")
    imp = add_command(
        commands, "import", "add the feeds of an OPML file to the configuration", None
    )
    imp.add_argument("file", help="OPML file")
    imp.add_argument("--output", help=f"YAML file to write (default: <config dir>/{IMPORT_FILE})")
    add_command(commands, "export", "print the configured feeds as OPML", None)
    disc = add_command(commands, "discover", "find the feeds a site announces", None)
    disc.add_argument("url", help="a site or page URL")


def cmd_feeds(args: argparse.Namespace) -> int:
    settings, path = load(args)
    if args.feeds_command == "import":
        return import_opml(args, settings, path)
    if args.feeds_command == "export":
        return export_opml(settings)
    if args.feeds_command == "discover":
        return discover(args.url, fetch_limits(settings))
    return with_runtime(settings, print_health)


def when(epoch: str | None, now: float) -> str:
    """A short relative time: `3m ago`, `in 2h`, or `-`."""
    if not epoch:
        return "-"
    delta = float(epoch) - now
    text = _span(abs(delta))
    return f"in {text}" if delta > 0 else f"{text} ago"


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def health_rows(
    settings: Settings, states: Mapping[str, Mapping[str, str]], now: float
) -> list[tuple[str, ...]]:
    policy = health_policy(settings)
    rows: list[tuple[str, ...]] = []
    for feed in settings.feeds:
        state = states.get(feed.url, {})
        rows.append(
            (
                feed.name or feed.url,
                feed_status(state, now, policy),
                when(state.get("last_success"), now),
                when(state.get("last_new_item"), now),
                when(state.get("next_poll"), now),
                state.get("consecutive_errors") or "0",
            )
        )
    return rows


def format_table(rows: Sequence[tuple[str, ...]]) -> str:
    table = [COLUMNS, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(COLUMNS))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in table)
    return "\n".join(line.rstrip() for line in lines)


def print_health(rt: Any, out: TextIO = sys.stdout) -> int:
    urls = [feed.url for feed in rt.settings.feeds]
    found = read_hashes(rt.client, [rt.keys.feed_state(url) for url in urls])
    states = dict(zip(urls, found, strict=True))
    rows = health_rows(rt.settings, states, time.time())
    print(format_table(rows), file=out)
    for feed in rt.settings.feeds:
        error = states[feed.url].get("last_error")
        if states[feed.url].get("status") == "error" and error:
            print(f"  {feed.name or feed.url}: {error}", file=out)
        if states[feed.url].get("deferred_items"):  # over scheduler.max_new_items last poll
            left = states[feed.url]["deferred_items"]
            print(f"  {feed.name or feed.url}: {left} new items left for later polls", file=out)
    if rt.settings.websub.enabled:
        print_websub(rt, out)
    return 0


def print_websub(rt: Any, out: TextIO) -> None:
    """Each feed's WebSub subscription (when WebSub is enabled)."""
    from worker.websub.status import websub_lines
    from worker.websub.store import WebSubStore

    store, now = WebSubStore(rt.client, rt.keys), time.time()
    records = store.read_many([feed.url for feed in rt.settings.feeds])
    for line in websub_lines(rt.settings.feeds, records, now, lambda epoch: when(epoch, now)):
        print(line, file=out)


def export_opml(settings: Settings, out: TextIO = sys.stdout) -> int:
    entries = [FeedEntry(f.url, f.name, tuple(f.tags)) for f in settings.feeds]
    out.write(to_opml(entries).decode("utf-8"))
    return 0


def import_opml(args: argparse.Namespace, settings: Settings, config: Path) -> int:
    entries = _read_opml(Path(args.file))
    target = Path(args.output) if args.output else _default_target(config)
    existing = _load_feeds(target)
    known = {f.url for f in settings.feeds} | {str(f.get("url")) for f in existing}
    added = [_yaml_feed(e) for e in entries if e.url not in known]
    text = yaml.safe_dump({"feeds": [*existing, *added]}, sort_keys=False, allow_unicode=True)
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    print(f"{target}: added {len(added)} feed(s), {len(entries) - len(added)} already configured")
    return 0


def _read_opml(path: Path) -> list[FeedEntry]:
    try:
        return parse_opml(path.read_bytes())
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except OpmlError as exc:
        raise UsageError(f"{path}: {exc}") from None


def _default_target(config: Path) -> Path:
    if not config.is_dir():
        raise UsageError(
            f"{config} is a file: pass --output FILE and merge it, or use a config directory"
        )
    return config / IMPORT_FILE


def _load_feeds(path: Path) -> list[dict[str, Any]]:
    """The feeds already in the file an import adds to (so a second import appends)."""
    if not path.exists():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"cannot read {path}: {one_line(str(exc))}") from None
    if not isinstance(data, dict) or not isinstance(data.get("feeds"), list | None):
        # Writing would replace what is there: refuse rather than lose it.
        raise UsageError(f"{path}: expected `feeds:` with a list, to add the imported ones to")
    return list(data.get("feeds") or [])


def _yaml_feed(entry: FeedEntry) -> dict[str, Any]:
    feed: dict[str, Any] = {"url": entry.url}
    if entry.name:
        feed["name"] = entry.name
    if entry.tags:
        feed["tags"] = list(entry.tags)
    return feed


def is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def discover(url: str, limits: FetchLimits, out: TextIO = sys.stdout) -> int:
    """Print the feeds `url` announces, or `url` itself when it already is a feed."""
    if not is_web_url(url):
        raise UsageError(f"{url!r} is not an http:// or https:// URL")
    with Fetcher(limits) as fetcher:
        result = fetcher.fetch(url, trusted=True)  # typed by the user, like a configured feed
    try:
        parse_feed(result.body, url=result.url, content_type=result.headers.get("content-type"))
        found = [result.url]
    except FeedParseError:
        found = discover_feeds(result.body, result.url)
    if not found:
        print(f"wirewatch: no feed announced at {url}", file=sys.stderr)
        return 1
    for feed in found:
        print(feed, file=out)
    return 0
