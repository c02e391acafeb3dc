"""The notifier role: take alerts off the alerts stream and deliver them, signed, with retries.

Life cycle: `NotifierRole.build(rt)` turns the webhook settings into endpoints and a delivery
policy and joins the alerts stream's group; `run(stop)` runs intake (alerts off the stream) and
dispatch (due deliveries out) side by side, so a burst of alerts never waits for a sending loop,
nor sending for the stream; `run_once()` delivers everything due, waiting for retries due soon.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from worker.alerts.delivery import Endpoint, Notifier
from worker.alerts.endpoints import endpoints_applier
from worker.alerts.index import AlertIndex
from worker.alerts.schedule import split_digest
from worker.config import Settings
from worker.config.policies import delivery_policy
from worker.observability.resilience import keep_running
from worker.queue.keys import ALERTS_GROUP
from worker.queue.streams import StreamConsumer
from worker.roles.runtime import Runtime

# Within `run --once`, retries due this soon are waited for; later ones stay for the next run.
ONCE_RETRY_HORIZON_S = 30.0
_DISPATCH_IDLE_S = 0.2  # how often due retries and digests are looked for when all is quiet
_INTAKE_BLOCK_MS = 500
_INDEX_TRIM_EVERY_S = 60.0  # alerts past the index's retention or bound are dropped


def endpoints(settings: Settings) -> dict[str, Endpoint]:
    return {
        w.id: Endpoint(
            w.id,
            w.url,
            w.secret.get_secret_value() if w.secret else None,
            w.format,
            *split_digest(w.digest),
        )
        for w in settings.webhooks
    }


def take_alerts(
    notifier: Notifier, consumer: StreamConsumer, index: AlertIndex, block_ms: int | None
) -> int:
    """Take the next alerts off the stream into delivery, and into the alert index."""
    entries = consumer.read(64, block_ms)
    if entries:
        index.ingest(entries)  # idempotent: a batch taken again after a crash changes nothing
    for entry, exc in notifier.take_batch(entries, consumer.group):
        # A malformed alert must not stop the ones behind it: counted, then dead-lettered.
        notifier.log.error(
            "alert_intake_failed", entry=entry[0], error=f"{type(exc).__name__}: {exc}"
        )
        consumer.fail(entry, f"{type(exc).__name__}: {exc}")
    return len(entries)


@dataclass
class NotifierRole:
    rt: Runtime
    notifier: Notifier
    consumer: StreamConsumer
    index: AlertIndex

    @classmethod
    def build(cls, rt: Runtime) -> NotifierRole:
        policy = delivery_policy(rt.settings)
        notifier = Notifier(rt.client, rt.keys, endpoints(rt.settings), policy, rt.log)
        rt.closing(notifier)
        keys = rt.keys

        def release(dead: list[str]) -> None:
            """A dead notifier's requests in flight are sent again now, not after their lease."""
            for name in dead:
                if released := notifier.store.release_leases(name, time.time()):
                    rt.log.warning("deliveries_released", instance=name, count=released)

        consumer = rt.consumer(
            "notifier", keys.alerts_stream, ALERTS_GROUP, keys.deliveries_dead, release
        )
        # A restarted instance (same name) first takes back what it was sending when it died.
        release([consumer.consumer])
        notifier.store.track_leases(consumer.consumer)
        web = rt.settings.web
        index = AlertIndex(rt.client, keys, web.alert_retention, web.alert_max)
        return cls(rt, notifier, consumer, index)

    def run(self, stop: threading.Event) -> None:
        notifier = self.notifier
        apply = endpoints_applier(notifier, self.rt.log, self.rt.config_path)
        self.rt.follow_config(endpoints, apply, stop)  # webhooks added, removed or changed
        intake = threading.Thread(
            target=self._take_alerts_until, args=(stop,), name="alert-intake", daemon=True
        )
        intake.start()
        self.rt.log.info("notifier_started", endpoints=len(self.rt.settings.webhooks))

        trimmed_at = [0.0]

        def dispatch_step() -> None:
            notifier.flush_digests()
            notifier.dispatch()
            notifier.wait_for_work(_DISPATCH_IDLE_S)
            if time.monotonic() - trimmed_at[0] >= _INDEX_TRIM_EVERY_S:
                trimmed_at[0] = time.monotonic()
                self.index.trim()

        keep_running(dispatch_step, stop, self.rt.log, "dispatch")
        intake.join()
        notifier.wait_idle(self.rt.settings.delivery.timeout + 5)  # let requests in flight end
        self.rt.log.info("notifier_stopped")

    def _take_alerts_until(self, stop: threading.Event) -> None:
        def step() -> None:
            try:
                if take_alerts(self.notifier, self.consumer, self.index, block_ms=_INTAKE_BLOCK_MS):
                    self.notifier.wake()
            except Exception:
                self.consumer.retry_own_soon()  # alerts read but not taken, again soon
                raise

        keep_running(step, stop, self.notifier.log, "alert-intake")

    def run_once(self) -> dict[str, int]:
        """Deliver everything due, waiting for retries due within the horizon; later ones
        persist for the next run. `deliveries_pending` counts every delivery still waiting
        (for a later retry), `deliveries_dead_now` those dead-lettered by this run."""
        started_ms = int(self.rt.client.time()[0]) * 1000  # Redis's clock numbers the entries
        notifier, consumer = self.notifier, self.consumer
        consumer.rewind_pending()
        while take_alerts(notifier, consumer, self.index, block_ms=None):
            pass
        self.index.trim()
        notifier.flush_digests(force=True)  # the run ends now: do not hold digests back
        while True:
            notifier.dispatch()
            notifier.wait_idle()
            due = notifier.next_due_at()
            if due is None or due - time.time() > ONCE_RETRY_HORIZON_S:
                break
            time.sleep(max(0.0, min(due - time.time(), ONCE_RETRY_HORIZON_S)))
        client, keys = self.rt.client, self.rt.keys
        return {
            "deliveries_pending": int(client.hlen(keys.deliveries)),
            "deliveries_dead": int(client.xlen(keys.deliveries_dead)),
            "deliveries_dead_now": self._dead_letters_since(started_ms),
        }

    def _dead_letters_since(self, since_ms: int) -> int:
        """Dead-lettered deliveries whose stream entry is at or after `since_ms` (Redis time)."""
        entries: Any = self.rt.client.xrange(self.rt.keys.deliveries_dead, min=f"{since_ms}-0")
        return len(entries)


def deliveries_unsettled(summary: Mapping[str, int]) -> bool:
    """What `run --once` exits 3 for: deliveries left waiting, or dead-lettered in this run."""
    return summary["deliveries_pending"] > 0 or summary["deliveries_dead_now"] > 0
