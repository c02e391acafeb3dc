"""Pure alert logic: ids, payload shape, signatures, retry timing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from worker.alerts.build import alert_data, alert_id_for, webhook_body
from worker.alerts.envelope import AlertRecord, EventType, envelope_body
from worker.alerts.retry import is_delivered, retry_delay
from worker.alerts.signing import signed_headers
from worker.polling.health import unhealthy_event
from worker.records import Article

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_alert_ids_are_deterministic_per_watchlist_and_story() -> None:
    story = "st_0000002a"
    assert alert_id_for("nato", story) == alert_id_for("nato", story)
    assert alert_id_for("nato", story) != alert_id_for("taiwan", story)
    assert alert_id_for("nato", story) != alert_id_for("nato", "st_0000002b")


def test_payload_has_the_documented_shape() -> None:
    article = Article(
        url="https://ex.com/a?utm_source=x",
        canonical_url="https://ex.com/a",
        title="T",
        text="body",
        feed_url="https://ex.com/feed",
        feed_name="Ex",
    )
    data = alert_data(
        article, ("nato", "NATO"), ("st_1", 1), [{"field": "title", "text": "T", "snippet": "T"}]
    )
    body = json.loads(webhook_body(data, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)))
    assert body["type"] == "alert.created"
    assert body["timestamp"] == "2026-01-02T03:04:05Z"
    assert set(body["data"]) == {"alert_id", "watchlist", "article", "story", "matches"}
    assert body["data"]["article"] == {
        "url": "https://ex.com/a?utm_source=x",
        "canonical_url": "https://ex.com/a",
        "title": "T",
        "published_at": None,
        "published_at_source": None,
        "author": None,
        "language": None,
        "feed": {"url": "https://ex.com/feed", "name": "Ex", "tags": []},
    }
    assert body["data"]["story"] == {"id": "st_1", "articles": 1}


def test_the_feeds_configured_tags_reach_the_payload_as_article_feed_tags() -> None:
    from worker.feeds.parse import ParsedEntry, to_feed_item
    from worker.pipeline.article import from_feed
    from worker.records import FeedItem

    entry = ParsedEntry("guid-1", "https://ex.com/a", "T", tags=("Politics",))
    queued = to_feed_item(entry, "https://ex.com/feed", "Ex", ["world", "uk"]).to_json()
    article = from_feed(FeedItem.from_json(queued), "no article link")  # as a worker reads it

    data = alert_data(article, ("nato", "NATO"), ("st_1", 1), [])

    assert data["article"]["feed"]["tags"] == ["world", "uk"], "the entry's own category not"
    assert article.feed_tags == ["world", "uk", "Politics"], "`feed:` queries still see all"


def test_signature_verifies_with_the_standard_webhooks_library() -> None:
    body = '{"type":"alert.created","data":{"x":"é"}}'
    now = int(datetime.now(UTC).timestamp())
    headers = signed_headers(SECRET, "al_1", now, body)
    assert Webhook(SECRET).verify(body, headers) == json.loads(body)


def test_a_tampered_body_fails_verification() -> None:
    now = int(datetime.now(UTC).timestamp())
    headers = signed_headers(SECRET, "al_1", now, '{"a":1}')
    with pytest.raises(Exception, match="signature"):
        Webhook(SECRET).verify('{"a":2}', headers)


@pytest.mark.parametrize(
    ("status", "delivered"),
    [(200, True), (204, True), (299, True), (301, False), (302, False), (404, False), (500, False)],
)
def test_only_2xx_counts_as_delivered(status: int, delivered: bool) -> None:
    assert is_delivered(status) is delivered


@pytest.mark.parametrize(
    ("attempts", "rand", "expected"),
    [
        (1, 0.5, 5.0),
        (2, 0.5, 300.0),
        (3, 0.5, 1800.0),
        (4, 0.5, None),
        (0, 0.5, None),
        (1, 0.0, 4.5),
        (2, 0.999999, pytest.approx(330.0, rel=1e-3)),
    ],
)
def test_retry_delay_follows_the_schedule_with_jitter(
    attempts: int, rand: float, expected: object
) -> None:
    assert retry_delay([5.0, 300.0, 1800.0], attempts, 0.1, rand) == expected


@given(
    schedule=st.lists(st.floats(min_value=0.1, max_value=1e5), min_size=1, max_size=8),
    attempts=st.integers(min_value=1, max_value=8),
    jitter=st.floats(min_value=0, max_value=1),
    rand=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_retry_delay_stays_within_the_jitter_band(
    schedule: list[float], attempts: int, jitter: float, rand: float
) -> None:
    delay = retry_delay(schedule, attempts, jitter, rand)
    if attempts > len(schedule):
        assert delay is None
        return
    base = schedule[attempts - 1]
    assert delay is not None
    assert base * (1 - jitter) - 1e-9 <= delay <= base * (1 + jitter) + 1e-9


@pytest.mark.parametrize("event", list(EventType))
def test_every_event_type_is_stamped_in_the_documented_z_form(event: EventType) -> None:
    body = json.loads(envelope_body(event, {"x": 1}, 1_800_000_000.123456))
    assert body == {"type": str(event), "timestamp": "2027-01-15T08:00:00Z", "data": {"x": 1}}


def test_feed_unhealthy_times_use_the_z_form_without_microseconds() -> None:
    state = {"failing_since": "1800000000.5", "last_success": "1799990000.25"}
    data = unhealthy_event("https://example.org/feed", "Example", state, 1_800_000_100.75)
    assert data["failing_since"] == "2027-01-15T08:00:00Z"
    assert data["last_success"] == "2027-01-15T05:13:20Z"


def test_an_alert_record_reads_back_what_it_writes_and_refuses_what_is_not_one() -> None:
    record = AlertRecord(("hook", "chat"), envelope_body(EventType.ALERT_CREATED, {"x": 1}, 0))
    notify, body = record.script_args()
    assert AlertRecord.from_fields({"notify": notify, "body": body}) == record
    assert record.envelope()["data"] == {"x": 1}
    for fields in ({"notify": "{}", "body": body}, {"notify": "[]"}):
        with pytest.raises((KeyError, TypeError)):
            AlertRecord.from_fields(fields)
    with pytest.raises(TypeError):
        AlertRecord((), "[1, 2]").envelope()


def test_every_script_appends_to_the_alerts_stream_through_the_one_record_writer() -> None:
    """The stream's record is written in one place (xadd_record), not by hand in each script."""
    worker = Path(__file__).resolve().parents[2] / "worker"
    by_hand = [
        str(path.relative_to(worker))
        for path in worker.rglob("*.py")
        if "'notify'," in path.read_text() and path.name != "envelope.py"
    ]
    assert by_hand == []
