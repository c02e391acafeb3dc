"""The notifier role: take alerts off the alerts stream and deliver them, signed, with retries.

Life cycle: `NotifierRole.build(rt)` turns the webhook settings into endpoints and a delivery
policy and joins the alerts stream's group; `run(stop)` runs intake (alerts off the stream) and
dispatch (due deliveries out) side by side, so a burst of alerts never waits for a sending loop,
nor sending for the stream; `run_once()` delivers everything due, waiting for retries due soon.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from worker.alerts.breaker import BreakerPolicy
from worker.alerts.delivery import DeliveryPolicy, Endpoint, Notifier
from worker.config import Settings
from worker.observability.resilience import keep_running
from worker.queue.keys import ALERTS_GROUP
from worker.queue.streams import StreamConsumer
from worker.roles.runtime import Runtime

# Within `run --once`, retries due this soon are waited for; later ones stay for the next run.
ONCE_RETRY_HORIZON_S = 30.0
_DISPATCH_IDLE_S = 0.2  # how often due retries and digests are looked for when all is quiet
_INTAKE_BLOCK_MS = 500


def endpoints(settings: Settings) -> dict[str, Endpoint]:
    return {
        w.id: Endpoint(
            w.id,
            w.url,
            w.secret.get_secret_value() if w.secret else None,
            w.format,
            w.digest,
        )
        for w in settings.webhooks
    }


def delivery_policy(settings: Settings) -> DeliveryPolicy:
    d = settings.delivery
    breaker = BreakerPolicy(d.breaker_threshold, d.breaker_cooldown, d.breaker_max_cooldown)
    return DeliveryPolicy(tuple(d.retry_schedule), d.timeout, d.jitter, d.concurrency, breaker)


def take_alerts(notifier: Notifier, consumer: StreamConsumer, block_ms: int | None) -> int:
    entries = consumer.read(64, block_ms)
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
        return cls(rt, notifier, consumer)

    def run(self, stop: threading.Event) -> None:
        notifier = self.notifier
        intake = threading.Thread(
            target=self._take_alerts_until, args=(stop,), name="alert-intake", daemon=True
        )
        intake.start()
        self.rt.log.info("notifier_started", endpoints=len(self.rt.settings.webhooks))

        def dispatch_step() -> None:
            notifier.flush_digests()
            notifier.dispatch()
            notifier.wait_for_work(_DISPATCH_IDLE_S)

        keep_running(dispatch_step, stop, self.rt.log, "dispatch")
        intake.join()
        notifier.wait_idle(self.rt.settings.delivery.timeout + 5)  # let requests in flight end
        self.rt.log.info("notifier_stopped")

    def _take_alerts_until(self, stop: threading.Event) -> None:
        def step() -> None:
            try:
                if take_alerts(self.notifier, self.consumer, block_ms=_INTAKE_BLOCK_MS):
                    self.notifier.wake()
            except Exception:
                self.consumer.retry_own_soon()  # alerts read but not taken, again soon
                raise

        keep_running(step, stop, self.notifier.log, "alert-intake")

    def run_once(self) -> dict[str, int]:
        """Deliver everything due, waiting for retries due within the horizon; later ones
        persist for the next run."""
        notifier, consumer = self.notifier, self.consumer
        consumer.rewind_pending()
        while take_alerts(notifier, consumer, block_ms=None):
            pass
        notifier.flush_digests(force=True)  # the run ends now: do not hold digests back
        while True:
            notifier.dispatch()
            notifier.wait_idle()
            due = notifier.next_due_at()
            if due is None or due - time.time() > ONCE_RETRY_HORIZON_S:
                break
            time.sleep(max(0.0, min(due - time.time(), ONCE_RETRY_HORIZON_S)))
        keys = self.rt.keys
        return {
            "deliveries_pending": int(self.rt.client.hlen(keys.deliveries)),
            "deliveries_dead": int(self.rt.client.xlen(keys.deliveries_dead)),
        }
