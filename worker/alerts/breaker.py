"""A circuit breaker per endpoint, as pure state transitions.

After `threshold` consecutive failures the circuit opens for a cooldown; once it has passed, one
probe request is let through (half-open). A successful probe closes the circuit; a failed one
reopens it for twice the cooldown, up to a cap. Deliveries wait meanwhile, losing no attempts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Circuit(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    threshold: int
    cooldown_s: float
    max_cooldown_s: float


@dataclass(frozen=True)
class Breaker:
    failures: int = 0
    open_until: float = 0.0
    cooldown_s: float = 0.0

    def circuit(self, now: float, policy: BreakerPolicy) -> Circuit:
        if self.failures < policy.threshold:
            return Circuit.CLOSED
        return Circuit.OPEN if now < self.open_until else Circuit.HALF_OPEN

    def after_success(self) -> Breaker:
        return Breaker()

    def after_failure(self, now: float, policy: BreakerPolicy) -> Breaker:
        failures = self.failures + 1
        if failures < policy.threshold:
            return Breaker(failures)
        cooldown = policy.cooldown_s if not self.cooldown_s else 2 * self.cooldown_s
        cooldown = min(cooldown, policy.max_cooldown_s)
        return Breaker(failures, now + cooldown, cooldown)
