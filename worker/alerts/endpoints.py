"""The notifier's webhook endpoints, following edits to the config files (and SIGHUP).

The watching is the one config-file watcher of every role (worker/config/watch.py, through
`Runtime.follow_config`); this module says what changed and applies it.

Workers pick up a watchlist that names a new webhook within seconds (worker/pipeline/
watchlists.py); the notifier must know that webhook too, or its alerts would have nowhere to
go. So the notifier watches its config files as the workers and schedulers do: looked at about
every two seconds, reloaded when they change or when SIGHUP asks. The whole config is loaded and
validated; a config with any error changes nothing (`config_reload_failed`). Added, removed and
changed endpoints (url, secret, format, digest) take effect at once: a delivery goes out with
the endpoint as it is configured when it is sent.

An alert naming an endpoint this notifier has not loaded (yet) is not an error: the config may
be mid-edit, or another machine's workers may be ahead of this notifier's config. Its delivery
waits in that endpoint's queue, is sent once the endpoint appears, and is never dead-lettered
for that reason (`wirewatch status` lists such endpoints with what waits for them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class EndpointChanges:
    added: list[str]
    removed: list[str]
    changed: list[str]


def endpoint_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> EndpointChanges:
    """Endpoint ids added, removed and changed (any field: url, secret, format, digest)."""
    return EndpointChanges(
        added=sorted(set(new) - set(old)),
        removed=sorted(set(old) - set(new)),
        changed=sorted(eid for eid in set(old) & set(new) if old[eid] != new[eid]),
    )


class EndpointTable(Protocol):
    """What follows the config's webhooks: the notifier."""

    def replace_endpoints(self, endpoints: Mapping[str, Any]) -> EndpointChanges: ...


def endpoints_applier(
    notifier: EndpointTable, log: Any, path: Path | None
) -> Callable[[Mapping[str, Any]], None]:
    """What the notifier's config watcher applies (worker/config/watch.py): the new endpoint
    table. Logs endpoint ids only: URLs of chat webhooks carry their token."""

    def apply(endpoints: Mapping[str, Any]) -> None:
        changes = notifier.replace_endpoints(endpoints)
        if changes.added or changes.removed or changes.changed:
            log.info(
                "webhooks_reloaded",
                config=str(path),
                webhooks=len(endpoints),
                added=changes.added,
                removed=changes.removed,
                changed=changes.changed,
            )

    return apply
