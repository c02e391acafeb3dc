"""Every Redis key wirewatch uses, in one place.

Keys are grouped under hash tags so that a stream and the helper keys its Lua scripts touch share
one Redis Cluster slot: `{<prefix>:items}` for the items stream, the seen-entry index and the
exact-dedupe keys; `{<prefix>:alerts}` for the alerts stream, the alert ids, pending deliveries and
the dead-letter stream; `{<prefix>:feeds}` for per-feed state and leases; `{<prefix>:hosts}` for
per-host politeness (requests in flight, next allowed start); `{<prefix>:stories}` for the
near-duplicate story index (the one Lua script run per article touches only these);
`{<prefix>:websub}` for WebSub subscriptions (hub, topic, callback token, secret, lease);
`{<prefix>:archive}` for the stream of processed articles the archiver stores.
With `queue.partitions` N > 1 the items stream, its dead letters, its failure counts and the
per-feed seen sets are split into N shards, shard k under `{<prefix>:items:k}` (shard 0 keeps the
unpartitioned names, so N = 1 is the single stream of before and growing N moves nothing); a
feed's entries all go to one shard (`shard_of`). The exact-dedupe keys stay under
`{<prefix>:items}`: one script claims a URL, text and title key together, across feeds.
Each role's instance leases (heartbeats) sit beside the stream it consumes (worker: items,
notifier: alerts, archiver: archive), so taking over a dead instance's entries is one script in
one slot; the other roles' leases are under `{<prefix>:control}`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

ITEMS_GROUP = "workers"
ALERTS_GROUP = "notifiers"
ARCHIVE_GROUP = "archivers"
# Every role whose instances hold heartbeat leases (`wirewatch status` lists them in this order).
ROLES_WITH_INSTANCES = ("scheduler", "worker", "notifier", "archiver", "websub", "web")


def short_hash(text: str) -> str:
    """A stable 16-hex-digit digest for a key component (URLs and ids can be long or odd)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def shard_of(feed_url: str, partitions: int) -> int:
    """The items shard of a feed: a stable hash of its URL (the same in every process and
    version), so a feed's entries and its seen set share one slot."""
    return int(short_hash(feed_url), 16) % partitions if partitions > 1 else 0


@dataclass(frozen=True)
class Keys:
    prefix: str = "ww"

    # -- items: scheduler -> workers -------------------------------------------------------
    @property
    def _items(self) -> str:
        return f"{{{self.prefix}:items}}"

    @property
    def items_stream(self) -> str:
        return f"{self._items}:stream"

    def items_tag(self, shard: int) -> str:
        """The hash tag of items shard `shard`; shard 0 is the unpartitioned `{<prefix>:items}`."""
        return self._items if shard == 0 else f"{{{self.prefix}:items:{shard}}}"

    def items_stream_of(self, shard: int) -> str:
        return f"{self.items_tag(shard)}:stream"

    def items_dead_of(self, shard: int) -> str:
        return f"{self.items_tag(shard)}:dead"

    def seen_entries_of(self, shard: int) -> str:
        """The index of earlier versions, per shard (only shard 0's ever held entries)."""
        return f"{self.items_tag(shard)}:seen"

    def feed_seen_in(self, shard: int, feed_url: str) -> str:
        """`feed_seen` of a feed whose entries go to `shard`."""
        return f"{self.items_tag(shard)}:seen:{short_hash(feed_url)}"

    @property
    def items_partitions(self) -> str:
        """Set of every `queue.partitions` count above 1 used so far (written only once one
        was): readers read every shard any of them made, so a change of count loses nothing."""
        return f"{{{self.prefix}:control}}:items:partitions"

    @property
    def seen_entries(self) -> str:
        """Sorted set of `<feed hash>:<entry hash>`, scored by when the entry was last seen: the
        one seen-entry index of earlier versions, now only read (an entry found there moves to
        its feed's set) and pruned by age, so it drains."""
        return f"{self._items}:seen"

    def feed_seen(self, feed_url: str) -> str:
        """Sorted set of one feed's entry hashes, scored by when each was last seen in it;
        bounded by what the feed can still show (worker/polling/seen.py)."""
        return f"{self._items}:seen:{short_hash(feed_url)}"

    def dedupe_url(self, url_hash: str) -> str:
        return f"{self._items}:dedupe:url:{url_hash}"

    def dedupe_text(self, text_hash: str) -> str:
        return f"{self._items}:dedupe:text:{text_hash}"

    def dedupe_title(self, title_hash: str) -> str:
        return f"{self._items}:dedupe:title:{title_hash}"

    @property
    def items_dead(self) -> str:
        return f"{self._items}:dead"

    # -- alerts: workers -> notifier -------------------------------------------------------
    @property
    def _alerts(self) -> str:
        return f"{{{self.prefix}:alerts}}"

    @property
    def alerts_stream(self) -> str:
        return f"{self._alerts}:stream"

    def alert_marker(self, alert_id: str) -> str:
        """Exists once an alert was emitted: re-processing an item never emits it twice."""
        return f"{self._alerts}:emitted:{alert_id}"

    def story_watchlists(self, story_id: str) -> str:
        """Hash: watchlist id -> article count of the story when that watchlist last heard."""
        return f"{self._alerts}:story:{story_id}"

    @property
    def endpoints_known(self) -> str:
        """Set of every endpoint id that ever had a delivery (finds those removed from config)."""
        return f"{self._alerts}:endpoints"

    def endpoint_due(self, endpoint_id: str) -> str:
        """Sorted set of an endpoint's delivery ids scored by when each is next due."""
        return f"{self._alerts}:due:{endpoint_id}"

    def endpoint_state(self, endpoint_id: str) -> str:
        """Hash: circuit breaker, disabled flag and last outcome of one endpoint."""
        return f"{self._alerts}:endpoint:{endpoint_id}"

    def endpoint_probe(self, endpoint_id: str) -> str:
        """Held by the one notifier sending a half-open circuit's probe request."""
        return f"{self._alerts}:probe:{endpoint_id}"

    def digest_buffer(self, endpoint_id: str) -> str:
        """List of alert envelopes waiting for a digest endpoint's next send."""
        return f"{self._alerts}:digest:{endpoint_id}"

    @property
    def deliveries(self) -> str:
        """Hash: delivery id -> JSON record (alert, endpoint, attempt count, last error)."""
        return f"{self._alerts}:deliveries"

    @property
    def deliveries_dead(self) -> str:
        return f"{self._alerts}:dead"

    # -- archive: workers -> archiver (worker/archive) -------------------------------------
    @property
    def archive_stream(self) -> str:
        """Processed articles (capped, see `archive.stream_max`) for the archiver to store."""
        return f"{{{self.prefix}:archive}}:stream"

    @property
    def archive_dead(self) -> str:
        return f"{{{self.prefix}:archive}}:dead"

    # -- stories: the near-duplicate index (worker/dedupe/stories.py) -----------------------
    # Short names on purpose: a million articles make hundreds of thousands of these keys.
    @property
    def _stories(self) -> str:
        return f"{{{self.prefix}:stories}}"

    @property
    def story_sequence(self) -> str:
        """Counter of story numbers (never expires, so a story id is never reused)."""
        return f"{self._stories}:seq"

    def story_bins(self, slot: int, bucket: int) -> str:
        """Hash: MinHash bin entry -> story number, for the articles of one time slot (written by
        the previous design only; read during an upgrade)."""
        return f"{self.story_bins_of_slot(slot)}{bucket}"

    def story_bins_of_slot(self, slot: int) -> str:
        """`<this><bucket>` is `story_bins(slot, bucket)` (one prefix, 128 names built fast)."""
        return f"{self._stories}:m:{slot}:"

    @property
    def story_index_prefix(self) -> str:
        """`<this><kind>:<slot>:<bucket>`: every hash of the story index; the assign script builds
        the names (kinds: worker/dedupe/stories.py)."""
        return f"{self._stories}:"

    def story_bands(self, slot: int, bucket: int) -> str:
        """Hash: signature band entry -> story number (one time slot)."""
        return f"{self._stories}:b:{slot}:{bucket}"

    def story_representatives(self, slot: int, bucket: int) -> str:
        """Hash: story number -> its representative signature (two halves)."""
        return f"{self._stories}:r:{slot}:{bucket}"

    @property
    def story_design_since(self) -> str:
        """When the representative-confirmed index first ran (ms): bins of the previous design
        are read for one window after it (worker/dedupe/stories.py)."""
        return f"{self._stories}:v2"

    def story_members(self, slot: int, bucket: int) -> str:
        """Hash: article key digest -> story number (a retried article finds its story)."""
        return f"{self._stories}:a:{slot}:{bucket}"

    @property
    def story_counts_prefix(self) -> str:
        """`<this><slot>:<bucket>` is a hash: story number -> its article count."""
        return f"{self._stories}:s:"

    def story_counts(self, slot: int, bucket: int) -> str:
        return f"{self.story_counts_prefix}{slot}:{bucket}"

    # -- instances: heartbeat leases of role processes (worker/queue/liveness.py) -----------
    def _instances_tag(self, role: str) -> str:
        archive = f"{{{self.prefix}:archive}}"
        return {"worker": self._items, "notifier": self._alerts, "archiver": archive}.get(
            role, f"{{{self.prefix}:control}}"
        )

    def instance_leases(self, role: str) -> str:
        """Sorted set: instance name of each `role` process, scored by its lease expiry (ms)."""
        return f"{self._instances_tag(role)}:leases:{role}"

    def instance_records(self, role: str) -> str:
        """Hash: instance name -> JSON (host, pid, process start, lease, last beat)."""
        return f"{self._instances_tag(role)}:instances:{role}"

    def delivery_leases(self, owner: str) -> str:
        """Set: ids of the deliveries notifier `owner` has leased and is sending (released at
        once when that notifier is found dead, instead of after the request lease)."""
        return f"{self._alerts}:leased:{owner}"

    # -- control ---------------------------------------------------------------------------
    @property
    def watchlists(self) -> str:
        """Hash: the published watchlist set (version, digest, payload) every worker follows."""
        return f"{{{self.prefix}:control}}:watchlists"

    # -- feeds -----------------------------------------------------------------------------
    def feed_state(self, feed_url: str) -> str:
        return f"{{{self.prefix}:feeds}}:state:{short_hash(feed_url)}"

    def feed_lease(self, feed_url: str) -> str:
        return f"{{{self.prefix}:feeds}}:lease:{short_hash(feed_url)}"

    # -- hosts: politeness shared by every scheduler and worker (worker/polling/politeness.py) --
    def host_slots(self, host: str) -> str:
        """Sorted set: token of each request in flight to `host`, scored by its lease expiry."""
        return f"{{{self.prefix}:hosts}}:slots:{host}"

    def host_next(self, host: str) -> str:
        """Unix ms before which no request may start to `host` (minimum spacing)."""
        return f"{{{self.prefix}:hosts}}:next:{host}"

    # -- websub: hub subscriptions (worker/websub) -------------------------------------------
    @property
    def _websub(self) -> str:
        return f"{{{self.prefix}:websub}}"

    def websub_subscription(self, feed_url: str) -> str:
        """Hash: a feed's discovered hub and topic, and its subscription (token, secret, state,
        lease, retries). The secret is in here: never log this hash."""
        return f"{self._websub}:sub:{short_hash(feed_url)}"

    @property
    def websub_due(self) -> str:
        """Sorted set: feed URL of every subscription record, scored by when it next needs
        attention (subscribe, renew, retry, give up waiting for verification)."""
        return f"{self._websub}:due"

    @property
    def websub_tokens(self) -> str:
        """Hash: callback token -> feed URL (a callback request names only its token)."""
        return f"{self._websub}:tokens"

    def websub_lock(self, feed_url: str) -> str:
        """Held by the one websub process acting on a subscription (subscribing, renewing)."""
        return f"{self._websub}:lock:{short_hash(feed_url)}"

    # -- control: API-made watchlists, liveness (worker/pipeline/apiwatchlists.py, metrics) ---
    @property
    def api_watchlists(self) -> str:
        """Hash: watchlist id -> JSON of a watchlist made through the HTTP API (its version)."""
        return f"{{{self.prefix}:control}}:wl:api"

    def watchlist_versions(self, watchlist_id: str) -> str:
        """List: every version of an API-made watchlist, oldest first (JSON each)."""
        return f"{{{self.prefix}:control}}:wl:versions:{watchlist_id}"

    @property
    def feed_keys(self) -> str:
        """Hash: watchlist id -> the key that opens its Atom and JSON alert feeds."""
        return f"{{{self.prefix}:control}}:wl:feedkeys"

    # -- metrics: counters every role adds to, rendered by the web role (docs/metrics.md) ---
    @property
    def metrics(self) -> str:
        """Hash: `<metric name>\\t<labels JSON>` -> value (counters and histogram series)."""
        return f"{{{self.prefix}:metrics}}:counters"

    # -- web: the alert index the web role keeps (worker/web/alert_index.py) -----------------
    @property
    def _web(self) -> str:
        return f"{{{self.prefix}:web}}"

    @property
    def web_alerts(self) -> str:
        """Hash: alert id -> JSON of the alert as indexed (with its order member)."""
        return f"{self._web}:alerts"

    @property
    def web_alert_order(self) -> str:
        """Sorted set (all scores 0, ordered by member): `<stream id> <watchlist> <alert id>`."""
        return f"{self._web}:order"

    def web_watchlist_order(self, watchlist_id: str) -> str:
        """The same members as `web_alert_order`, one watchlist's only."""
        return f"{self._web}:order:{watchlist_id}"

    def web_story(self, story_id: str) -> str:
        """Hash: article URL -> JSON (title, feed, when) of each article of a story that alerted
        (written by workers, worker/pipeline/storylog.py, and by the web role's index)."""
        return f"{self._web}:story:{story_id}"

    def web_session(self, session_id_digest: str) -> str:
        """Hash: a dashboard sign-in (token id, scope, CSRF token), expiring with the session;
        named by the SHA-256 of the cookie's value, so Redis never holds a usable cookie."""
        return f"{self._web}:session:{session_id_digest}"

    def delivery_history(self, msg_id: str) -> str:
        """Hash: endpoint id -> JSON of the attempts made to deliver one alert there."""
        return f"{self._alerts}:history:{msg_id}"
