"""What every command shares: exit codes, loading the config, a Runtime on the configured (or
embedded) Redis, and the signals a long-running role answers."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from worker.config import Settings, load_config
from worker.config.watch import config_signature
from worker.observability.logging import configure_logging
from worker.queue.connection import resolve_redis

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2
EXIT_UNDELIVERED = 3  # run --once: deliveries still pending, or dead-lettered in that run
CONFIG_HELP = "YAML file or directory of YAML files (default: $WIREWATCH_CONFIG or config/)"

Handler = Callable[[argparse.Namespace], int]
Subparsers = Any  # argparse's _SubParsersAction, which it does not export


def config_option() -> argparse.ArgumentParser:
    """`--config` for a subcommand: SUPPRESS keeps a value given before the subcommand
    (`wirewatch --config X status`) when it is not given again after it."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--config", default=argparse.SUPPRESS, help=CONFIG_HELP)
    return parent


def add_command(sub: Subparsers, name: str, text: str, handler: Handler | None) -> Any:
    """One subcommand, with `--config`; `handler` runs it (None for a group of subcommands)."""
    parser = sub.add_parser(name, help=text, description=text, parents=[config_option()])
    if handler is not None:
        parser.set_defaults(handler=handler)
    return parser


def default_config_path() -> str:
    return os.environ.get("WIREWATCH_CONFIG", "config")


def config_path(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "config", None) or default_config_path())


def load(args: argparse.Namespace) -> tuple[Settings, Path]:
    path = config_path(args)
    args.config_signature = config_signature(path)  # before reading: a later edit is a change
    settings = load_config(path, os.environ)
    configure_logging(settings.log.level, settings.log.format, role=args.command)
    return settings, path


def with_runtime(
    settings: Settings, body: Callable[[Any], int], config_path: Path | None = None
) -> int:
    """Run `body` with a Runtime on the configured or embedded Redis; stop what it started."""
    from worker.roles.runtime import Runtime

    url, embedded = resolve_redis(settings.redis_url, settings.data_dir)
    rt = Runtime.open(settings, url)
    rt.config_path = config_path
    try:
        return body(rt)
    finally:
        rt.close()
        if embedded is not None:
            embedded.stop()


def on_runtime(command: Callable[[argparse.Namespace, Any], int]) -> Handler:
    """A handler for an operator command: it acts on the configured Redis (the embedded one
    under data_dir if none)."""

    def handler(args: argparse.Namespace) -> int:
        settings, _ = load(args)
        return with_runtime(settings, lambda rt: command(args, rt))

    return handler


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
    scheduler and the websub role, webhooks in a notifier)."""

    def handler(signum: int, _frame: object) -> None:
        event.set()

    signal.signal(signal.SIGHUP, handler)
