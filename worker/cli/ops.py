"""Operator commands: `dlq list|replay`, `status`, `endpoint enable`."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from worker.alerts.store import DeliveryStore
from worker.cli.common import Subparsers, add_command, on_runtime
from worker.cli.errors import UnknownIdError
from worker.ops import dlq, status

EXIT_OK, EXIT_FAILURE = 0, 1


def register(sub: Subparsers) -> None:
    dlq_parser = add_command(sub, "dlq", "list or replay dead letters", None)
    dlq_sub = dlq_parser.add_subparsers(dest="dlq_command", required=True, metavar="COMMAND")
    dlq_handler = on_runtime(cmd_dlq)
    text = "dead items and deliveries with their reasons"
    listing = add_command(dlq_sub, "list", text, dlq_handler)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    again = add_command(dlq_sub, "replay", "put dead letters back with fresh attempts", dlq_handler)
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", action="append", dest="ids", help="a dead letter id (repeatable)")
    which.add_argument("--all", action="store_true", help="every dead letter")
    text = "queues, consumers, endpoints, oldest undelivered alert"
    state = add_command(sub, "status", text, on_runtime(cmd_status))
    state.add_argument("--json", action="store_true", help="print JSON")
    endpoint = add_command(sub, "endpoint", "manage a webhook endpoint", None)
    endpoint_sub = endpoint.add_subparsers(
        dest="endpoint_command", required=True, metavar="COMMAND"
    )
    text = "re-enable an endpoint disabled by 410 Gone"
    enable = add_command(endpoint_sub, "enable", text, on_runtime(cmd_endpoint))
    enable.add_argument("endpoint_id")


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def cmd_dlq(args: argparse.Namespace, rt: Any) -> int:
    if args.dlq_command == "list":
        letters = dlq.list_dead(rt.client, rt.keys)
        for letter in letters:
            if args.json:
                print(json.dumps({k: v for k, v in letter.__dict__.items() if k != "fields"}))
            else:
                failed = when(letter.failed_at)
                print(f"{letter.id}  {letter.kind:<8} {failed}  {letter.reason}  {letter.summary}")
        if not args.json:
            print(f"{len(letters)} dead letter(s)")
        return EXIT_OK
    replayed = (
        dlq.replay_all(rt.client, rt.keys) if args.all else dlq.replay(rt.client, rt.keys, args.ids)
    )
    missing = sorted(set(args.ids or []) - set(replayed))
    print(f"replayed {len(replayed)} dead letter(s)")
    if missing:
        raise UnknownIdError(
            f"not found: {', '.join(missing)} (`wirewatch dlq list` shows the dead letters' ids)"
        )
    return EXIT_OK


def cmd_status(args: argparse.Namespace, rt: Any) -> int:
    from worker.config.policies import delivery_policy

    policy = delivery_policy(rt.settings).breaker
    report = status.collect(rt.client, rt.keys, [w.id for w in rt.settings.webhooks], policy)
    if args.json:
        print(json.dumps(report, indent=2))
        return EXIT_OK
    print_status(report)
    return EXIT_OK


def print_instances(instances: dict[str, Any]) -> None:
    for role, found in instances.items():
        for i in found["live"]:
            age = i["heartbeat_age_s"]
            print(f"{role} {i['name']}: live, heartbeat {age}s ago (pid {i['pid']})")
        for i in found["gone"]:
            print(f"{role} {i['name']}: gone, last heartbeat {i['heartbeat_age_s']}s ago")


def print_status(report: dict[str, Any]) -> None:
    print_instances(report["instances"])
    for name in ("items", "alerts", "archive"):
        s = report[name]
        counts = f"{s['length']} in stream, {s['pending']} pending, {s['undelivered']} not yet read"
        print(f"{name}: {counts}")
        for c in s["consumers"]:
            print(f"  consumer {c['name']}: {c['pending']} pending, idle {c['idle_s']}s")
    dead = report["dead_letters"]
    print(
        f"dead letters: {dead['items']} items, {dead['alerts']} alerts/deliveries,"
        f" {dead['archive']} archive entries"
    )
    for e in report["endpoints"]:
        reason = f" ({e['disabled_reason']})" if e["disabled_reason"] else ""
        reason += "" if e["configured"] else " (not in this config: its deliveries wait)"
        print(
            f"endpoint {e['endpoint']}: {e['health']}{reason}, {e['queued']} queued,"
            f" {e['consecutive_failures']} consecutive failures,"
            f" last success {when(e['last_success_at'])}"
        )
    age = report["oldest_undelivered_alert_age_s"]
    print(f"oldest undelivered alert: {'none' if age is None else f'{age}s old'}")


def cmd_endpoint(args: argparse.Namespace, rt: Any) -> int:
    endpoint = args.endpoint_id
    configured = [w.id for w in rt.settings.webhooks]
    if endpoint not in configured:
        names = ", ".join(configured) or "none are configured"
        raise UnknownIdError(f"no webhook {endpoint!r} in the configuration (webhooks: {names})")
    DeliveryStore(rt.client, rt.keys).enable(endpoint)
    print(f"endpoint {endpoint} enabled; `wirewatch dlq replay` re-sends its deliveries")
    return EXIT_OK
