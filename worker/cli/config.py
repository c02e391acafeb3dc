"""Config commands: `check` validates, `reload` switches every running worker to its watchlists."""

from __future__ import annotations

import argparse
from typing import Any

from worker.cli.common import EXIT_OK, Subparsers, add_command, load, with_runtime


def register(sub: Subparsers) -> None:
    add_command(sub, "check", "validate the configuration", cmd_check)
    add_command(
        sub,
        "reload",
        "validate the config and switch every running worker to its watchlists",
        cmd_reload,
    )


def cmd_check(args: argparse.Namespace) -> int:
    settings, path = load(args)
    print(f"{path}: OK: {settings.summary()}")
    return EXIT_OK


def cmd_reload(args: argparse.Namespace) -> int:
    """Validate the config and make its watchlists those of every running worker."""
    from worker.pipeline.watchlists import SharedWatchlists

    settings, _ = load(args)

    def body(rt: Any) -> int:
        version = SharedWatchlists(rt.client, rt.keys, rt.log).publish(settings.watchlists)
        print(f"watchlists version {version} in force: {len(settings.watchlists)} watchlist(s)")
        return EXIT_OK

    return with_runtime(settings, body)
