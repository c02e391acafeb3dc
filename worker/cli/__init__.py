"""The `wirewatch` command line. Exit 0 on success, 2 on a configuration error, 1 otherwise.

Each module here registers one command group the same way (`register(sub)`, each subcommand
with its handler and `--config`, accepted before or after the subcommand).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from worker.cli import config, feeds, match, ops, roles
from worker.cli.common import (
    CONFIG_HELP,
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_OK,
    print_problems,
)
from worker.errors import ConfigError, WirewatchError

__all__ = ["EXIT_CONFIG", "EXIT_FAILURE", "EXIT_OK", "build_parser", "main"]

COMMAND_GROUPS = (roles, config, match, feeds, ops)


def package_version() -> str:
    try:
        return version("wirewatch")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wirewatch", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"wirewatch {package_version()}")
    parser.add_argument("--config", default=None, help=CONFIG_HELP)
    sub = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        print_problems(exc.problems)
        return EXIT_CONFIG
    except WirewatchError as exc:
        print(f"wirewatch: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
