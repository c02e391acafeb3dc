"""The notifier's webhook endpoints, following edits to the config files (and SIGHUP).

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

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from worker.config import Settings
from worker.errors import ConfigError
from worker.pipeline.watchlists import config_signature

Signature = tuple[tuple[str, int, int], ...]


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


class WebhookConfigWatcher:
    """Reloads the notifier's endpoints when the config files change or on request (SIGHUP).

    `endpoints_of` turns loaded settings into the notifier's endpoint table; `signature` is the
    files' signature taken before the running settings were read, so an edit made while the
    process was starting is still seen as a change."""

    def __init__(
        self,
        path: Path,
        load: Callable[[], Settings],
        endpoints_of: Callable[[Settings], Mapping[str, Any]],
        notifier: EndpointTable,
        log: Any,
        signature: Signature,
        requested: threading.Event | None = None,
        interval_s: float = 2.0,
    ) -> None:
        self.path = path
        self.load = load
        self.endpoints_of = endpoints_of
        self.notifier = notifier
        self.log = log
        self.interval_s = interval_s
        self.requested = requested if requested is not None else threading.Event()
        self._signature: Signature | None = signature
        self._retry = False

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.requested.wait(self.interval_s)
            if stop.is_set():
                return
            signature = self._current_signature()
            if signature != self._signature or self.requested.is_set() or self._retry:
                self.requested.clear()
                self._signature = signature
                self._retry = not self._reload_guarded()

    def _current_signature(self) -> Signature | None:
        """None while the files cannot be looked at: the load then says why."""
        try:
            return config_signature(self.path)
        except OSError:
            return None

    def _reload_guarded(self) -> bool:
        """False when the reload failed on something else than the config: tried again."""
        try:
            self.reload()
        except Exception as exc:
            self.log.exception("config_reload_failed", config=str(self.path), error=str(exc))
            return False
        return True

    def reload(self) -> bool:
        """Load the config and switch to its webhooks; on any config error keep those in force.
        Logs endpoint ids only: URLs of chat webhooks carry their token."""
        try:
            loaded = self.load()
        except ConfigError as exc:
            self.log.error("config_reload_failed", config=str(self.path), error=str(exc))
            return False
        changes = self.notifier.replace_endpoints(self.endpoints_of(loaded))
        if changes.added or changes.removed or changes.changed:
            self.log.info(
                "webhooks_reloaded",
                config=str(self.path),
                webhooks=len(loaded.webhooks),
                added=changes.added,
                removed=changes.removed,
                changed=changes.changed,
            )
        return True
