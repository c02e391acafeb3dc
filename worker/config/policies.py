"""Settings -> the policy objects that several roles and the API share (fetch limits, the
delivery policy). What only one role uses stays beside that role (worker/roles/)."""

from __future__ import annotations

from worker.alerts.breaker import BreakerPolicy
from worker.alerts.delivery import DeliveryPolicy
from worker.config.models import Settings
from worker.fetching import FetchLimits


def fetch_limits(settings: Settings) -> FetchLimits:
    f = settings.fetch
    return FetchLimits(
        timeout_s=f.timeout,
        connect_timeout_s=f.connect_timeout,
        max_bytes=f.max_bytes,
        max_redirects=f.max_redirects,
        allow_private_addresses=f.allow_private_addresses,
        user_agent=f.user_agent,
    )


def delivery_policy(settings: Settings) -> DeliveryPolicy:
    d = settings.delivery
    breaker = BreakerPolicy(d.breaker_threshold, d.breaker_cooldown, d.breaker_max_cooldown)
    return DeliveryPolicy(
        tuple(d.retry_schedule),
        d.timeout,
        d.jitter,
        d.concurrency,
        breaker,
        max_retry_after_s=d.max_retry_after,
    )
