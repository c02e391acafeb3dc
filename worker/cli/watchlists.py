"""`wirewatch watchlists export`: the API-made watchlists as YAML, for version control.

The output is a config fragment (`watchlists: [...]`): saved into the config directory it makes
them config watchlists, after which the API lists them as `source: config` (read-only there).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from worker.cli.common import Subparsers, add_command, on_runtime
from worker.pipeline.apiwatchlists import ApiWatchlistStore

EXIT_OK = 0


def register(sub: Subparsers) -> None:
    text = "export the watchlists made through the HTTP API as YAML"
    group = add_command(sub, "watchlists", text, None)
    commands = group.add_subparsers(dest="watchlists_command", required=True, metavar="COMMAND")
    text = "write the API-made watchlists as YAML"
    export = add_command(commands, "export", text, on_runtime(export_watchlists))
    export.add_argument("--output", help="file to write (default: standard output)")


def export_yaml(rt: Any) -> str:
    rows = [
        {"id": w.id, "name": w.name, "query": w.query, "notify": list(w.notify)}
        for w in ApiWatchlistStore(rt.client, rt.keys).all()
    ]
    header = "# Watchlists made through the wirewatch HTTP API (wirewatch watchlists export)\n"
    return header + yaml.safe_dump({"watchlists": rows}, allow_unicode=True, sort_keys=False)


def export_watchlists(args: argparse.Namespace, rt: Any) -> int:
    text = export_yaml(rt)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK
