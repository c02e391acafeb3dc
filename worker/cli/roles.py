"""The role commands: `run` (every role, or `--once` in burst mode) and one per role process."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from worker.cli.common import (
    EXIT_OK,
    EXIT_UNDELIVERED,
    Subparsers,
    add_command,
    load,
    reload_on_sighup,
    stop_event_on_signals,
    with_runtime,
)
from worker.config import Settings
from worker.observability.logging import get_logger, writes_json
from worker.observability.metrics import start_reporter
from worker.queue.connection import open_client, resolve_redis
from worker.queue.liveness import INSTANCE_ENV

ROLE_HELP = {
    "scheduler": "poll feeds and queue new items",
    "worker": "fetch, extract, dedupe and match queued items",
    "notifier": "deliver alerts to webhooks",
    "websub": "subscribe at the hubs feeds name and take their pushes (websub.enabled)",
    "archiver": "store processed articles in the archive, prune it, send spike alerts",
    "web": "the HTTP API, alert feeds, /healthz, /readyz and /metrics (web.listen)",
}


def register(sub: Subparsers) -> None:
    run = add_command(sub, "run", "run scheduler, worker and notifier together", cmd_run)
    run.add_argument(
        "--once", action="store_true", help="poll every feed once, process, deliver, exit"
    )
    for role, text in ROLE_HELP.items():
        command = add_command(sub, role, text, cmd_role)
        command.add_argument(
            "--name",
            help="this instance's name, unique per role and stable across restarts "
            "(default: $WIREWATCH_INSTANCE, else one per process)",
        )


Runner = Callable[[Any, threading.Event], None]


def role_runner(name: str, settings: Settings) -> Runner:
    """How the process of role `name` runs, on a Runtime, until stopped. Imported when chosen,
    so each process loads only its own role's code. The optional roles idle while disabled, so a
    Procfile that lists them keeps running (Procfile runners stop everything when one ends)."""
    from worker.roles import archiver, web, websub
    from worker.roles.notifier import NotifierRole
    from worker.roles.scheduler import SchedulerRole
    from worker.roles.worker import WorkerRole

    if name == "websub" and not settings.websub.enabled:
        return websub.idle
    if name == "archiver" and not settings.archive.enabled:
        return archiver.idle
    if name == "web" and not settings.web.enabled:
        return web.idle
    builders: dict[str, Any] = {
        "scheduler": SchedulerRole,
        "worker": WorkerRole,
        "notifier": NotifierRole,
        "websub": websub.WebSubRole,
        "archiver": archiver.ArchiverRole,
        "web": web.WebRole,
    }
    role = builders[name]
    return lambda rt, stop: role.build(rt).run(stop)


def cmd_role(args: argparse.Namespace) -> int:
    settings, path = load(args)
    runner = role_runner(args.command, settings)
    stop = stop_event_on_signals()

    def body(rt: Any) -> int:
        rt.config_signature = args.config_signature
        rt.instance = args.name or os.environ.get(INSTANCE_ENV) or None
        reload_on_sighup(rt.reload_requested)
        # Counters to Redis every second, for /metrics (web role); liveness is the lease's.
        report_until_done = start_reporter(rt.client, rt.keys, rt.log)
        try:
            runner(rt, stop)
        finally:
            report_until_done()
        return EXIT_OK

    return with_runtime(settings, body, path)


def cmd_run(args: argparse.Namespace) -> int:
    settings, path = load(args)
    if args.once:
        return with_runtime(settings, run_once_and_report)
    from worker.roles.supervisor import Supervisor

    stop = stop_event_on_signals()
    url, embedded = resolve_redis(settings.redis_url, settings.data_dir)
    try:
        open_client(url).close()  # unreachable: one line now, not roles restarting forever
        json_lines = writes_json(settings.log.format, sys.stderr)
        roles = supervised_roles(settings)
        supervisor = Supervisor(path, url, get_logger(), roles, json_lines, embedded=embedded)
        return supervisor.run(stop)
    finally:
        if embedded is not None:
            embedded.stop()


def supervised_roles(settings: Settings) -> tuple[str, ...]:
    from worker.roles.supervisor import ROLES

    optional = [
        ("archiver", settings.archive.enabled),
        ("websub", settings.websub.enabled),
        ("web", settings.web.enabled),
    ]
    return (*ROLES, *(role for role, enabled in optional if enabled))


def run_once_and_report(rt: Any) -> int:
    from worker.roles.burst import run_once
    from worker.roles.notifier import deliveries_unsettled

    summary = run_once(rt)
    rt.log.info("run_once_finished", **summary)
    return EXIT_UNDELIVERED if deliveries_unsettled(summary) else EXIT_OK
