"""One documented error tree.

Foreign errors (httpx, redis, yaml, pydantic) are translated at the module that touches them, so
callers only ever see these classes.
"""

from __future__ import annotations


class WirewatchError(Exception):
    """Base of every error wirewatch raises on purpose."""


class ConfigError(WirewatchError):
    """The configuration is invalid. `problems` lists every problem found, each naming its place."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class QueryError(WirewatchError):
    """A watchlist query does not parse. `position` is the 0-based character offset of the fault."""

    def __init__(self, message: str, query: str, position: int) -> None:
        self.message = message
        self.query = query
        self.position = position
        super().__init__(self.render())

    def render(self) -> str:
        """The message, the query and a caret under the faulty character."""
        caret = " " * self.position + "^"
        return f"{self.message} at position {self.position}\n  {self.query}\n  {caret}"


class FetchError(WirewatchError):
    """An HTTP fetch failed. `reason` is a short machine-readable word for logs and feed state."""

    reason = "fetch_failed"


class BlockedAddressError(FetchError):
    """The URL resolves to an address that untrusted URLs may not reach (loopback, private, …)."""

    reason = "blocked_address"


class TooLargeError(FetchError):
    """The response body exceeded the configured size cap (counted after decompression)."""

    reason = "too_large"


class FetchTimeoutError(FetchError):
    """Connecting took too long, or the whole download overran its deadline."""

    reason = "timeout"


class HttpStatusError(FetchError):
    """The server answered with a status that carries no usable body."""

    reason = "http_status"

    def __init__(self, status: int, message: str = "") -> None:
        self.status = status
        super().__init__(message or f"HTTP {status}")


class ExtractionError(WirewatchError):
    """An article page could not be turned into text."""


class QueueError(WirewatchError):
    """Redis could not be reached or refused an operation."""


class InstanceNameTaken(WirewatchError):
    """Another live process holds this instance name's lease: two processes under one name
    would read each other's pending entries as their own."""
