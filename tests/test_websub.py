"""WebSub against a real Redis, a real listener and a real local hub.

The hub here is a LocalServer route that does what a WebSub hub does: it takes the subscribe
request, verifies it with a GET to the callback (before answering, the hardest order for the
subscriber), and pushes signed content. Time is a test clock handed to every component, so
renewals and retries are reached by moving it, never by sleeping.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import secrets
import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import redis

from tests.support.cli import run_cli, start_cli, write_config
from tests.support.feeds import Feed
from tests.support.httpserver import LocalServer, Request, Response
from tests.support.roles import StderrTail, free_port, stop, wait_until
from worker.config import load_config
from worker.errors import ConfigError
from worker.fetching import Fetcher, FetchLimits
from worker.observability.logging import get_logger
from worker.polling.feeds import parse_feed
from worker.polling.poller import FeedPoller, PollPolicy
from worker.queue.embedded import EmbeddedRedis
from worker.queue.keys import Keys
from worker.websub.callbacks import Callbacks, token_of
from worker.websub.decisions import (
    ACTIVE,
    DENIED,
    FAILED,
    SUBSCRIBING,
    UNSUBSCRIBING,
    Action,
    RetryPolicy,
    decide,
    granted_lease,
    retry_delay,
    signature_valid,
)
from worker.websub.discovery import HubRecorder, discover, header_links
from worker.websub.hubclient import HubClient, hide
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


@pytest.fixture
def world(client: redis.Redis, keys: Keys) -> Iterator[World]:
    with built_world(client, keys) as world:
        yield world


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
            store, poller, [feed], log, clock, lease_s=86400.0, retry=retry, rand=lambda: 0.5
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


# -- the whole round: discover, subscribe, verify, push ------------------------------------------


def test_subscribe_verify_and_push_queue_each_new_entry_once(world: World) -> None:
    assert world.poller.poll(world.feed).new_items == 2
    assert world.record()["hub"] == world.hub.url
    assert world.manager.step() == 1

    form = world.hub.subscribes()[0]
    assert form["hub.topic"] == world.feed.url  # no self link: the feed URL is the topic
    assert form["hub.callback"].startswith(world.manager.policy.public_url)
    assert form["hub.lease_seconds"] == "86400"
    assert len(form["hub.secret"]) >= 32
    status, body, challenge = world.hub.verifications[0]
    assert (status, body) == (200, challenge)
    record = world.record()
    assert record["state"] == ACTIVE
    assert float(record["expires_at"]) == START + world.hub.lease

    content = atom(world.hub.url, range(4))  # e0, e1 already polled; e2, e3 new
    assert world.hub.push(content).status_code == 202
    assert world.queued() == ["urn:e0", "urn:e1", "urn:e2", "urn:e3"]
    assert world.hub.push(content).status_code == 202  # the hub retries: nothing new
    world.serve_feed(range(4))  # the next poll brings the same entries
    assert world.poller.poll(world.feed).new_items == 0
    assert world.queued() == ["urn:e0", "urn:e1", "urn:e2", "urn:e3"]
    state = world.client.hgetall(world.keys.feed_state(world.feed.url))
    assert float(state["last_new_item"]) == START


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha384", "sha512"])
def test_every_signature_algorithm_of_the_spec_is_accepted(world: World, algorithm: str) -> None:
    record = subscribed(world)
    body = atom(world.hub.url, range(3))
    assert world.hub.push(body, sign(body, record["secret"], algorithm)).status_code == 202
    assert world.queued()[-1] == "urn:e2"


@pytest.mark.parametrize("signature", ["", "sha256=00ff", "md5=abc", "garbage", "sha256=é"])
def test_bad_or_missing_signature_is_acknowledged_and_dropped(world: World, signature: str) -> None:
    subscribed(world)
    before = world.queued()
    reply = world.hub.push(atom(world.hub.url, range(5)), signature)
    assert reply.status_code == 202  # the spec: acknowledge, then ignore
    assert world.queued() == before


def test_signature_made_with_another_secret_is_dropped(world: World) -> None:
    subscribed(world)
    body = atom(world.hub.url, range(5))
    assert world.hub.push(body, sign(body, "not-the-secret")).status_code == 202
    assert world.queued() == ["urn:e0", "urn:e1"]


def test_push_of_junk_queues_nothing_and_the_next_push_works(world: World) -> None:
    subscribed(world)
    for junk in (b"\x00\xff junk", b"<html><body>hi</body></html>", b"{", b" "):
        assert world.hub.push(junk).status_code == 202
    assert world.hub.push(atom(world.hub.url, range(3))).status_code == 202
    assert world.queued() == ["urn:e0", "urn:e1", "urn:e2"]


def test_oversized_push_is_refused_before_it_is_read(world: World) -> None:
    subscribed(world)
    huge = atom(world.hub.url, range(3)) + b" " * 200_000
    assert world.hub.push(huge).status_code == 413
    assert world.queued() == ["urn:e0", "urn:e1"]


def test_push_without_content_length_is_refused(world: World) -> None:
    form = subscribed(world)
    token = form["token"]
    conn = http.client.HTTPConnection("127.0.0.1", world.listener.port, timeout=5)
    try:
        conn.putrequest("POST", f"/websub/{token}")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        conn.send(b"5\r\nhello\r\n0\r\n\r\n")
        assert conn.getresponse().status == 411
    finally:
        conn.close()
    assert world.queued() == ["urn:e0", "urn:e1"]


def test_push_body_shorter_than_announced_is_refused(world: World) -> None:
    token = subscribed(world)["token"]
    with socket.create_connection(("127.0.0.1", world.listener.port), timeout=5) as sock:
        head = f"POST /websub/{token} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
        sock.sendall(head.encode() + b"<feed>")
        sock.shutdown(socket.SHUT_WR)
        reply = sock.makefile("rb").readline()
    assert reply.startswith(b"HTTP/1.1 400")
    assert world.queued() == ["urn:e0", "urn:e1"]


# -- verification requests that are not ours ----------------------------------------------------


def test_verification_with_wrong_topic_token_or_mode_gets_404(world: World) -> None:
    record = subscribed(world)
    form = world.hub.subscribes()[0]
    assert world.hub.verify(form, **{"hub.topic": "http://other.example/feed"}).status_code == 404
    assert world.hub.verify(form, **{"hub.mode": "unsubscribe"}).status_code == 404
    assert world.hub.verify(form, **{"hub.challenge": ""}).status_code == 404
    forged = {**form, "hub.callback": form["hub.callback"][:-6] + "AAAAAA"}
    assert world.hub.verify(forged).status_code == 404
    junk = {**form, "hub.callback": world.manager.policy.public_url + "../x"}
    assert world.hub.verify(junk).status_code == 404
    assert world.record()["state"] == ACTIVE
    assert world.record()["expires_at"] == record["expires_at"]


def test_push_to_an_unknown_token_gets_404(world: World) -> None:
    subscribed(world)
    url = world.manager.policy.public_url + secrets.token_urlsafe(32)
    reply = world.hub.http.post(url, content=b"x", headers={"X-Hub-Signature": "sha1=00"})
    assert reply.status_code == 404


# -- hubs that refuse, and renewals ---------------------------------------------------------------


def test_hub_error_leaves_polling_working_and_is_retried_later(world: World) -> None:
    world.hub.status = 503
    assert world.poller.poll(world.feed).new_items == 2
    world.manager.step()
    record = world.record()
    assert record["state"] == FAILED
    assert "HTTP 503" in record["last_error"]
    assert float(record["next_at"]) == START + 60.0  # retry_min, jitter centred by rand=0.5

    world.serve_feed(range(3))
    world.clock.now += 30
    assert world.poller.poll(world.feed).new_items == 1  # polling carries on meanwhile
    world.manager.step()
    assert len(world.hub.requests) == 1  # not yet due

    world.clock.now = START + 61
    world.manager.step()
    assert world.record()["state"] == FAILED
    assert world.record()["attempts"] == "2"
    assert float(world.record()["next_at"]) == world.clock.now + 120.0  # doubled

    world.hub.status = 202
    world.clock.now += 121
    world.manager.step()
    assert world.record()["state"] == ACTIVE
    assert world.record()["attempts"] == "0"


def test_denied_subscription_is_retried_after_a_backoff(world: World) -> None:
    world.hub.behaviour = "deny"
    world.poller.poll(world.feed)
    world.manager.step()
    record = world.record()
    assert record["state"] == DENIED
    assert record["last_error"] == "denied by the hub: no"
    world.manager.step()
    assert len(world.hub.requests) == 1

    world.hub.behaviour = "verify"
    world.clock.now += 61
    world.manager.step()
    assert len(world.hub.requests) == 2
    assert world.record()["state"] == ACTIVE


def test_a_hub_that_never_verifies_is_asked_again(world: World) -> None:
    world.hub.behaviour = "silent"
    world.poller.poll(world.feed)
    world.manager.step()
    assert world.record()["state"] == SUBSCRIBING
    world.clock.now += world.manager.policy.verify_timeout_s + 1
    world.manager.step()  # gives up waiting
    assert world.record()["state"] == FAILED
    assert world.record()["last_error"] == "the hub never verified"
    world.hub.behaviour = "verify"
    world.clock.now += 61
    world.manager.step()
    assert world.record()["state"] == ACTIVE


def test_a_hub_that_verifies_after_answering_is_subscribed(world: World) -> None:
    world.hub.behaviour = "silent"  # answers 202 now, verifies later (most hubs queue it)
    world.poller.poll(world.feed)
    world.manager.step()
    assert world.record()["state"] == SUBSCRIBING
    world.clock.now += 5
    assert world.hub.verify(world.hub.subscribes()[0]).status_code == 200
    assert world.record()["state"] == ACTIVE
    assert float(world.record()["renew_at"]) == world.clock.now + 0.9 * world.hub.lease


def test_subscription_is_renewed_before_its_lease_ends(world: World) -> None:
    world.hub.lease = 1000
    first = subscribed(world)
    world.clock.now = START + 899
    world.manager.step()
    assert len(world.hub.subscribes()) == 1
    world.clock.now = START + 900  # a tenth of the lease left
    world.manager.step()
    assert len(world.hub.subscribes()) == 2
    again = world.hub.subscribes()[1]
    assert again["hub.callback"] == world.hub.subscribes()[0]["hub.callback"]  # same token
    record = world.record()
    assert record["state"] == ACTIVE
    assert float(record["expires_at"]) == START + 900 + 1000
    assert record["secret"] == first["secret"]
    assert world.hub.push(atom(world.hub.url, range(3))).status_code == 202
    assert world.queued()[-1] == "urn:e2"


def test_hub_at_a_private_address_is_refused(world: World) -> None:
    guarded = HubClient(timeout_s=5, allow_private_addresses=False, user_agent="test")
    try:
        manager = world.manager_for([world.feed], guarded)
        world.poller.poll(world.feed)
        manager.step()
    finally:
        guarded.close()
    record = world.record()
    assert record["state"] == FAILED
    assert record["last_error"].startswith("blocked_address")
    assert world.hub.requests == []
    assert world.queued() == ["urn:e0", "urn:e1"]


def test_feed_leaving_the_config_is_unsubscribed(world: World) -> None:
    record = subscribed(world)
    world.manager_for([]).step()
    last = world.hub.requests[-1]
    assert last["hub.mode"] == "unsubscribe"
    assert last["hub.callback"].endswith(record["token"])
    assert "hub.secret" not in last
    assert world.hub.verifications[-1][0] == 200
    assert world.record() == {}
    assert world.hub.push(atom(world.hub.url, range(4))).status_code == 404
    assert world.queued() == ["urn:e0", "urn:e1"]


def test_feed_moving_to_another_hub_is_subscribed_there(world: World) -> None:
    first = subscribed(world)
    with LocalServer() as other_server:
        other = Hub(other_server)
        try:
            world.serve_feed(range(2, 4), hub=other.url)
            world.poller.poll(world.feed)
            world.manager.step()
            assert other.verifications[0][0] == 200
            record = world.record()
            assert (record["state"], record["sub_hub"]) == (ACTIVE, other.url)
            assert record["token"] != first["token"]
            assert world.hub.push(atom(world.hub.url, range(9))).status_code == 404  # old token
        finally:
            other.http.close()


# -- discovery, and the pure decisions --------------------------------------------------------


def test_link_header_comes_before_the_feed_links() -> None:
    headers = {"link": '<https://hub.example/>; rel="hub", </self.xml>; rel=self'}
    links = [("hub", "https://other.example/hub")]
    assert discover("https://site.example/feed", headers, links) == (
        "https://hub.example/",
        "https://site.example/self.xml",
    )
    assert discover("https://site.example/feed", {}, links) == (
        "https://other.example/hub",
        "https://site.example/feed",
    )
    assert discover("https://s.example/f", {}, [("hub", "javascript:x")]) == ("", "")
    assert discover("https://s.example/f", {}, []) == ("", "")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('<https://h/>; rel="hub"', [("hub", "https://h/")]),
        ('<https://h/>; rel="self hub"', [("self", "https://h/"), ("hub", "https://h/")]),
        ('<a>; rel=hub, <b>; title="x"; REL=self', [("hub", "a"), ("self", "b")]),
        ('<a>; rel="alternate", <b>; rel=""', [("alternate", "a")]),
        ("<a>;rel=HUB,<b>;rel=self", [("hub", "a"), ("self", "b")]),
        ("garbage", []),
        ("", []),
    ],
)
def test_link_header_parsing(value: str, expected: list[tuple[str, str]]) -> None:
    assert header_links(value) == expected


def test_parsed_feeds_keep_hub_and_self_links() -> None:
    rss = (
        b'<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">'
        b'<channel><title>T</title><atom:link rel="hub" href="https://hub.example/"/>'
        b'<atom:link rel="self" href="https://s.example/rss"/><item><guid>a</guid></item>'
        b"</channel></rss>"
    )
    parsed = parse_feed(rss, url="https://s.example/rss", content_type="application/rss+xml")
    assert parsed.links == (("hub", "https://hub.example/"), ("self", "https://s.example/rss"))
    json_feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "J",
        "feed_url": "https://s.example/feed.json",
        "hubs": [{"type": "WebSub", "url": "https://hub.example/"}, "junk"],
        "items": [],
    }
    parsed = parse_feed(
        json.dumps(json_feed).encode(), url="https://s.example/f", content_type=None
    )
    assert parsed.links == (
        ("hub", "https://hub.example/"),
        ("self", "https://s.example/feed.json"),
    )


def test_self_link_is_the_topic(world: World) -> None:
    body = atom(world.hub.url, range(1), self_url="http://topic.example/canonical")
    world.site.route("/feed.xml", Response(200, body))
    world.poller.poll(world.feed)
    world.manager.step()
    assert world.hub.subscribes()[0]["hub.topic"] == "http://topic.example/canonical"
    assert world.record()["state"] == ACTIVE


def test_feed_that_drops_its_hub_is_unsubscribed(world: World) -> None:
    subscribed(world)
    world.serve_feed(range(3), hub="")
    world.poller.poll(world.feed)
    assert world.record()["hub"] == ""
    world.manager.step()
    assert world.hub.requests[-1]["hub.mode"] == "unsubscribe"
    assert world.record() == {}


def test_feeds_without_a_hub_cost_no_record(world: World) -> None:
    world.serve_feed(range(2), hub="")
    world.poller.poll(world.feed)
    assert world.record() == {}
    assert world.client.zcard(world.keys.websub_due) == 0


NOW = 1000.0


@pytest.mark.parametrize(
    ("record", "configured", "expected"),
    [
        ({"state": "discovered", "hub": "h", "topic": "t"}, True, Action("subscribe")),
        ({"state": "failed", "hub": "h", "next_at": "2000"}, True, Action("wait", 2000.0)),
        ({"state": "failed", "hub": "h", "next_at": "900"}, True, Action("subscribe")),
        ({"state": "denied", "hub": "h", "next_at": "900"}, True, Action("subscribe")),
        ({"state": "subscribing", "hub": "h", "next_at": "1500"}, True, Action("wait", 1500.0)),
        ({"state": "subscribing", "hub": "h", "next_at": "999"}, True, Action("give_up")),
        (
            {"state": "active", "hub": "h", "topic": "t", "sub_hub": "h", "sub_topic": "t",
             "renew_at": "1200"},
            True,
            Action("wait", 1200.0),
        ),
        (
            {"state": "active", "hub": "h2", "topic": "t", "sub_hub": "h", "sub_topic": "t",
             "renew_at": "1200"},
            True,
            Action("subscribe"),
        ),
        ({"state": "active", "hub": "h", "token": "x"}, False, Action("unsubscribe")),
        ({"state": "active", "hub": "", "token": "x"}, True, Action("unsubscribe")),
        ({"state": "unsubscribing", "hub": "h", "next_at": "1100"}, False, Action("wait", 1100.0)),
        ({"state": "unsubscribing", "hub": "h", "next_at": "900"}, False, Action("forget")),
        ({"state": "unsubscribing", "hub": "h", "next_at": "1100"}, True, Action("subscribe")),
        ({"state": "failed", "hub": "h"}, False, Action("forget")),
        ({"state": "failed", "hub": "h", "token": "x", "expires_at": "1001"}, False,
         Action("unsubscribe")),
        ({"state": "failed", "hub": "h", "token": "x", "expires_at": "999"}, False,
         Action("forget")),
    ],
)  # fmt: skip
def test_decide(record: dict[str, str], configured: bool, expected: Action) -> None:
    assert decide(record, configured, NOW) == expected


def test_retry_delay_doubles_to_its_cap_with_jitter() -> None:
    policy = RetryPolicy(60.0, 600.0)
    assert [retry_delay(n, policy, 0.5) for n in range(1, 6)] == [60, 120, 240, 480, 600]
    assert retry_delay(1, policy, 0.0) == pytest.approx(54.0)
    assert retry_delay(10_000, policy, 0.5) == 600.0


@pytest.mark.parametrize(
    ("given", "expected"),
    [("3600", 3600.0), (None, 99.0), ("", 99.0), ("x", 99.0), ("nan", 99.0), ("-5", 1.0)],
)
def test_granted_lease(given: str | None, expected: float) -> None:
    assert granted_lease(given, 99.0) == expected


def test_signature_check() -> None:
    body = b"payload"
    good = "sha512=" + hmac.new(b"s", body, hashlib.sha512).hexdigest()
    assert signature_valid(good, "s", body)
    assert signature_valid(good.upper().replace("SHA512", "sha512"), "s", body)
    assert not signature_valid(good, "other", body)
    assert not signature_valid(None, "s", body)
    assert not signature_valid("sha512", "s", body)
    assert not signature_valid("md5=" + hashlib.md5(body).hexdigest(), "s", body)


@pytest.mark.parametrize(
    ("path", "token"),
    [
        ("/websub/" + "a" * 43, "a" * 43),
        ("/" + "b" * 43 + "?hub.mode=x", "b" * 43),
        ("/websub/" + "c" * 43 + "/", "c" * 43),
        ("/websub/short", None),
        ("/websub/../etc/passwd", None),
        ("/", None),
    ],
)
def test_token_of(path: str, token: str | None) -> None:
    assert token_of(path) == token


# -- configuration -----------------------------------------------------------------------------


def test_websub_is_off_by_default(tmp_path: Path) -> None:
    settings = load_config(write_config(tmp_path, "p", ["https://a.example/rss"]), {})
    assert settings.websub.enabled is False
    assert settings.websub.listen == "0.0.0.0:8470"
    assert settings.websub.lease == 10 * 86400


def test_websub_settings_are_read(tmp_path: Path) -> None:
    section = {"enabled": True, "listen": "[::]:9000", "public_url": "https://h.example/ws",
               "lease": "2d", "max_body": "1MB", "retry_min": "30s", "retry_max": "1h"}  # fmt: skip
    settings = load_config(write_config(tmp_path, "p", [], websub=section), {})
    w = settings.websub
    assert (w.enabled, w.listen, w.public_url) == (True, "[::]:9000", "https://h.example/ws")
    assert (w.lease, w.max_body, w.retry_min, w.retry_max) == (172800.0, 1_000_000, 30.0, 3600.0)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"enabled": True}, "websub: public_url is required when websub is enabled"),
        ({"listen": "8470"}, "websub.listen: '8470' is not host:port"),
        ({"listen": "host:99999"}, "websub.listen: 'host:99999' is not host:port"),
        ({"lease": "30s"}, "websub.lease: must be at least 1m"),
        ({"public_url": "ftp://x/"}, "websub.public_url: URL must start with http"),
        ({"public_url": "https://x/cb?a=1"}, "websub.public_url: public_url must have no query"),
        ({"max_body": "0"}, "websub.max_body: size must be greater than zero"),
        ({"retry_min": "2h", "retry_max": "1h"}, "retry_min must not be longer than retry_max"),
        ({"leese": "1d"}, "websub.leese: unknown key; did you mean 'lease'?"),
    ],
)
def test_websub_config_errors_name_file_line_and_field(
    tmp_path: Path, section: dict[str, Any], message: str
) -> None:
    path = write_config(tmp_path, "p", [], websub=section)
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}:")
    assert message in problem


def test_run_supervises_websub_only_when_enabled(tmp_path: Path) -> None:
    from worker.cli import supervised_roles

    off = load_config(write_config(tmp_path, "p", []), {})
    assert "websub" not in supervised_roles(off)
    section = {"enabled": True, "public_url": "https://h.example/ws"}
    on = load_config(write_config(tmp_path, "p", [], websub=section), {})
    assert supervised_roles(on)[-1] == "websub"


# -- the real processes ---------------------------------------------------------------------------


def test_scheduler_and_websub_processes_subscribe_and_take_a_push(
    tmp_path: Path, redis_url: str, client: redis.Redis, keys: Keys, prefix: str
) -> None:
    port = free_port()
    public_url = f"http://127.0.0.1:{port}/websub"
    with LocalServer() as site, LocalServer() as hub_server:
        hub = Hub(hub_server)
        site.route("/feed.xml", Response(200, atom(hub.url, range(2))))
        section = {"enabled": True, "listen": f"127.0.0.1:{port}", "public_url": public_url}
        config = write_config(tmp_path, prefix, [site.url("/feed.xml")], websub=section)
        processes = [
            start_cli(role, "--config", str(config), redis_url=redis_url)
            for role in ("scheduler", "websub")
        ]
        logs = ""
        try:
            assert wait_until(lambda: bool(hub.verifications), timeout=60)
            assert hub.verifications[0][0] == 200
            assert wait_until(lambda: client.xlen(keys.items_stream) == 2, timeout=30)
            assert hub.push(atom(hub.url, range(3))).status_code == 202
            assert client.xlen(keys.items_stream) == 3
            feeds = run_cli("feeds", "--config", str(config), redis_url=redis_url)
            assert f"feed0: active via {hub.url}" in feeds.stdout
            assert hub.subscribes()[0]["hub.secret"] not in feeds.stdout
        finally:
            logs = "".join(stop(process) for process in processes)
            hub.http.close()
    assert "websub_subscribed" in logs
    assert hub.subscribes()[0]["hub.secret"] not in logs


def test_websub_process_idles_when_disabled_and_stops_cleanly(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    config = write_config(tmp_path, prefix, [])
    process = start_cli("websub", "--config", str(config), redis_url=redis_url)
    assert process.stderr is not None
    seen = ""
    while "websub_disabled" not in seen:  # logged once its signal handlers are in place
        assert select.select([process.stderr], [], [], 60)[0], "no log line within 60s"
        line = process.stderr.readline()
        assert line, "exited early"
        seen += line
    stop(process)
    assert process.returncode == 0


# -- the listener against hostile clients ---------------------------------------------------------


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


def test_content_length_of_non_ascii_digits_is_refused_not_a_server_error(world: World) -> None:
    token = subscribed(world)["token"]
    # "\xb2" (superscript two) is a digit to str.isdigit() but not to int()
    head = f"POST /websub/{token} HTTP/1.1\r\nHost: x\r\nContent-Length: \xb2\r\n\r\n"
    assert raw_exchange(world.listener.port, head.encode("latin-1")).startswith(b"HTTP/1.1 411")


def test_push_with_two_content_lengths_or_any_transfer_encoding_is_refused(world: World) -> None:
    """What a proxy in front and the listener make of such a request may differ (smuggling)."""
    token = subscribed(world)["token"]
    body = atom(world.hub.url, range(3))
    signature = sign(body, world.record()["secret"])
    framings = [
        f"Content-Length: 5\r\nContent-Length: {len(body)}",
        f"Transfer-Encoding: gzip\r\nContent-Length: {len(body)}",
    ]
    for framing in framings:
        head = (
            f"POST /websub/{token} HTTP/1.1\r\nHost: x\r\nX-Hub-Signature: {signature}\r\n"
            f"Content-Type: application/atom+xml\r\n{framing}\r\n\r\n"
        )
        status = raw_exchange(world.listener.port, head.encode() + body)
        assert status.startswith((b"HTTP/1.1 400", b"HTTP/1.1 411")), (framing, status)
    assert world.queued() == ["urn:e0", "urn:e1"]


def test_push_to_an_unknown_token_is_answered_before_its_body_is_read(world: World) -> None:
    subscribed(world)
    token = secrets.token_urlsafe(32)
    head = f"POST /websub/{token} HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"
    # the body never comes: a listener that waits for it answers 400 once its socket times out
    assert raw_exchange(world.listener.port, head.encode(), keep_open=True).startswith(
        b"HTTP/1.1 404"
    )


def test_request_head_larger_than_the_cap_is_refused(world: World) -> None:
    token = subscribed(world)["token"]
    padding = "".join(f"X-Pad-{i}: {'p' * 1000}\r\n" for i in range(90))  # each line is legal
    head = f"GET /websub/{token}?hub.mode=subscribe HTTP/1.1\r\nHost: x\r\n{padding}\r\n"
    status = raw_exchange(world.listener.port, head.encode())
    assert status == b"" or status.startswith(b"HTTP/1.1 431"), status


def test_request_head_dripped_slowly_is_cut_off(world: World) -> None:
    """Each header line comes well within the socket timeout, so only a deadline on the whole
    head frees the connection slot."""
    listener = WebSubListener(
        ("127.0.0.1", 0), world.listener.callbacks, get_logger(), 1000, head_deadline_s=0.5
    )
    listener.start()
    try:
        with socket.create_connection(("127.0.0.1", listener.port), timeout=30) as sock:
            sock.sendall(b"GET /websub/" + b"a" * 43 + b" HTTP/1.1\r\n")
            closed = False
            for i in range(100):  # 100 lines 0.1 s apart: far past the head's deadline
                try:
                    sock.sendall(b"X-Drip-%d: x\r\n" % i)
                    if select.select([sock], [], [], 0.1)[0]:
                        closed = sock.recv(4096) == b""
                except ConnectionError:
                    closed = True
                if closed:
                    break
            assert closed
    finally:
        listener.stop()


# -- pushes and polls agree on entry identities ---------------------------------------------------


def rss(hub: str, entries: range) -> bytes:
    items = "".join(
        f"<item><guid isPermaLink='false'>post-{i}</guid><title>t{i}</title></item>"
        for i in entries
    )
    return (
        '<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">'
        f'<channel><title>R</title><atom:link rel="hub" href="{hub}"/>{items}</channel></rss>'
    ).encode()


def test_push_of_a_redirected_feed_queues_what_the_poll_queued_once(world: World) -> None:
    """A push is parsed against the URL the poll was redirected to, as polls are (links are
    joined to it); an isPermaLink="false" GUID such as "post-1" is the identity as written."""
    moved = world.site.url("/moved/feed.xml")
    world.site.route("/feed.xml", Response(301, headers={"Location": moved}))
    world.site.route("/moved/feed.xml", Response(200, rss(world.hub.url, range(2))))
    subscribed(world)
    assert len(world.queued()) == 2
    pushed = world.hub.push(rss(world.hub.url, range(3)), **{"Content-Type": "application/rss+xml"})
    assert pushed.status_code == 202
    assert world.queued()[2:] == ["post-2"]


def test_a_hub_quoting_the_request_in_its_error_leaks_neither_secret_nor_token(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.hub.behaviour = "echo"
    world.poller.poll(world.feed)
    world.manager.step()
    record = world.record()
    assert record["state"] == FAILED
    assert record["last_error"].startswith("HTTP 400: bad request: hub.mode=subscribe")
    logged = capsys.readouterr()
    for sensitive in (record["secret"], record["token"]):
        assert sensitive[:8] not in record["last_error"]
        assert sensitive[:8] not in logged.out + logged.err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x=s3cr3t/value&y=1", "x=[hidden]&y=1"),
        ("quoted: s3cr3t%2Fvalue", "quoted: [hidden]"),
        ("cut off: s3cr3", "cut off: [hidden]"),
        ("cut off: s3c", "cut off: s3c"),  # too short a start to tell
        ("nothing here", "nothing here"),
    ],
)
def test_hidden_values_are_blanked_out_of_a_hub_reply(text: str, expected: str) -> None:
    assert hide(text, ["s3cr3t/value", ""]) == expected


def test_a_subscribe_that_loses_a_race_leaves_the_token_map_as_it_was(world: World) -> None:
    """The manager read the record, then (before its compare-and-set) the hub denied the
    subscription: the old token must still lead to it, and the new one to nothing."""
    first = subscribed(world)
    world.store.record_hub(world.feed.url, "http://other.example/hub", world.feed.url, "", START)
    stale = world.record()  # moved to another hub: a fresh token is due
    assert world.store.update_if(world.feed.url, {}, {"state": DENIED})
    world.manager._subscribe(world.feed.url, stale)
    assert world.client.hgetall(world.keys.websub_tokens) == {first["token"]: world.feed.url}
    assert world.hub.push(atom(world.hub.url, range(3))).status_code == 202
    assert world.queued()[-1] == "urn:e2"


# -- feed content that could reach a terminal ------------------------------------------------------


@pytest.mark.parametrize(
    "href",
    ["https://h.example/\x1b[2J", "https://h.example/\x9b2J", "https://h.example/a b",
     "https://h.example/\u2028x"],
)  # fmt: skip
def test_hub_urls_with_control_characters_or_spaces_are_ignored(href: str) -> None:
    """They would reach `wirewatch feeds` and the logs as they are (a JSON Feed may hold any)."""
    assert discover("https://s.example/f", {}, [("hub", href)]) == ("", "")
    hub = "https://hub.example/"
    assert discover("https://s.example/f", {}, [("hub", hub), ("self", href)]) == (
        hub,
        "https://s.example/f",
    )


def test_hub_reply_text_has_no_terminal_controls(world: World) -> None:
    url = world.site.route("/angry-hub", Response(400, "no \x1b[31m\x9b2J\u202e way".encode()))
    reply = world.hubs.post(url, {"hub.mode": "subscribe"})
    assert reply.status == 400
    assert reply.text.isprintable(), repr(reply.text)


def test_a_record_without_a_secret_takes_no_push(world: World) -> None:
    """Every subscription is made with a secret; a record that lost it (edited by hand, a bug)
    must fail closed, not take unsigned content."""
    subscribed(world)
    assert world.store.update_if(world.feed.url, {}, {"secret": ""})
    assert world.hub.push(atom(world.hub.url, range(5)), signature="").status_code == 202
    assert world.queued() == ["urn:e0", "urn:e1"]


def test_a_hub_granting_a_lease_of_zero_is_not_asked_again_every_second(world: World) -> None:
    world.hub.lease = 0
    record = subscribed(world)
    assert float(record["expires_at"]) == START + 1.0  # what the hub granted, near enough
    world.clock.now = START + 30
    world.manager.step()
    assert len(world.hub.subscribes()) == 1
    world.clock.now = START + 60
    world.manager.step()
    assert len(world.hub.subscribes()) == 2


def test_feed_leaving_the_config_after_a_failed_renewal_is_still_unsubscribed(
    world: World,
) -> None:
    """The renewal failed, but the hub still holds the lease it granted before: without an
    unsubscribe it pushes to a forgotten token (404) until that lease ends."""
    world.hub.lease = 1000
    subscribed(world)
    world.hub.status = 503
    world.clock.now = START + 900
    world.manager.step()
    assert world.record()["state"] == FAILED
    world.hub.status = 202
    world.manager_for([]).step()
    assert world.hub.requests[-1]["hub.mode"] == "unsubscribe"
    assert world.hub.verifications[-1][0] == 200
    assert world.record() == {}


def test_an_unsubscribe_verification_racing_a_resubscribe_keeps_the_subscription(
    world: World,
) -> None:
    """The feed came back while the hub was verifying its unsubscription: the callback read the
    record as unsubscribing, then the manager subscribed again with the same token."""
    record = subscribed(world)
    assert world.store.update_if(world.feed.url, {}, {"state": UNSUBSCRIBING})
    stale = world.record()
    assert world.store.update_if(world.feed.url, {}, {"state": SUBSCRIBING})
    assert not world.listener.callbacks._unsubscribed(world.feed.url, stale, record["token"])
    assert world.record()["state"] == SUBSCRIBING
    assert world.store.feed_for_token(record["token"]) == world.feed.url


def test_hub_named_in_a_link_header_of_a_real_response_is_subscribed(world: World) -> None:
    headers = {"Link": f'<{world.hub.url}>; rel="hub", </canonical.xml>; rel="self"'}
    world.site.route("/feed.xml", Response(200, atom("", range(2)), headers))
    world.poller.poll(world.feed)
    world.manager.step()
    assert world.hub.subscribes()[0]["hub.topic"] == world.site.url("/canonical.xml")
    assert world.record()["state"] == ACTIVE


def test_two_websub_processes_at_once_subscribe_a_feed_once(world: World) -> None:
    world.poller.poll(world.feed)
    managers = [world.manager, world.manager_for([world.feed])]
    threads = [threading.Thread(target=manager.step) for manager in managers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(world.hub.subscribes()) == 1
    assert world.record()["state"] == ACTIVE


def test_redis_going_away_gets_503s_and_the_manager_carries_on(tmp_path: Path) -> None:
    """Pushes and verifications are answered 503 (the hub sends them again), the manager's loop
    logs and waits; when Redis is back, both work again and nothing pushed meanwhile is lost."""
    server = EmbeddedRedis(tmp_path / "redis").start()
    client = redis.Redis.from_url(server.url, decode_responses=True, socket_timeout=5)
    stop_manager = threading.Event()
    try:
        with built_world(client, Keys("blip")) as world:
            record = subscribed(world)
            world.clock.now = float(record["renew_at"])  # a renewal is due: the loop acts
            server.stop()
            manager = threading.Thread(
                target=world.manager.run_until, args=(stop_manager, 0.05), daemon=True
            )
            manager.start()
            body = atom(world.hub.url, range(3))
            assert world.hub.push(body).status_code == 503
            assert world.hub.verify(world.hub.subscribes()[-1]).status_code == 503
            assert manager.is_alive()
            server.start()
            assert wait_until(lambda: len(world.hub.subscribes()) == 2, timeout=30)  # renewed
            assert world.hub.push(body).status_code == 202
            assert world.queued() == ["urn:e0", "urn:e1", "urn:e2"]
            stop_manager.set()
            manager.join(30)
    finally:
        stop_manager.set()
        client.close()
        server.stop()


def test_a_lost_record_is_recorded_again_by_a_long_running_scheduler(world: World) -> None:
    """Redis lost the subscriptions (restarted without persistence, a failover): the scheduler
    that recorded the hub before must not trust its memory of that forever."""
    subscribed(world)
    world.client.delete(*world.client.keys(f"{{{world.keys.prefix}:websub}}*"))
    world.serve_feed(range(3))
    world.poller.poll(world.feed)
    assert world.record() == {}  # remembered as recorded a moment ago: no Redis trip
    world.clock.now += 3601
    world.serve_feed(range(4))
    world.poller.poll(world.feed)
    assert world.record()["hub"] == world.hub.url


def test_a_feed_unchanged_since_before_websub_was_enabled_is_fetched_whole_once(
    world: World,
) -> None:
    """Polled first without WebSub, the feed answers 304 to its validators from then on; once
    WebSub is on, the next poll asks without validators, finds the hub and subscribes; after
    that polls are conditional again."""
    body = atom(world.hub.url, range(2))
    seen: list[dict[str, str]] = []

    def conditional(request: Request) -> Response:
        seen.append(request.headers)
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(304)
        return Response(200, body, {"ETag": '"v1"', "Content-Type": "application/atom+xml"})

    world.site.route("/feed.xml", conditional)
    hook, world.poller.on_parsed = world.poller.on_parsed, None  # WebSub not enabled yet
    assert world.poller.poll(world.feed).status == "new_items"
    assert world.poller.poll(world.feed).status == "unchanged"
    assert seen[-1].get("If-None-Match") == '"v1"'
    assert world.record() == {}

    world.poller.on_parsed = hook  # enabled (a restart with websub on)
    assert world.poller.poll(world.feed).status == "unchanged"  # nothing new to queue
    assert "If-None-Match" not in seen[-1]
    world.manager.step()
    assert world.record()["state"] == ACTIVE
    world.poller.poll(world.feed)
    assert seen[-1].get("If-None-Match") == '"v1"'  # conditional again
    assert len(world.queued()) == 2


def test_websub_process_follows_feed_edits_with_the_scheduler(
    tmp_path: Path, redis_url: str, client: redis.Redis, keys: Keys, prefix: str
) -> None:
    """A feed added to the config while both processes run is subscribed at its hub (the
    scheduler finds the hub, the websub process must count the feed as configured), and a feed
    removed from it is unsubscribed."""
    port = free_port()
    public_url = f"http://127.0.0.1:{port}/websub"
    with LocalServer() as site, LocalServer() as hub_server:
        hub = Hub(hub_server)
        first, second = site.url("/a.xml"), site.url("/b.xml")
        site.route("/a.xml", Response(200, atom(hub.url, range(2))))
        site.route("/b.xml", Response(200, atom(hub.url, range(10, 12))))
        section = {"enabled": True, "listen": f"127.0.0.1:{port}", "public_url": public_url}
        config = write_config(tmp_path, prefix, [first], websub=section)
        processes = [
            StderrTail(start_cli(role, "--config", str(config), redis_url=redis_url))
            for role in ("scheduler", "websub")
        ]

        def topics(mode: str) -> list[str]:
            return [form["hub.topic"] for form in hub.requests if form.get("hub.mode") == mode]

        store = WebSubStore(client, keys)
        try:
            assert wait_until(lambda: first in topics("subscribe"), timeout=60)
            assert write_config(tmp_path, prefix, [first, second], websub=section) == config
            assert wait_until(lambda: second in topics("subscribe"), timeout=60)
            assert wait_until(lambda: client.xlen(keys.items_stream) == 4, timeout=30)
            assert wait_until(lambda: store.read(second).get("state") == ACTIVE, timeout=30)
            write_config(tmp_path, prefix, [second], websub=section)
            assert wait_until(lambda: first in topics("unsubscribe"), timeout=60)
            assert topics("unsubscribe") == [first]
        finally:
            logs = "".join(process.stop() for process in processes)
            hub.http.close()
    assert "Traceback" not in logs, logs
