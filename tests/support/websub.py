"""WebSub test kit: a local hub, a test clock and a world of real components wired together.

The hub here is a LocalServer route that does what a WebSub hub does: it takes the subscribe
request, verifies it with a GET to the callback (before answering, the hardest order for the
subscriber), and pushes signed content. Time is a test clock handed to every component, so
renewals and retries are reached by moving it, never by sleeping.
"""

from __future__ import annotations

import hmac
import json
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import httpx
import redis

from tests.support.feeds import Feed
from tests.support.httpserver import LocalServer, Request, Response
from worker.fetching import Fetcher, FetchLimits
from worker.observability.logging import get_logger
from worker.polling.poller import FeedPoller, PollPolicy
from worker.queue.keys import Keys
from worker.websub.callbacks import Callbacks
from worker.websub.decisions import (
    ACTIVE,
    RetryPolicy,
)
from worker.websub.discovery import HubRecorder
from worker.websub.hubclient import HubClient
from worker.websub.listener import WebSubListener
from worker.websub.manager import SubscriptionManager, WebSubPolicy
from worker.websub.store import WebSubStore

START = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def atom(hub: str, entries: range, self_url: str = "") -> bytes:
    links = f'<link rel="hub" href="{hub}"/>' if hub else ""
    links += f'<link rel="self" href="{self_url}"/>' if self_url else ""
    items = "".join(
        f"<entry><id>urn:e{i}</id><title>t{i}</title><link href='http://example.invalid/{i}'/>"
        "<updated>2026-11-28T12:00:00Z</updated></entry>"
        for i in entries
    )
    return (
        f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>F</title>'
        f"{links}{items}</feed>"
    ).encode()


def sign(body: bytes, secret: str, algorithm: str = "sha256") -> str:
    return f"{algorithm}={hmac.new(secret.encode(), body, algorithm).hexdigest()}"


class Hub:
    """A WebSub hub on a LocalServer route: verifies each request before answering it."""

    def __init__(self, server: LocalServer, path: str = "/hub") -> None:
        self.url = server.route(path, self)
        self.requests: list[dict[str, str]] = []
        self.verifications: list[tuple[int, str, str]] = []  # (status, body, challenge sent)
        self.status = 202
        self.behaviour = "verify"  # or "deny", "silent" (accepts, never verifies), or "echo"
        self.lease = 3600
        self.http = httpx.Client(trust_env=False, timeout=10)

    def __call__(self, request: Request) -> Response:
        form = dict(parse_qsl(request.body.decode()))
        self.requests.append(form)
        if self.behaviour == "echo":  # an error page quoting the request, as some frameworks do
            return Response(400, b"bad request: " + request.body)
        if self.status >= 300:
            return Response(self.status, b"hub trouble")
        if self.behaviour == "verify":
            self.verify(form)
        elif self.behaviour == "deny":
            params = {"hub.mode": "denied", "hub.topic": form["hub.topic"], "hub.reason": "no"}
            self.http.get(form["hub.callback"], params=params)
        return Response(self.status)

    def verify(self, form: dict[str, str], **overrides: str) -> httpx.Response:
        challenge = secrets.token_hex(8)
        params = {"hub.mode": form["hub.mode"], "hub.topic": form["hub.topic"]}
        params |= {"hub.challenge": challenge, "hub.lease_seconds": str(self.lease)}
        params |= overrides
        reply = self.http.get(form["hub.callback"], params=params)
        self.verifications.append((reply.status_code, reply.text, challenge))
        return reply

    def push(self, body: bytes, signature: str | None = None, **headers: str) -> httpx.Response:
        """Content distribution to the last subscriber, signed with its secret by default."""
        form = self.subscribes()[-1]
        sent: dict[str, Any] = {"Content-Type": "application/atom+xml", **headers}
        # latin-1: a header may carry any byte, and the listener must not choke on one
        sent["X-Hub-Signature"] = (signature or sign(body, form["hub.secret"])).encode("latin-1")
        if signature == "":
            del sent["X-Hub-Signature"]
        return self.http.post(form["hub.callback"], content=body, headers=sent)

    def subscribes(self) -> list[dict[str, str]]:
        return [f for f in self.requests if f.get("hub.mode") == "subscribe"]


@dataclass
class World:
    client: redis.Redis
    keys: Keys
    clock: Clock
    site: LocalServer
    hub: Hub
    feed: Feed
    poller: FeedPoller
    store: WebSubStore
    listener: WebSubListener
    manager: SubscriptionManager
    hubs: HubClient

    def queued(self) -> list[str]:
        entries: Any = self.client.xrange(self.keys.items_stream)
        return [json.loads(fields["item"])["entry_id"] for _, fields in entries]

    def record(self) -> dict[str, str]:
        return self.store.read(self.feed.url)

    def serve_feed(self, entries: range, hub: str | None = None) -> None:
        self.site.route(
            "/feed.xml", Response(200, atom(self.hub.url if hub is None else hub, entries))
        )

    def manager_for(self, feeds: list[Feed], hubs: HubClient | None = None) -> SubscriptionManager:
        policy = self.manager.policy
        return SubscriptionManager(
            self.store, hubs or self.hubs, policy, feeds, get_logger(), self.clock, rand=lambda: 0.5
        )


@contextmanager
def built_world(client: redis.Redis, keys: Keys) -> Iterator[World]:
    clock = Clock()
    log = get_logger()
    with (
        LocalServer() as site,
        LocalServer() as hub_server,
        Fetcher(FetchLimits(timeout_s=5, allow_private_addresses=True)) as fetcher,
    ):
        hub = Hub(hub_server)
        feed = Feed(site.url("/feed.xml"), name="feed")
        policy = PollPolicy(jitter=0.0, max_backoff_s=3600.0, seen_retention_s=86400.0)
        poller = FeedPoller(client, keys, fetcher, policy, log, clock, rand=lambda: 0.5)
        store = WebSubStore(client, keys)
        poller.on_parsed = HubRecorder(store, log, clock).record
        retry = RetryPolicy(60.0, 3600.0)
        callbacks = Callbacks(
            store, poller.intake, [feed], log, clock, lease_s=86400.0, retry=retry, rand=lambda: 0.5
        )
        listener = WebSubListener(("127.0.0.1", 0), callbacks, log, max_body=100_000)
        listener.start()
        public_url = f"http://127.0.0.1:{listener.port}/websub/"
        hubs = HubClient(timeout_s=5, allow_private_addresses=True, user_agent="test")
        websub_policy = WebSubPolicy(public_url, lease_s=86400.0, retry=retry)
        manager = SubscriptionManager(
            store, hubs, websub_policy, [feed], log, clock, rand=lambda: 0.5
        )
        world = World(client, keys, clock, site, hub, feed, poller, store, listener, manager, hubs)
        world.serve_feed(range(2))
        try:
            yield world
        finally:
            listener.stop()
            hubs.close()
            hub.http.close()


def subscribed(world: World) -> dict[str, str]:
    """Poll (discovers the hub), then let the manager subscribe; the hub verifies at once."""
    assert world.poller.poll(world.feed).status in ("new_items", "unchanged")
    world.manager.step()
    record = world.record()
    assert record["state"] == ACTIVE, record
    return record


def raw_exchange(port: int, head: bytes, *, keep_open: bool = False) -> bytes:
    """Send `head` on a fresh connection and read the status line of the answer ("" when the
    listener closed the connection without one)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(head)
            if not keep_open:
                sock.shutdown(socket.SHUT_WR)
            return sock.makefile("rb").readline()
        except OSError:  # reset: the listener closed with some of the request unread
            return b""


def rss(hub: str, entries: range) -> bytes:
    items = "".join(
        f"<item><guid isPermaLink='false'>post-{i}</guid><title>t{i}</title></item>"
        for i in entries
    )
    return (
        '<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">'
        f'<channel><title>R</title><atom:link rel="hub" href="{hub}"/>{items}</channel></rss>'
    ).encode()
