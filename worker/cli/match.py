"""`wirewatch match`: does a query (or a configured watchlist) match this text, and why?

The source is plain text, an HTML page (extracted as the worker would) or a URL (fetched with the
configured limits). Exit 0 on a match, 1 on none, 2 on an error, like grep.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from worker.cli.common import EXIT_CONFIG, Subparsers, add_command, default_config_path
from worker.cli.errors import UsageError, say
from worker.config import Settings, load_config
from worker.errors import ConfigError, QueryError, WirewatchError
from worker.fetching import Fetcher, FetchLimits
from worker.pipeline.documents import document_from_text
from worker.rules import Hit, Matcher

EXIT_MATCH, EXIT_NO_MATCH = 0, 1


def register(sub: Subparsers) -> None:
    text = "run a query or watchlist against text, an HTML file or a URL"
    match = add_command(sub, "match", text, cmd_match)
    target = match.add_mutually_exclusive_group(required=True)
    target.add_argument("--query", help="a query in the watchlist language")
    target.add_argument("--watchlist", help="the id of a configured watchlist")
    match.add_argument("source", nargs="?", default="-", help="FILE, URL or - for stdin")


def cmd_match(args: argparse.Namespace) -> int:
    try:
        return run_match(args, load_config_if_needed(args))
    except (ConfigError, QueryError):
        raise  # answered in main, with 2 as well
    except WirewatchError as exc:  # a URL that could not be fetched: 2 too, as 1 means no match
        say(f"error: {exc}")
        return EXIT_CONFIG


def load_config_if_needed(args: argparse.Namespace) -> Settings | None:
    config = getattr(args, "config", None)
    if args.watchlist is None and config is None:
        return None
    return load_config(Path(config or default_config_path()), os.environ)


def read_source(source: str, settings: Settings | None) -> tuple[str, str]:
    """(text, url) of the source: a URL fetched, a file read, or stdin for `-`."""
    if source.startswith(("http://", "https://")):
        limits = FetchLimits(30.0, 10.0, 10_000_000, 5, True, "wirewatch-match/0.1")
        if settings is not None:
            from worker.config.policies import fetch_limits

            limits = fetch_limits(settings)
        fetcher = Fetcher(limits)
        try:
            result = fetcher.fetch(source, trusted=True)
        finally:
            fetcher.close()
        return result.body.decode("utf-8", errors="replace"), result.url
    if source == "-":  # bytes, decoded like a file: stdin may not be UTF-8
        return sys.stdin.buffer.read().decode("utf-8", errors="replace"), ""
    return Path(source).read_text(encoding="utf-8", errors="replace"), ""


def query_for(args: argparse.Namespace, settings: Settings | None) -> tuple[str, str]:
    if args.query is not None:
        return "query", args.query
    watchlists = {w.id: w for w in settings.watchlists} if settings else {}
    if args.watchlist not in watchlists:
        raise ConfigError([f"no watchlist with id {args.watchlist!r} in the configuration"])
    return args.watchlist, watchlists[args.watchlist].query


def highlight(snippet: str, text: str) -> str:
    return snippet.replace(text, f"[{text}]", 1) if text else snippet


def print_hits(rule_id: str, hits: list[Hit]) -> None:
    print(f"MATCH {rule_id}")
    for hit in hits:
        print(f"  {hit.field}: {hit.text!r}  {highlight(hit.snippet, hit.text)}")


def run_match(args: argparse.Namespace, settings: Settings | None) -> int:
    rule_id, query = query_for(args, settings)
    matcher = Matcher.compile([(rule_id, query)])
    try:
        text, url = read_source(args.source, settings)
    except OSError as exc:
        raise UsageError(f"cannot read {args.source}: {exc.strerror or exc}") from exc
    hits = matcher.hits(rule_id, document_from_text(text, url))
    if not hits:
        print(f"no match: {rule_id}")
        return EXIT_NO_MATCH
    print_hits(rule_id, hits)
    return EXIT_MATCH
