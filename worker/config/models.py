"""The validated settings: frozen pydantic models that reject unknown keys.

Durations are stored as float seconds and sizes as int bytes; each field's validator turns the
human-written form into that. Checks that span several entries (duplicate ids, unknown webhook
ids) live in `crosscheck.py`, so they run even when some entries fail here.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from worker.alerts.apprise_channel import check_apprise_url, is_apprise_url
from worker.alerts.schedule import DailyTime, parse_digest
from worker.config.archive import ArchiveConfig, SpikeConfig
from worker.config.redisurl import check_redis_url
from worker.dedupe.settings import DedupeConfig
from worker.errors import QueryError
from worker.rules import parse_query
from worker.units import parse_duration, parse_size

_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*")
_PREFIX = re.compile(r"[A-Za-z0-9_-]+")
_CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")


def _cluster_url(url: str) -> str:
    """A cluster URL names one or more nodes as host:port, comma-separated."""
    nodes = url.partition("://")[2].split("/", 1)[0].rsplit("@", 1)[-1]
    for node in nodes.split(","):
        host, sep, port = node.rpartition(":")
        if not host or not sep or not port.isdigit():
            raise ValueError(
                f"a cluster URL names its nodes as host:port[,host:port...], not {node!r}"
            )
    return url


_SECRET_PREFIX = "whsec_"  # noqa: S105 - the format marker, not a secret
_SECRET_BYTES = (24, 64)
MIN_FEED_INTERVAL = 30.0
_MIN_TOKEN_CHARS = 16


def _at_least(minimum: float, written: str) -> AfterValidator:
    def check(value: float) -> float:
        if value < minimum:
            raise ValueError(f"must be at least {written}")
        return value

    return AfterValidator(check)


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid id; use lowercase letters, digits, '_' and '-',"
            " starting with a letter or digit"
        )
    return value


def http_url(value: str) -> str:
    """`value` stripped, if it is an absolute http(s) URL with a host."""
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https"):
        shown = parts.scheme or "none"
        raise ValueError(f"URL must start with http:// or https:// (scheme is {shown})")
    if not parts.hostname:
        raise ValueError("URL has no host")
    return value


def endpoint_url(value: str) -> str:
    """An http(s) webhook URL, or a URL for one of Apprise's services that it can use."""
    return check_apprise_url(value) if is_apprise_url(value) else http_url(value)


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


Duration = Annotated[float, BeforeValidator(parse_duration)]
ByteSize = Annotated[int, BeforeValidator(parse_size)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Slug = Annotated[str, AfterValidator(_slug)]
HttpUrl = Annotated[str, AfterValidator(http_url)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedConfig(_Section):
    """One feed to poll."""

    url: HttpUrl
    name: str = ""  # filled from the URL's host when not given
    interval: Annotated[Duration, _at_least(MIN_FEED_INTERVAL, "30s")] = 900.0
    tags: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("name") and isinstance(data.get("url"), str):
            return {**data, "name": urlsplit(data["url"].strip()).hostname or ""}
        return data


class WatchlistConfig(_Section):
    """A named query whose matches become alerts, sent to the `notify` webhooks."""

    id: Slug
    name: str = ""  # the id when not given
    query: str
    notify: list[str] = Field(default_factory=list)
    spike: SpikeConfig | None = None  # opt-in spike alerts (worker/archive/spikes.py)

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("name") and isinstance(data.get("id"), str):
            return {**data, "name": data["id"]}
        return data

    @field_validator("query")
    @classmethod
    def _parses(cls, query: str) -> str:
        return check_query(query)


def check_query(query: str) -> str:
    """`query` if it parses; the message keeps the rule engine's position and caret lines."""
    try:
        parse_query(query)
    except QueryError as exc:
        raise ValueError(str(exc)) from None
    return query


class WebhookConfig(_Section):
    """An endpoint that receives alerts, signed with `secret` (Standard Webhooks).

    `format: slack` or `format: discord` posts a chat message to an incoming-webhook URL instead
    (those URLs carry their own token, so no secret is needed). A `url` in one of Apprise's
    schemes (mailto://, ntfy://, tgram://, ...) sends a readable message through that service.
    `digest: 10m` (or `daily 07:00 Europe/Berlin`) batches the alerts and sends one request per
    period carrying all of them.
    """

    id: Slug
    url: Annotated[str, AfterValidator(endpoint_url)]
    secret: SecretStr | None = None
    format: Annotated[Literal["standard", "slack", "discord"], BeforeValidator(_lower)] = "standard"
    digest: Annotated[float | DailyTime, BeforeValidator(parse_digest)] | None = None

    @field_validator("secret")
    @classmethod
    def _standard_form(cls, secret: SecretStr | None) -> SecretStr | None:
        # Messages here must never quote the value: it is a secret.
        if secret is None:
            return None
        text = secret.get_secret_value()
        if not text.startswith(_SECRET_PREFIX):
            raise ValueError("secret must look like whsec_<base64> (Standard Webhooks form)")
        try:
            raw = base64.b64decode(text[len(_SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("secret after whsec_ is not valid base64") from None
        low, high = _SECRET_BYTES
        if not low <= len(raw) <= high:
            raise ValueError(f"secret decodes to {len(raw)} bytes; it must be {low} to {high}")
        return secret

    @model_validator(mode="after")
    def _standard_needs_secret(self) -> WebhookConfig:
        if is_apprise_url(self.url):
            if "format" in self.model_fields_set or self.secret is not None:
                raise ValueError("format and secret apply to http(s) webhooks, not Apprise URLs")
            return self
        if self.format == "standard" and self.secret is None:
            raise ValueError("a standard webhook needs a secret (whsec_<base64>)")
        return self


class DeliveryConfig(_Section):
    """How alerts are delivered to webhooks: retry delays after each failed attempt."""

    retry_schedule: list[Duration] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
    )
    timeout: Duration = 10.0
    jitter: Fraction = 0.1
    # Requests in flight per endpoint: a slow endpoint uses its own slots, never another's.
    concurrency: Annotated[int, Field(ge=1, le=64)] = 4
    # After this many consecutive failures an endpoint's circuit opens: no requests until a probe
    # after the cooldown (which doubles while probes fail, up to breaker_max_cooldown).
    breaker_threshold: Annotated[int, Field(ge=1)] = 5
    breaker_cooldown: Duration = 30.0
    breaker_max_cooldown: Duration = 1800.0
    # The longest wait a 429/503 Retry-After may impose; None: the schedule's largest step.
    max_retry_after: Duration | None = None


class FetchConfig(_Section):
    """Limits for fetching feeds and article pages."""

    timeout: Duration = 30.0  # deadline for the whole download, not per read
    connect_timeout: Duration = 10.0
    max_bytes: ByteSize = 10_000_000
    max_redirects: Annotated[int, Field(ge=0)] = 5
    allow_private_addresses: bool = False
    user_agent: str = "wirewatch/0.1 (+https://github.com/wirewatch/wirewatch)"


def _duration_or_zero(value: Any) -> float:
    """A duration where 0 means "none" (e.g. no spacing between requests to a host)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
        return 0.0
    if isinstance(value, str) and value.strip().rstrip("msh").strip() in ("0", "0.0"):
        return 0.0
    return parse_duration(value)


DurationOrZero = Annotated[float, BeforeValidator(_duration_or_zero)]


class HostPolitenessConfig(_Section):
    """Limits for one host (and its subdomains) that replace the scheduler's defaults."""

    max_concurrent: Annotated[int, Field(ge=1, le=256)] = 2
    min_spacing: DurationOrZero = 1.0


class SchedulerConfig(_Section):
    """Polling: adaptive intervals between bounds, jitter, capped backoff for failing feeds
    (never disabled), per-host politeness shared by every scheduler, feed health."""

    jitter: Fraction = 0.1
    max_backoff: Duration = 6 * 3600.0
    seen_retention: Duration = 90 * 86400.0
    concurrency: Annotated[int, Field(ge=1, le=256)] = 16  # polls in flight in one process
    adaptive: bool = True  # follow each feed's publishing rhythm between the bounds below
    min_interval: Annotated[Duration, _at_least(1.0, "1s")] = 300.0
    max_interval: Duration = 4 * 3600.0
    host_max_concurrent: Annotated[int, Field(ge=1, le=256)] = 2
    host_min_spacing: DurationOrZero = 1.0
    hosts: dict[str, HostPolitenessConfig] = Field(default_factory=dict)
    stale_factor: Annotated[float, Field(ge=1.0)] = 10.0  # silent this many usual gaps: stale
    stale_minimum: Duration = 2 * 86400.0
    unhealthy_after: Duration | None = None  # failing this long: a feed.unhealthy webhook
    unhealthy_notify: list[str] = Field(default_factory=list)
    # New entries queued per poll of a feed, newest first; the rest come on later polls.
    max_new_items: Annotated[int, Field(ge=1)] = 200
    # Largest queued item (its JSON); longer text is trimmed and the trim recorded on the item.
    max_item_bytes: Annotated[ByteSize, Field(ge=10_000)] = 1_000_000

    @model_validator(mode="after")
    def _bounds_in_order(self) -> SchedulerConfig:
        if self.min_interval > self.max_interval:
            raise ValueError("min_interval must not be longer than max_interval")
        return self


class WorkerConfig(_Section):
    """Article workers."""

    concurrency: Annotated[int, Field(ge=1, le=64)] = 4
    batch: Annotated[int, Field(ge=1)] = 16
    # An item under a worker that is alive but stuck is taken over after this idle time
    # (XAUTOCLAIM); a dead worker's items are taken over as soon as its lease runs out.
    claim_idle: Duration = 300.0
    # Every role process holds a lease this long, renewed every fifth of it: an instance not
    # heard of for this long is dead and its pending work is taken over (workers, notifiers).
    instance_lease: Annotated[Duration, Field(ge=1.0)] = 8.0
    # An item failing this many times goes to the dead-letter stream; the others flow on.
    max_attempts: Annotated[int, Field(ge=1)] = 5


class QueueConfig(_Section):
    """The Redis queue between the roles."""

    # Shards of the items stream (with its seen sets, failure counts and dead letters), each
    # under its own hash tag: on a Redis Cluster they spread over the nodes. 1: one stream.
    partitions: Annotated[int, Field(ge=1, le=1024)] = 1


def listen_address(value: str) -> tuple[str, int]:
    """`host:port` (`[::]:8470` for IPv6) -> (host, port); ValueError when it is not one."""
    host, sep, port = value.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{value!r} is not host:port (e.g. 0.0.0.0:8470 or [::]:8470)")
    return host, int(port)


def _listen(value: str) -> str:
    listen_address(value)
    return value.strip()


def _callback_base(value: str) -> str:
    parts = urlsplit(value)
    if parts.query or parts.fragment:
        raise ValueError("public_url must have no query or fragment (a token is appended)")
    return value


class WebSubConfig(_Section):
    """WebSub (formerly PubSubHubbub): where a feed names a hub, subscribe and take its pushes.
    Polling goes on as before (the fallback). Off by default: the hub must reach `public_url`,
    which the `websub` process answers on `listen` (usually behind a reverse proxy)."""

    enabled: bool = False
    listen: Annotated[str, AfterValidator(_listen)] = "0.0.0.0:8470"
    public_url: Annotated[HttpUrl, AfterValidator(_callback_base)] | None = None
    lease: Annotated[Duration, _at_least(60.0, "1m")] = 10 * 86400.0  # asked for; the hub decides
    max_body: ByteSize = 10_000_000  # a larger push is refused (413); polling still gets it
    timeout: Duration = 10.0  # deadline on one request to a hub
    retry_min: Duration = 60.0  # first wait after a failed or denied subscription, doubling
    retry_max: Duration = 6 * 3600.0

    @model_validator(mode="after")
    def _public_url_when_enabled(self) -> WebSubConfig:
        if self.enabled and self.public_url is None:
            raise ValueError("public_url is required when websub is enabled")
        if self.retry_min > self.retry_max:
            raise ValueError("retry_min must not be longer than retry_max")
        return self


class WebTokenConfig(_Section):
    """A bearer token for the HTTP API and what it may do (read < write < admin)."""

    id: Slug
    token: SecretStr
    scope: Annotated[Literal["read", "write", "admin"], BeforeValidator(_lower)] = "read"

    @field_validator("token")
    @classmethod
    def _long_enough(cls, token: SecretStr) -> SecretStr:
        # Never quote the value: it is a secret.
        if len(token.get_secret_value()) < _MIN_TOKEN_CHARS:
            raise ValueError(f"token must be at least {_MIN_TOKEN_CHARS} characters")
        return token


class WebConfig(_Section):
    """The `web` role: HTTP API, alert feeds, health and metrics (worker/web)."""

    enabled: bool = False  # `wirewatch run` starts the role when set
    listen: Annotated[str, AfterValidator(_listen)] = "127.0.0.1:8080"
    tokens: list[WebTokenConfig] = Field(default_factory=list)
    alert_retention: Annotated[Duration, _at_least(60.0, "1m")] = 30 * 86400.0
    alert_max: Annotated[int, Field(ge=100)] = 1_000_000  # the index's bound on Redis memory
    ready_max_lag: Duration = 300.0  # /readyz: oldest unread item or alert younger than this
    live_timeout: Annotated[Duration, _at_least(3.0, "3s")] = 15.0  # a silent instance is dead
    auth_failures_per_minute: Annotated[int, Field(ge=1)] = 10  # per client address, then 429
    # Processes serving the port (worker/roles/web.py): more cores for the API; each counts
    # failed authentications on its own.
    workers: Annotated[int, Field(ge=1, le=64)] = 1
    # GET /healthz, GET /api/v1/alerts and POST /api/v1/match answered without FastAPI's
    # per-request machinery when the request is the plain valid case (worker/web/fastlane.py);
    # off serves every request through FastAPI, the same answers at about twice the CPU.
    fast_paths: bool = True

    @field_validator("tokens")
    @classmethod
    def _unique_ids(cls, tokens: list[WebTokenConfig]) -> list[WebTokenConfig]:
        ids = [t.id for t in tokens]
        if len(set(ids)) != len(ids):
            raise ValueError("token ids must be unique")
        return tokens


class LogConfig(_Section):
    """Log output."""

    level: Annotated[Literal["debug", "info", "warning", "error"], BeforeValidator(_lower)] = "info"
    format: Annotated[Literal["auto", "json", "console"], BeforeValidator(_lower)] = "auto"


class Settings(_Section):
    """Everything the service reads from its config."""

    redis_url: str | None = None  # None: run an embedded Redis under data_dir
    redis_prefix: str = "ww"
    data_dir: Path = Field(default=Path("data"), validate_default=True)
    feeds: list[FeedConfig] = Field(default_factory=list)
    watchlists: list[WatchlistConfig] = Field(default_factory=list)
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    fetch: FetchConfig = Field(default_factory=FetchConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    worker: WorkerConfig = Field(default_factory=WorkerConfig)
    queue: QueueConfig = Field(default_factory=QueueConfig)
    dedupe: DedupeConfig = Field(default_factory=DedupeConfig)
    websub: WebSubConfig = Field(default_factory=WebSubConfig)
    archive: ArchiveConfig = Field(default_factory=ArchiveConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    log: LogConfig = Field(default_factory=LogConfig)

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, url: str | None) -> str | None:
        if url is None or not url.strip():
            return None
        url = url.strip()
        if url.partition("://")[0].lower() in _CLUSTER_SCHEMES:
            return _cluster_url(url)
        return check_redis_url(url)

    @field_validator("redis_prefix")
    @classmethod
    def _prefix(cls, prefix: str) -> str:
        if not _PREFIX.fullmatch(prefix):
            raise ValueError("use only letters, digits, '_' and '-'")
        return prefix

    @field_validator("data_dir")
    @classmethod
    def _resolve(cls, path: Path, info: ValidationInfo) -> Path:
        # Relative to the config's directory, so the service behaves the same from any cwd.
        base: Path | None = (info.context or {}).get("base_dir")
        path = path.expanduser()
        return path if base is None or path.is_absolute() else Path(os.path.normpath(base / path))

    def summary(self) -> str:
        """A one-line count of what is configured, for startup logs and `wirewatch check`."""
        counts = [
            (len(self.feeds), "feed"),
            (len(self.watchlists), "watchlist"),
            (len(self.webhooks), "webhook"),
        ]
        return ", ".join(f"{n} {word}{'' if n == 1 else 's'}" for n, word in counts)
