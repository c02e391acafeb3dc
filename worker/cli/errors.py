"""How every `wirewatch` command answers a mistake: one line on stderr and an exit code.

0 success; 1 a failure, or an id the command was given that does not exist (a dead letter, an
endpoint); 2 bad input (arguments, a file that cannot be read or is not what it should be, a
configuration error). A configuration with several errors lists one per line, each with its
place, and a query error shows the query with a caret under the fault after its message line;
everything else is one line, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

import redis

from worker.errors import ConfigError, QueryError, WirewatchError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # as a shell reports a command stopped by Ctrl-C


class UsageError(WirewatchError):
    """The command was given something it cannot use (exit 2)."""


class UnknownIdError(WirewatchError):
    """An id named on the command line does not exist (exit 1)."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that answers a bad argument with one line instead of usage plus the error.

    Subcommand parsers are made of the same class (argparse uses the parent's type).
    """

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


def one_line(text: str) -> str:
    """`text` with its lines joined, so a message from below stays one line on stderr."""
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def say(message: str) -> None:
    print(f"wirewatch: {one_line(message)}", file=sys.stderr)


def print_problems(problems: Sequence[str]) -> None:
    """One line for one problem; else a count and a line per problem (a query problem keeps the
    lines that point a caret at the fault: `wirewatch check` is where one looks for them)."""
    if len(problems) == 1 and "\n" not in problems[0]:
        say(f"configuration error: {problems[0]}")
        return
    print(f"wirewatch: configuration has {len(problems)} error(s):", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)


def answer_errors(command: Callable[[], int]) -> int:
    """Run `command`; turn what it raises into one line on stderr and the documented exit code."""
    try:
        return command()
    except ConfigError as exc:
        print_problems(exc.problems)
        return EXIT_USAGE
    except QueryError as exc:
        # The one exception to one line: the query with a caret under the fault follows the
        # message, which is complete on its own.
        print(f"wirewatch: query error: {exc.render()}", file=sys.stderr)
        return EXIT_USAGE
    except (WirewatchError, redis.RedisError, KeyboardInterrupt) as exc:
        message, code = explain(exc)
        say(message)
        return code


def explain(exc: BaseException) -> tuple[str, int]:
    """The line to print for `exc` and the exit code it means."""
    if isinstance(exc, UsageError):
        return f"error: {exc}", EXIT_USAGE
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED
    if isinstance(exc, redis.RedisError):  # one not translated where it was raised
        return f"error: Redis: {exc}", EXIT_FAILURE
    return f"error: {exc}", EXIT_FAILURE
