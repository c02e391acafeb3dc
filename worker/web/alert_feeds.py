"""`/feeds/{watchlist}.atom` and `.json`: a watchlist's newest alerts for feed readers.

A feed reader cannot send a bearer token, so each watchlist has its own key, given in the URL
(`?key=`, see `GET /api/v1/watchlists/{id}/feed`); it opens that watchlist's feeds and nothing
else, and is compared in constant time. A wrong key counts as a failed authentication.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from worker.web.context import WebContext
from worker.web.deps import Context, client_address
from worker.web.errors import ApiError

router = APIRouter(tags=["alert feeds"])
FEED_SIZE = 100
ATOM_NS = "http://www.w3.org/2005/Atom"


def _open(ctx: WebContext, request: Request, watchlist_id: str, key: str) -> list[dict[str, Any]]:
    client = client_address(request)
    wait = ctx.auth.limiter.retry_after(client)
    if wait is not None:
        raise ApiError(
            429, "too_many_failures", "try again later", {"Retry-After": str(max(1, round(wait)))}
        )
    stored: Any = ctx.client.hget(ctx.keys.feed_keys, watchlist_id)
    if not stored or not hmac.compare_digest(str(stored).encode(), key.encode()):
        ctx.auth.limiter.fail(client)
        raise ApiError(404, "not_found", "no such feed (or a wrong key)")
    return ctx.index.page(watchlist_id, None, None, None, FEED_SIZE).alerts_parsed()


def _summary(alert: dict[str, Any]) -> str:
    return " … ".join(m.get("snippet", "") for m in alert.get("matches", [])) or "story updated"


def atom(watchlist_id: str, alerts: list[dict[str, Any]], self_url: str) -> bytes:
    ET.register_namespace("", ATOM_NS)
    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    _text(feed, "title", f"wirewatch alerts: {watchlist_id}")
    _text(feed, "id", f"urn:wirewatch:watchlist:{watchlist_id}")
    _text(feed, "updated", alerts[0]["created_at"] if alerts else "1970-01-01T00:00:00Z")
    ET.SubElement(feed, f"{{{ATOM_NS}}}link", rel="self", href=self_url)
    author = ET.SubElement(feed, f"{{{ATOM_NS}}}author")
    _text(author, "name", "wirewatch")
    for alert in alerts:
        article = alert.get("article") or {}
        entry = ET.SubElement(feed, f"{{{ATOM_NS}}}entry")
        _text(entry, "id", f"urn:wirewatch:alert:{alert['alert_id']}")
        _text(entry, "title", article.get("title") or alert["alert_id"])
        _text(entry, "updated", alert["created_at"])
        if article.get("url"):
            ET.SubElement(entry, f"{{{ATOM_NS}}}link", rel="alternate", href=article["url"])
        _text(entry, "summary", _summary(alert))
    document: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return document


def _text(parent: ET.Element, tag: str, text: str) -> None:
    ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}").text = text


def json_feed(watchlist_id: str, alerts: list[dict[str, Any]]) -> dict[str, Any]:
    items = []
    for alert in alerts:
        article = alert.get("article") or {}
        item = {
            "id": alert["alert_id"],
            "title": article.get("title") or alert["alert_id"],
            "content_text": _summary(alert),
            "date_published": alert["created_at"],
            "tags": [watchlist_id],
        }
        if article.get("url"):
            item["url"] = article["url"]
        items.append(item)
    return {
        "version": "https://jsonfeed.org/version/1.1",
        "title": f"wirewatch alerts: {watchlist_id}",
        "items": items,
    }


FeedId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
Key = Annotated[str, Query(max_length=200, description="the watchlist's feed key")]


@router.get(
    "/feeds/{watchlist_id}.atom",
    response_class=Response,
    responses={200: {"content": {"application/atom+xml": {}}}},
)
def atom_feed(ctx: Context, request: Request, watchlist_id: FeedId, key: Key) -> Response:
    alerts = _open(ctx, request, watchlist_id, key)
    body = atom(watchlist_id, alerts, str(request.url))
    return Response(body, media_type="application/atom+xml; charset=utf-8")


@router.get(
    "/feeds/{watchlist_id}.json",
    response_class=JSONResponse,
    responses={200: {"content": {"application/feed+json": {}}}},
)
def json_alert_feed(ctx: Context, request: Request, watchlist_id: FeedId, key: Key) -> Response:
    alerts = _open(ctx, request, watchlist_id, key)
    return JSONResponse(json_feed(watchlist_id, alerts), media_type="application/feed+json")
