"""The `wirewatch` command line. Exit 0 on success, 2 on bad input (arguments, files, the
configuration), 1 on a failure or an unknown id; each mistake is answered in one line.

Each module here registers one command group the same way (`register(sub)`, each subcommand
with its handler and `--config`, accepted before or after the subcommand).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from worker.cli import archive, config, feeds, match, ops, roles, watchlists
from worker.cli.common import CONFIG_HELP, EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from worker.cli.errors import OneLineParser, answer_errors

__all__ = ["EXIT_CONFIG", "EXIT_FAILURE", "EXIT_OK", "build_parser", "main"]

COMMAND_GROUPS = (roles, config, match, feeds, ops, archive, watchlists)


def package_version() -> str:
    try:
        return version("wirewatch")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="wirewatch", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"wirewatch {package_version()}")
    parser.add_argument("--config", default=None, help=CONFIG_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return answer_errors(lambda: int(args.handler(args)))
