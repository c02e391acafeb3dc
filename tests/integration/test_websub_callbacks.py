"""WebSub callbacks against a real Redis, listener and local hub: verification and pushes."""

from __future__ import annotations

import http.client
import secrets
import socket

import pytest

from tests.support.httpserver import Response
from tests.support.websub import (
    START,
    World,
    atom,
    rss,
    sign,
    subscribed,
)
from worker.websub.decisions import (
    ACTIVE,
)


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


def test_a_record_without_a_secret_takes_no_push(world: World) -> None:
    """Every subscription is made with a secret; a record that lost it (edited by hand, a bug)
    must fail closed, not take unsigned content."""
    subscribed(world)
    assert world.store.update_if(world.feed.url, {}, {"secret": ""})
    assert world.hub.push(atom(world.hub.url, range(5)), signature="").status_code == 202
    assert world.queued() == ["urn:e0", "urn:e1"]
