"""WebSub hub discovery by the poller, against a real Redis and local feeds."""

from __future__ import annotations

from tests.support.httpserver import Request, Response
from tests.support.websub import (
    World,
    atom,
    subscribed,
)
from worker.websub.decisions import (
    ACTIVE,
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


def test_hub_named_in_a_link_header_of_a_real_response_is_subscribed(world: World) -> None:
    headers = {"Link": f'<{world.hub.url}>; rel="hub", </canonical.xml>; rel="self"'}
    world.site.route("/feed.xml", Response(200, atom("", range(2)), headers))
    world.poller.poll(world.feed)
    world.manager.step()
    assert world.hub.subscribes()[0]["hub.topic"] == world.site.url("/canonical.xml")
    assert world.record()["state"] == ACTIVE


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
