"""Safe HTTP fetching shared by the feed poller and the article fetcher."""

from worker.fetching.fetcher import (
    Fetcher,
    FetchLimits,
    FetchResult,
    HttpStatusFetchError,
)
from worker.fetching.guard import check_url, is_public_address

__all__ = [
    "FetchLimits",
    "FetchResult",
    "Fetcher",
    "HttpStatusFetchError",
    "check_url",
    "is_public_address",
]
