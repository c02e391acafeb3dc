"""The role commands: `run` (every role, or `--once` in burst mode) and one per role process."""

from __future__ import annotations

import argparse
import os
import threading
from collections.abc import Callable
from typing import Any

from worker.cli.common import (
    EXIT_OK,
    Subparsers,
    add_command,
    load,
    reload_on_sighup,
    stop_event_on_signals,
    with_runtime,
)
from worker.config import Settings
from worker.observability.logging import get_logger
from worker.queue.connection import resolve_redis
from worker.queue.liveness import INSTANCE_ENV

ROLE_HELP = {
    "scheduler": "poll feeds and queue new items",
    "worker": "fetch, extract, dedupe and match queued items",
    "notifier": "deliver alerts to webhooks",
    "websub": "subscribe at the hubs feeds name and take their pushes (websub.enabled)",
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


def role_runner(name: str, settings: Settings) -> Callable[[Any, threading.Event], None]:
    """How the process of role `name` runs, on a Runtime, until stopped."""
    if name == "scheduler":
        from worker.roles.scheduler import SchedulerRole

        return lambda rt, stop: SchedulerRole.build(rt).run(stop)
    if name == "worker":
        from worker.roles.worker import WorkerRole

        return lambda rt, stop: WorkerRole.build(rt).run(stop)
    if name == "websub":
        from worker.roles import websub

        if not settings.websub.enabled:
            return websub.idle
        return lambda rt, stop: websub.WebSubRole.build(rt).run(stop)
    from worker.roles.notifier import NotifierRole

    return lambda rt, stop: NotifierRole.build(rt).run(stop)


def cmd_role(args: argparse.Namespace) -> int:
    settings, path = load(args)
    runner = role_runner(args.command, settings)
    stop = stop_event_on_signals()

    def body(rt: Any) -> int:
        rt.config_signature = args.config_signature
        rt.instance = args.name or os.environ.get(INSTANCE_ENV) or None
        reload_on_sighup(rt.reload_requested)
        runner(rt, stop)
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
        roles = supervised_roles(settings)
        return Supervisor(path, url, get_logger(), roles=roles, embedded=embedded).run(stop)
    finally:
        if embedded is not None:
            embedded.stop()


def supervised_roles(settings: Settings) -> tuple[str, ...]:
    from worker.roles.supervisor import ROLES

    return (*ROLES, "websub") if settings.websub.enabled else ROLES


def run_once_and_report(rt: Any) -> int:
    from worker.roles.burst import run_once

    summary = run_once(rt)
    rt.log.info("run_once_finished", **summary)
    return EXIT_OK
