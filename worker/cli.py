"""The `wirewatch` command line. Exit 0 on success, 2 on a configuration error, 1 otherwise."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from worker import opscli
from worker.config import Settings, load_config
from worker.errors import ConfigError, QueryError, WirewatchError
from worker.observability.logging import configure_logging, get_logger
from worker.observability.metrics import start_reporter
from worker.pipeline.watchlists import config_signature
from worker.queue.connection import resolve_redis

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


def default_config_path() -> str:
    return os.environ.get("WIREWATCH_CONFIG", "config")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wirewatch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    config_help = "YAML file or directory of YAML files (default: $WIREWATCH_CONFIG or config/)"
    for name, text in [
        ("run", "run scheduler, worker and notifier together"),
        ("scheduler", "poll feeds and queue new items"),
        ("worker", "fetch, extract, dedupe and match queued items"),
        ("notifier", "deliver alerts to webhooks"),
        ("websub", "subscribe at the hubs feeds name and take their pushes (websub.enabled)"),
        ("web", "the HTTP API, alert feeds, /healthz, /readyz and /metrics (web.listen)"),
        ("watchlists", "export the watchlists made through the HTTP API as YAML"),
        ("check", "validate the configuration"),
        ("match", "run a query or watchlist against text, an HTML file or a URL"),
        ("reload", "validate the config and switch every running worker to its watchlists"),
        ("feeds", "feed health table; import/export OPML; discover a site's feeds"),
    ]:
        command = sub.add_parser(name, help=text, description=text)
        command.add_argument("--config", default=None, help=config_help)
    sub.choices["run"].add_argument(
        "--once", action="store_true", help="poll every feed once, process, deliver, exit"
    )
    from worker.feedscli import add_arguments as add_feeds_arguments

    add_feeds_arguments(sub.choices["feeds"])
    from worker.web.export import add_arguments as add_watchlists_arguments

    add_watchlists_arguments(sub.choices["watchlists"])
    match = sub.choices["match"]
    target = match.add_mutually_exclusive_group(required=True)
    target.add_argument("--query", help="a query in the watchlist language")
    target.add_argument("--watchlist", help="the id of a configured watchlist")
    match.add_argument("source", nargs="?", default="-", help="FILE, URL or - for stdin")
    OPS_COMMANDS.update(opscli.register(sub, config_help))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in OPS_COMMANDS:
            return run_ops(args)
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print_problems(exc.problems)
        return EXIT_CONFIG
    except WirewatchError as exc:
        print(f"wirewatch: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def print_problems(problems: Sequence[str]) -> None:
    print(f"wirewatch: configuration has {len(problems)} error(s):", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)


def load(args: argparse.Namespace) -> tuple[Settings, Path]:
    path = Path(args.config or default_config_path())
    args.config_signature = config_signature(path)  # before reading: a later edit is a change
    settings = load_config(path, os.environ)
    configure_logging(settings.log.level, settings.log.format)
    return settings, path


def stop_event_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT, so loops finish their work and exit cleanly."""
    stop = threading.Event()

    def handler(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def reload_on_sighup(event: threading.Event) -> None:
    """SIGHUP asks a running role to reload its config files (watchlists in a worker, feeds in a
    scheduler)."""

    def handler(signum: int, _frame: object) -> None:
        event.set()

    signal.signal(signal.SIGHUP, handler)


def with_runtime(
    settings: Settings, body: Callable[[Any], int], config_path: Path | None = None
) -> int:
    """Run `body` with a Runtime on the configured or embedded Redis; stop what it started."""
    from worker.service import Runtime

    url, embedded = resolve_redis(settings.redis_url, settings.data_dir)
    rt = Runtime.open(settings, url)
    rt.config_path = config_path
    try:
        return body(rt)
    finally:
        rt.close()
        if embedded is not None:
            embedded.stop()


def run_ops(args: argparse.Namespace) -> int:
    """Operator commands act on the configured Redis (the embedded one under data_dir if none)."""
    settings, _ = load(args)
    return with_runtime(settings, lambda rt: OPS_COMMANDS[args.command](args, rt))


def cmd_check(args: argparse.Namespace) -> int:
    settings, path = load(args)
    print(f"{path}: OK: {settings.summary()}")
    return EXIT_OK


def cmd_role(args: argparse.Namespace) -> int:
    from worker import service

    settings, path = load(args)
    role = {
        "scheduler": service.run_scheduler,
        "worker": service.run_worker,
        "websub": service.run_websub,
        "web": run_web_role,
    }.get(args.command, service.run_notifier)
    stop = stop_event_on_signals()

    def body(rt: Any) -> int:
        rt.config_signature = args.config_signature
        reload_on_sighup(rt.reload_requested)
        report_until_done = start_reporter(
            rt.client, rt.keys, args.command, service.consumer_name(args.command), rt.log
        )
        try:
            role(rt, stop)
        finally:
            report_until_done()
        return EXIT_OK

    return with_runtime(settings, body, path)


def run_web_role(rt: Any, stop: threading.Event) -> None:
    from worker.web.role import run_web

    run_web(rt, stop)


def cmd_watchlists(args: argparse.Namespace) -> int:
    from worker.web.export import export_watchlists

    settings, _ = load(args)
    return with_runtime(settings, lambda rt: export_watchlists(args, rt))


def cmd_reload(args: argparse.Namespace) -> int:
    """Validate the config and make its watchlists those of every running worker."""
    settings, _ = load(args)

    def body(rt: Any) -> int:
        version = rt.shared_watchlists().publish(settings.watchlists)
        print(f"watchlists version {version} in force: {len(settings.watchlists)} watchlist(s)")
        return EXIT_OK

    return with_runtime(settings, body)


def cmd_run(args: argparse.Namespace) -> int:
    settings, path = load(args)
    if args.once:
        return with_runtime(settings, run_once_and_report)
    from worker.supervisor import Supervisor

    stop = stop_event_on_signals()
    url, embedded = resolve_redis(settings.redis_url, settings.data_dir)
    try:
        return Supervisor(path, url, get_logger(), roles=supervised_roles(settings)).run(stop)
    finally:
        if embedded is not None:
            embedded.stop()


def supervised_roles(settings: Settings) -> tuple[str, ...]:
    from worker.supervisor import ROLES

    optional = [("websub", settings.websub.enabled), ("web", settings.web.enabled)]
    return (*ROLES, *(role for role, enabled in optional if enabled))


def run_once_and_report(rt: Any) -> int:
    from worker.service import run_once

    summary = run_once(rt)
    rt.log.info("run_once_finished", **summary)
    return EXIT_OK


def cmd_match(args: argparse.Namespace) -> int:
    from worker.matchcli import run_match

    try:
        return run_match(args, load_config_if_needed(args))
    except QueryError as exc:
        print(f"wirewatch: query error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except WirewatchError as exc:
        print(f"wirewatch: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def load_config_if_needed(args: argparse.Namespace) -> Settings | None:
    if args.watchlist is None and args.config is None:
        return None
    return load_config(Path(args.config or default_config_path()), os.environ)


OPS_COMMANDS: dict[str, Callable[[argparse.Namespace, Any], int]] = {}


def cmd_feeds(args: argparse.Namespace) -> int:
    from worker import feedscli
    from worker.service import fetch_limits

    settings, path = load(args)
    if args.feeds_command == "import":
        return feedscli.import_opml(args, settings, path)
    if args.feeds_command == "export":
        return feedscli.export_opml(settings)
    if args.feeds_command == "discover":
        return feedscli.discover(args.url, fetch_limits(settings))
    return with_runtime(settings, feedscli.print_health)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "feeds": cmd_feeds,
    "check": cmd_check,
    "run": cmd_run,
    "scheduler": cmd_role,
    "worker": cmd_role,
    "notifier": cmd_role,
    "websub": cmd_role,
    "web": cmd_role,
    "watchlists": cmd_watchlists,
    "match": cmd_match,
    "reload": cmd_reload,
}

if __name__ == "__main__":
    sys.exit(main())
