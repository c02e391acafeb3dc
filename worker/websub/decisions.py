"""What to do with a subscription, and whether a callback request is genuine. Pure: no I/O.

A subscription record is the Redis hash of store.py, as strings. Its `state` is one of:

- discovered: a hub is known, no subscription asked for yet (or it lapsed)
- subscribing: a subscribe request was (or is being) sent; waiting for the hub's verification
  (a renewal is one too: pushes keep being taken meanwhile)
- active: verified; renewed before `expires_at`
- denied: the hub said no (hub.mode=denied); asked again after a backoff
- failed: the request failed (network, refused address, HTTP error, no verification in time);
  asked again after a backoff
- unsubscribing: the feed left the config or lost its hub; waiting for the hub to verify
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Mapping
from dataclasses import dataclass

from worker.queue.connection import hash_float

DISCOVERED = "discovered"
SUBSCRIBING = "subscribing"
ACTIVE = "active"
DENIED = "denied"
FAILED = "failed"
UNSUBSCRIBING = "unsubscribing"

VERIFY_TIMEOUT_S = 900.0  # a hub that accepted a request but never verified it: try again
RENEW_AT_FRACTION = 0.9  # renew when a tenth of the granted lease is left
MIN_LEASE_S = 1.0
MIN_RENEW_S = 60.0  # a hub granting a lease of 0 or 1 s is not asked again every second
JITTER = 0.1
# A hub found for a feed this process does not (yet) count as configured is kept this long: the
# scheduler and the websub process follow config edits each on its own, so the scheduler may
# poll a newly added feed, and record its hub, before this process has read the edit.
CONFIG_LAG_S = 30.0

SIGNATURE_ALGORITHMS = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}

Record = Mapping[str, str]


@dataclass(frozen=True)
class Action:
    kind: str  # "subscribe", "unsubscribe", "forget", "give_up" (no verification), "wait"
    until: float = 0.0  # for "wait": when to look again


@dataclass(frozen=True)
class RetryPolicy:
    first_s: float = 60.0
    max_s: float = 6 * 3600.0


def number(record: Record, name: str) -> float:
    return hash_float(record, name) or 0.0


def hub_changed(record: Record) -> bool:
    """The feed now names another hub or topic than the one subscribed to."""
    return (record.get("hub"), record.get("topic")) != (
        record.get("sub_hub"),
        record.get("sub_topic"),
    )


def decide(record: Record, configured: bool, now: float) -> Action:
    """The next step for one subscription; `configured`: its feed is still in the config."""
    state = record.get("state") or DISCOVERED
    due = number(record, "next_at")
    if not (configured and record.get("hub")):
        return _wind_down(record, state, now, due)
    if state == ACTIVE:
        renew_at = number(record, "renew_at")
        if hub_changed(record) or now >= renew_at:
            return Action("subscribe")
        return Action("wait", renew_at)
    if state in (SUBSCRIBING, DENIED, FAILED) and now < due:
        return Action("wait", due)
    if state == SUBSCRIBING:
        return Action("give_up")
    return Action("subscribe")  # discovered, denied or failed and due, or wanted back


def _wind_down(record: Record, state: str, now: float, due: float) -> Action:
    """The feed left the config, or no longer names a hub. A failed renewal leaves the lease
    granted before it running at the hub: that is unsubscribed too (a denial ended it)."""
    lease_left = state == FAILED and number(record, "expires_at") > now
    found_until = number(record, "found_at") + CONFIG_LAG_S
    if state == DISCOVERED and record.get("hub") and now < found_until:
        return Action("wait", found_until)  # maybe a feed added to the config a moment ago
    if (state in (ACTIVE, SUBSCRIBING) or lease_left) and record.get("token"):
        return Action("unsubscribe")
    if state == UNSUBSCRIBING and now < due:
        return Action("wait", due)
    return Action("forget")


def retry_delay(attempts: int, policy: RetryPolicy, rand: float) -> float:
    """Exponential backoff from `first_s`, capped at `max_s`, ± JITTER (`rand` in [0, 1))."""
    doublings = min(max(attempts - 1, 0), 40)  # 2**40 minutes is past any cap
    base = min(policy.max_s, policy.first_s * float(1 << doublings))
    return base * (1 + JITTER * (2 * rand - 1))


def granted_lease(value: str | None, asked_s: float) -> float:
    """The lease the hub granted (hub.lease_seconds), or the one asked for if it gave none."""
    try:
        lease = float(value) if value else asked_s
    except ValueError:
        lease = asked_s
    return max(lease, MIN_LEASE_S) if math.isfinite(lease) else asked_s


def renew_time(verified_at: float, lease_s: float) -> float:
    return verified_at + max(lease_s * RENEW_AT_FRACTION, MIN_RENEW_S)


def verification(record: Record, mode: str, topic: str) -> str | None:
    """What a verification GET confirms ("subscribed", "unsubscribed", "denied"), or None when
    it matches no request of ours (answered 404: the hub must not believe we asked)."""
    if not record or not topic or topic != record.get("sub_topic"):
        return None
    state = record.get("state")
    if mode == "subscribe" and state in (SUBSCRIBING, ACTIVE):
        return "subscribed"
    if mode == "unsubscribe" and state == UNSUBSCRIBING:
        return "unsubscribed"
    if mode == "denied" and state in (SUBSCRIBING, ACTIVE, FAILED):
        return "denied"
    return None


def signature_valid(header: str | None, secret: str, body: bytes) -> bool:
    """`X-Hub-Signature: <method>=<hex HMAC of the body with the secret>`, compared in constant
    time; an unknown method or a missing header is invalid."""
    if not header or "=" not in header:
        return False
    method, _, given = header.strip().partition("=")
    digest = SIGNATURE_ALGORITHMS.get(method.strip().lower())
    if digest is None:
        return False
    expected = hmac.new(secret.encode("utf-8"), body, digest).hexdigest()
    # bytes: compare_digest refuses str with non-ASCII characters, and a header may hold any
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode("utf-8", "replace"))
