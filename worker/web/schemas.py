"""The API's request and response bodies (they make the OpenAPI schema at /openapi.json)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
WatchlistId = Annotated[str, Field(pattern=SLUG_PATTERN, min_length=1, max_length=64)]
MAX_QUERY = 10_000
MAX_TEXT = 2_000_000


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WatchlistFields(_Body):
    name: Annotated[str, Field(max_length=200)] = ""
    query: Annotated[str, Field(min_length=1, max_length=MAX_QUERY)]
    notify: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=50)] = []


class WatchlistCreate(WatchlistFields):
    id: WatchlistId


class Watchlist(BaseModel):
    id: str
    name: str
    query: str
    notify: list[str]
    source: Literal["config", "api"]
    version: int | None = None
    created_at: float | None = None
    updated_at: float | None = None


class WatchlistVersion(BaseModel):
    version: int
    name: str
    query: str
    notify: list[str]
    updated_at: float
    deleted: bool


class FeedLinks(BaseModel):
    atom: str
    json_feed: str


class MatchRequest(_Body):
    query: Annotated[str, Field(min_length=1, max_length=MAX_QUERY)] | None = None
    watchlist: WatchlistId | None = None
    text: Annotated[str, Field(max_length=MAX_TEXT)] | None = None
    html: Annotated[str, Field(max_length=MAX_TEXT)] | None = None
    url: Annotated[str, Field(max_length=2000)] | None = None


class BacktestRequest(_Body):
    query: Annotated[str, Field(min_length=1, max_length=MAX_QUERY)] | None = None
    watchlist: WatchlistId | None = None
    since: Annotated[str, Field(min_length=1, max_length=32)] = "7d"
    against: Annotated[str, Field(min_length=1, max_length=MAX_QUERY)] | None = None
    samples: Annotated[int, Field(ge=0, le=50)] = 5


class Hit(BaseModel):
    field: str
    text: str
    snippet: str


class MatchResult(BaseModel):
    matched: bool
    rule: str
    hits: list[Hit]


class AlertPage(BaseModel):
    alerts: list[dict[str, Any]]
    next_cursor: str | None


class Delivery(BaseModel):
    endpoint: str
    state: str  # queued, retrying, delivered, dead, gone, digest
    attempts: int
    results: list[str]
    last_error: str | None = None
    next_try_at: float | None = None


class AlertDetail(BaseModel):
    alert: dict[str, Any]
    deliveries: list[Delivery]


class Story(BaseModel):
    id: str
    articles: list[dict[str, Any]]
    sources: list[str]


class FeedHealth(BaseModel):
    url: str
    name: str
    status: str
    last_success: float | None
    last_new_item: float | None
    next_poll: float | None
    consecutive_errors: int
    last_error: str | None


class EndpointHealth(BaseModel):
    endpoint: str
    configured: bool
    health: str  # closed, open, half_open or disabled (the circuit, or 410 Gone)
    disabled_reason: str | None
    queued: int
    digest_buffered: int
    consecutive_failures: int
    last_success_at: float | None
    last_error: str | None


class DeadLetter(BaseModel):
    id: str
    kind: str
    failed_at: float
    reason: str
    summary: str


class ReplayRequest(_Body):
    ids: Annotated[list[Annotated[str, Field(max_length=200)]], Field(max_length=10_000)] = []
    all: bool = False


class ReplayResult(BaseModel):
    replayed: list[str]
    not_found: list[str]


class Ready(BaseModel):
    ready: bool
    reasons: list[str]
    live: dict[str, int]
