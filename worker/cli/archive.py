"""`wirewatch search`, `backtest` and `alerts`: the archive and the recent alerts on the CLI.

Each prints readable lines, or with --json one JSON document (search, backtest) or one JSON
object per alert (alerts). A query that does not parse exits 2 with its position, like `match`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from worker.archive.search import ArticleHit, BacktestResult, WouldAlert, backtest, search
from worker.archive.store import open_archive
from worker.cli.common import Handler, Subparsers, add_command, load, on_runtime
from worker.config import Settings
from worker.errors import ConfigError, QueryError
from worker.units import parse_duration

EXIT_OK, EXIT_QUERY = 0, 2


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def register(sub: Subparsers) -> None:
    text = "search the archived articles with a query"
    found = add_command(sub, "search", text, with_settings(cmd_search))
    found.add_argument("query", help="a query in the watchlist language")
    found.add_argument("--since", type=_duration, default=7 * 86400.0, help="default 7d")
    found.add_argument("--watchlist", help="only articles this watchlist matched")
    found.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    text = "what a query or watchlist would have caught"
    tried = add_command(sub, "backtest", text, with_settings(cmd_backtest))
    what = tried.add_mutually_exclusive_group(required=True)
    what.add_argument("--query", help="a query in the watchlist language")
    what.add_argument("--watchlist", help="the id of a configured watchlist (its query)")
    tried.add_argument("--since", type=_duration, default=7 * 86400.0, help="default 7d")
    tried.add_argument("--against", help="another query: the alerts gained and lost")
    tried.add_argument("--samples", type=int, default=5, help="sample hits shown (default 5)")
    text = "the recent alerts (kept web.alert_retention, 30 days by default)"
    recent = add_command(sub, "alerts", text, on_runtime(cmd_alerts))
    recent.add_argument("--watchlist", help="only this watchlist's")
    recent.add_argument("--since", type=_duration, default=86400.0, help="default 1d")
    for parser in (found, tried, recent):
        parser.add_argument("--json", action="store_true", help="print JSON")


def with_settings(command: Callable[[argparse.Namespace, Settings], int]) -> Handler:
    """A handler for a command that reads the archive only (no Redis)."""
    return lambda args: command(args, load(args)[0])


def _now() -> float:
    return datetime.now(UTC).timestamp()


def _query_error(exc: QueryError) -> int:
    print(f"wirewatch: query error: {exc}", file=sys.stderr)
    return EXIT_QUERY


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    store = open_archive(settings.archive, settings.data_dir)
    try:
        result = search(store, args.query, _now() - args.since, args.watchlist, args.limit)
    except QueryError as exc:
        return _query_error(exc)
    finally:
        store.close()
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
        return EXIT_OK
    for hit in result.hits:
        print_hit(hit)
    more = " (more: raise --limit or narrow --since)" if result.more else ""
    print(f"{len(result.hits)} result(s), {result.examined} candidate(s) examined{more}")
    return EXIT_OK


def print_hit(hit: ArticleHit) -> None:
    print(f"{hit.when}  {hit.title}  [{hit.feed}, {hit.story_id}]")
    print(f"    {hit.url}")
    for match in hit.matches[:3]:
        print(f"    {match['field']}: {match['snippet']}")


def _backtest_query(args: argparse.Namespace, settings: Settings) -> str:
    if args.query is not None:
        return str(args.query)
    table = {w.id: w.query for w in settings.watchlists}
    if args.watchlist not in table:
        raise ConfigError([f"no watchlist with id {args.watchlist!r} in the configuration"])
    return table[args.watchlist]


def cmd_backtest(args: argparse.Namespace, settings: Settings) -> int:
    query = _backtest_query(args, settings)
    store = open_archive(settings.archive, settings.data_dir)
    try:
        result = backtest(store, query, _now() - args.since, args.against, args.samples)
    except QueryError as exc:
        return _query_error(exc)
    finally:
        store.close()
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
    else:
        print_backtest(result)
    return EXIT_OK


def print_backtest(result: BacktestResult) -> None:
    print(f"query: {result.query}")
    print(
        f"{result.articles} matching article(s) in {result.stories} stor(ies);"
        f" {len(result.alerts)} alert(s) would have been sent"
    )
    print(f"{'day':<12}{'articles':>10}{'stories':>10}")
    for day in result.per_day:
        print(f"{day.day:<12}{day.articles:>10}{len(day.stories):>10}")
    if result.samples:
        print("sample hits:")
        for hit in result.samples:
            print_hit(hit)
    if result.against is not None:
        print(f"against: {result.against}")
        _print_alerts(f"gained ({len(result.gained)})", result.gained)
        _print_alerts(f"lost ({len(result.lost)})", result.lost)


def _print_alerts(title: str, alerts: list[WouldAlert]) -> None:
    print(f"{title}:")
    for alert in alerts[:20]:
        print(f"  {alert.article.when}  {alert.story_id}  {alert.article.title}")
    if len(alerts) > 20:
        print(f"  … and {len(alerts) - 20} more")


def cmd_alerts(args: argparse.Namespace, rt: Any) -> int:
    from worker.alerts.index import AlertIndex

    web = rt.settings.web
    index = AlertIndex(rt.client, rt.keys, web.alert_retention, web.alert_max)
    alerts = index.recent(_now() - args.since, args.watchlist)
    for alert in alerts:
        if args.json:
            print(json.dumps(alert, ensure_ascii=False))
        else:
            print(
                f"{alert['timestamp']}  {alert['type']:<14} {alert['watchlist']:<16}"
                f" {alert['title']}  {alert['url']}"
            )
    if not args.json:
        print(f"{len(alerts)} alert(s)")
    return EXIT_OK
