"""WebSub subscriptions against a real Redis and a real local hub: subscribe, renew, retry, unsubscribe."""

from __future__ import annotations

import threading

import pytest

from tests.support.httpserver import LocalServer, Response
from tests.support.websub import (
    START,
    Hub,
    World,
    atom,
    subscribed,
)
from worker.websub.decisions import (
    ACTIVE,
    DENIED,
    FAILED,
    SUBSCRIBING,
    UNSUBSCRIBING,
)
from worker.websub.hubclient import HubClient


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


def test_hub_reply_text_has_no_terminal_controls(world: World) -> None:
    url = world.site.route("/angry-hub", Response(400, "no \x1b[31m\x9b2J\u202e way".encode()))
    reply = world.hubs.post(url, {"hub.mode": "subscribe"})
    assert reply.status == 400
    assert reply.text.isprintable(), repr(reply.text)


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


def test_a_hub_found_before_this_process_read_the_config_edit_is_subscribed_once_it_has(
    world: World,
) -> None:
    """The scheduler may poll a feed just added to the config, and record its hub, before the
    websub process has read the edit: the record waits for the edit instead of being dropped."""
    world.manager.follow({})  # this process still runs the config from before the edit
    world.poller.poll(world.feed)
    world.manager.step()
    assert world.record()["state"] == "discovered"
    assert world.hub.requests == []
    world.manager.follow({world.feed.url: world.feed})  # the edit reaches this process
    world.manager.step()
    assert world.record()["state"] == ACTIVE
    assert [form["hub.mode"] for form in world.hub.requests] == ["subscribe"]


def test_a_hub_recorded_for_a_feed_no_config_names_is_dropped_after_the_grace(world: World) -> None:
    world.manager.follow({})
    world.poller.poll(world.feed)
    world.manager.step()
    world.clock.now += 31  # no edit came: the record was for a feed that left the config
    world.manager.step()
    assert world.record() == {}
    assert world.hub.requests == []
