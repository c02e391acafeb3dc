"""The dashboard's routes under `/ui`: sign-in, alerts, watchlists, feeds, delivery, spikes.

Pages are rendered on the server; `static/app.js` adds what must happen without a reload (new
alerts, an alert's story and deliveries, the editor's syntax check and back-test), through the
small `/ui/api/…` and fragment routes here. Each route calls the same functions as the JSON
API, with the session's token id and scope standing in for a bearer token.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from worker.alerts.index import decode_cursor, time_bound
from worker.errors import QueryError
from worker.rules import parse_query
from worker.web import alerts_api, archive_api, ops_api, watchlists_api
from worker.web.context import WebContext
from worker.web.dashboard import render
from worker.web.dashboard.session import (
    COOKIE,
    SESSION_TTL_S,
    SIGNIN_COOKIE,
    CsrfRefused,
    Session,
    SessionStore,
    SignInNeeded,
    check_csrf,
    clear_cookie,
    same,
    set_cookie,
)
from worker.web.errors import ApiError
from worker.web.schemas import (
    SLUG_PATTERN,
    BacktestRequest,
    ReplayRequest,
    WatchlistCreate,
    WatchlistFields,
)

router = APIRouter(prefix="/ui", include_in_schema=False)
STATIC = Path(__file__).with_name("static")
PAGE_SIZE = 50
_MAX_FORM_BYTES = 256 * 1024
_SINCE_CHOICES = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
_NEWER_SLACK_S = 60.0  # a poll re-reads this far back; the page drops alerts it shows already
_STATUS_ORDER = {"error": 0, "stale": 1, "new": 2, "ok": 3}
_SPIKE_BUCKETS = 48
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_env = Environment(
    loader=PackageLoader("worker.web.dashboard", "templates"),
    autoescape=select_autoescape(("html",)),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals.update(
    when=render.when,
    when_iso=render.when_iso,
    mark_hits=render.mark_hits,
    safe_url=render.safe_url,
    sparkline=render.sparkline,
    bars=render.bars,
    day_rows=render.day_rows,
)


# -- plumbing ---------------------------------------------------------------------------------
def ctx_of(request: Request) -> WebContext:
    context: WebContext = request.app.state.web
    return context


def sessions(request: Request) -> SessionStore:
    ctx = ctx_of(request)
    return SessionStore(ctx.client, ctx.keys)


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def valid_session(request: Request) -> Session | None:
    """The request's session while its token is still configured as it was at sign-in."""
    found = sessions(request).find(request.cookies.get(COOKIE))
    if found is None or ctx_of(request).auth.fingerprint(found.token_id) != found.fingerprint:
        return None
    return found


def current_session(request: Request) -> Session:
    found = valid_session(request)
    if found is None:
        raise SignInNeeded(wants_html(request))
    return found


SessionDep = Annotated[Session, Depends(current_session)]


def page(
    request: Request, template: str, session: Session | None, status: int = 200, **values: Any
) -> HTMLResponse:
    html = _env.get_template(template).render(
        request=request, session=session, path=request.url.path, **values
    )
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def fragment(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    html = _env.get_template(template).render(**values)
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=_HEADERS)


async def form_of(request: Request) -> dict[str, list[str]]:
    """An urlencoded form body (bounded), every field's values."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:
            raise ApiError(413, "too_large", "the form is too large")
    return urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


def first(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[0]


async def checked_form(request: Request, session: Session) -> dict[str, list[str]]:
    form = await form_of(request)
    check_csrf(session, request, {"csrf": first(form, "csrf")})
    return form


def safe_next(target: str) -> str:
    """Only a path of the dashboard itself (never another host) is followed after sign-in."""
    ok = target.startswith("/ui/") and not target.startswith("//") and "\\" not in target
    return target if ok else "/ui/alerts"


def install(app: FastAPI) -> None:
    """The dashboard's routes, its static files and its error pages on the web role's app."""
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="dashboard-static")

    async def sign_in_needed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInNeeded)
        if exc.wants_html and request.method == "GET":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            query = urllib.parse.urlencode({"next": target})
            return RedirectResponse(f"/ui/signin?{query}", status_code=303, headers=_HEADERS)
        return JSONResponse({"error": "unauthorized", "detail": "sign in"}, status_code=401)

    async def csrf_refused(request: Request, _exc: Exception) -> Response:
        body = {"error": "csrf", "detail": "the form is stale or forged; reload the page"}
        return JSONResponse(body, status_code=403)

    app.add_exception_handler(SignInNeeded, sign_in_needed)
    app.add_exception_handler(CsrfRefused, csrf_refused)


# -- sign-in ----------------------------------------------------------------------------------
@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def home() -> Response:
    return see_other("/ui/alerts")


@router.get("/signin", response_class=HTMLResponse)
def signin_form(request: Request, next: str = "/ui/alerts") -> Response:
    if valid_session(request) is not None:
        return see_other(safe_next(next))
    return _signin_page(request, safe_next(next), None, 200)


def _signin_page(request: Request, target: str, error: str | None, status: int) -> Response:
    import secrets

    nonce = secrets.token_urlsafe(24)
    response = page(request, "signin.html", None, status, next=target, error=error, nonce=nonce)
    set_cookie(response, request, SIGNIN_COOKIE, nonce, 3600)
    return response


@router.post("/signin", response_class=HTMLResponse)
async def signin(request: Request) -> Response:
    form = await form_of(request)
    target = safe_next(first(form, "next"))
    if not same(first(form, "nonce"), request.cookies.get(SIGNIN_COOKIE) or "\0"):
        return _signin_page(request, target, "The form expired; please try again.", 403)
    ctx = ctx_of(request)
    client = request.client.host if request.client else "unknown"
    try:
        token_id, scope = ctx.auth.identify(first(form, "token").strip() or None, client)
    except ApiError as exc:
        reason = (
            "Too many failed attempts; wait a minute."
            if exc.status == 429
            else ("That token is not valid.")
        )
        # The form again with its message, as a page (200): a mistyped token is ordinary
        # use, not a failed load in the browser's console; the API answers 401/429.
        return _signin_page(request, target, reason, 200)
    fingerprint = ctx.auth.fingerprint(token_id) or ""
    cookie, _session = await run_in_threadpool(
        sessions(request).create, token_id, scope, fingerprint
    )
    ctx.log.info("dashboard_signed_in", token=token_id, client=client)
    response = see_other(target)
    set_cookie(response, request, COOKIE, cookie, SESSION_TTL_S)
    clear_cookie(response, request, SIGNIN_COOKIE)
    return response


@router.post("/signout")
async def signout(request: Request, session: SessionDep) -> Response:
    await checked_form(request, session)
    await run_in_threadpool(sessions(request).end, request.cookies.get(COOKIE))
    response = see_other("/ui/signin")
    clear_cookie(response, request, COOKIE)
    return response


# -- alerts -----------------------------------------------------------------------------------
def _since(choice: str) -> float | None:
    span = _SINCE_CHOICES.get(choice)
    return time.time() - span if span else None


def _watchlist_ids(ctx: WebContext) -> list[str]:
    config = [w.id for w in ctx.config_watchlists()]
    return config + sorted({w.id for w in ctx.api_store.all()} - set(config))


def _valid_watchlist(value: str) -> str | None:
    import re

    return value if value and re.fullmatch(SLUG_PATTERN, value) and len(value) <= 64 else None


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request,
    session: SessionDep,
    watchlist: Annotated[str, Query(max_length=64)] = "",
    since: Annotated[str, Query(max_length=8)] = "",
    cursor: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    ctx = ctx_of(request)
    chosen = _valid_watchlist(watchlist)
    member = decode_cursor(cursor) if cursor else None
    shown = ctx.index.page(chosen, _since(since), None, member, PAGE_SIZE)
    return page(
        request,
        "alerts.html",
        session,
        alerts=shown.alerts_parsed(),
        next_cursor=shown.next_cursor,
        watchlists=_watchlist_ids(ctx),
        watchlist=chosen or "",
        since=since if since in _SINCE_CHOICES else "",
        since_choices=list(_SINCE_CHOICES),
        live=not cursor,
    )


@router.get("/alerts/rows", response_class=HTMLResponse)
def alert_rows(
    request: Request,
    _session: SessionDep,
    after: Annotated[float, Query(ge=0, le=1e11, allow_inf_nan=False)],
    watchlist: Annotated[str, Query(max_length=64)] = "",
    since: Annotated[str, Query(max_length=8)] = "",
) -> Response:
    """The alerts indexed since shortly before `after` (unix seconds), newest first, as rows;
    the page inserts those it does not show yet."""
    ctx = ctx_of(request)
    lower = max(after - _NEWER_SLACK_S, _since(since) or 0.0)
    found = ctx.index.page(_valid_watchlist(watchlist), lower, None, None, PAGE_SIZE)
    return fragment("_alert_rows.html", alerts=found.alerts_parsed())


def _group_by_source(articles: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for article in articles:
        source = (article.get("feed") or {}).get("name") or "unknown source"
        groups.setdefault(source, []).append(article)
    return sorted(groups.items())


@router.get("/alerts/{alert_id}/detail", response_class=HTMLResponse)
def alert_detail(request: Request, session: SessionDep, alert_id: str) -> Response:
    ctx = ctx_of(request)
    detail = alerts_api.get_alert(ctx, session.token_id, alert_id[:100])
    story_id = (detail.alert.get("story") or {}).get("id") or ""
    articles = ctx.index.story(story_id) if story_id else []
    return fragment(
        "_alert_detail.html",
        alert=detail.alert,
        deliveries=detail.deliveries,
        sources=_group_by_source(articles),
    )


# -- watchlists -------------------------------------------------------------------------------
_DAY_S = 86400


def daily_counts(ctx: WebContext, watchlist_id: str, days: int, now: float) -> list[int]:
    """Alerts per UTC day over the last `days` days, oldest first (one ZLEXCOUNT a day)."""
    today = int(now // _DAY_S)
    key = ctx.keys.web_watchlist_order(watchlist_id)
    pipe = ctx.client.pipeline(transaction=False)
    for day in range(today - days + 1, today + 1):
        lower, upper = time_bound(day * _DAY_S), time_bound((day + 1) * _DAY_S)
        pipe.zlexcount(key, f"[{lower}", f"({upper}")
    return [int(n) for n in pipe.execute()]


@router.get("/watchlists", response_class=HTMLResponse)
def watchlists_page(request: Request, session: SessionDep) -> Response:
    ctx = ctx_of(request)
    now = time.time()
    rows = [
        (w, daily_counts(ctx, w.id, 7, now))
        for w in watchlists_api.list_watchlists(ctx, session.token_id)
    ]
    return page(request, "watchlists.html", session, rows=rows)


def _editor(
    request: Request,
    session: Session,
    fields: dict[str, Any],
    *,
    is_new: bool,
    read_only: bool,
    saved_query: str | None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    ctx = ctx_of(request)
    return page(
        request,
        "editor.html",
        session,
        status,
        w=fields,
        is_new=is_new,
        read_only=read_only,
        saved_query=saved_query,
        webhooks=[w.id for w in ctx.settings.webhooks],
        error=error,
        saved=request.query_params.get("saved") == "1",
        archive=ctx.settings.archive.enabled,
    )


@router.get("/watchlists/new", response_class=HTMLResponse)
def new_watchlist(request: Request, session: SessionDep) -> Response:
    blank = {"id": "", "name": "", "query": "", "notify": []}
    return _editor(request, session, blank, is_new=True, read_only=False, saved_query=None)


@router.get("/watchlists/{watchlist_id}/edit", response_class=HTMLResponse)
def edit_watchlist(request: Request, session: SessionDep, watchlist_id: str) -> Response:
    ctx = ctx_of(request)
    found = watchlists_api.get_watchlist(ctx, session.token_id, watchlist_id[:64])
    fields = {"id": found.id, "name": found.name, "query": found.query, "notify": found.notify}
    read_only = found.source == "config" or not session.allows("write")
    return _editor(
        request, session, fields, is_new=False, read_only=read_only, saved_query=found.query
    )


def _problem_text(exc: ApiError) -> str:
    detail = exc.detail
    if isinstance(detail, dict):
        return str(detail.get("text") or detail.get("message") or detail)
    return str(detail)


@router.post("/watchlists/save", response_class=HTMLResponse)
async def save_watchlist(request: Request, session: SessionDep) -> Response:
    form = await checked_form(request, session)
    is_new = first(form, "is_new") == "1"
    fields: dict[str, Any] = {
        "id": first(form, "id").strip(),
        "name": first(form, "name").strip(),
        "query": first(form, "query"),
        "notify": form.get("notify", []),
    }
    ctx = ctx_of(request)
    saved_query = None if is_new else ctx.watchlist_query(fields["id"])
    try:
        if not session.allows("write"):
            raise ApiError(403, "forbidden", f"token {session.token_id!r} may not save (write)")
        await run_in_threadpool(_save, ctx, session, fields, is_new)
    except (ApiError, ValueError) as exc:
        text = _problem_text(exc) if isinstance(exc, ApiError) else _validation_text(exc)
        return _editor(
            request,
            session,
            fields,
            is_new=is_new,
            read_only=False,
            saved_query=saved_query,
            error=text,
        )
    return see_other(f"/ui/watchlists/{fields['id']}/edit?saved=1")


def _validation_text(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors())
    return str(exc)


def _save(ctx: WebContext, session: Session, fields: dict[str, Any], is_new: bool) -> None:
    if is_new:
        watchlists_api.create_watchlist(ctx, session.token_id, WatchlistCreate(**fields))
    else:
        body = WatchlistFields(name=fields["name"], query=fields["query"], notify=fields["notify"])
        watchlists_api.replace_watchlist(ctx, session.token_id, fields["id"], body)


async def _json_body(request: Request, session: Session) -> dict[str, Any]:
    check_csrf(session, request, None)
    raw = await request.body()
    if len(raw) > _MAX_FORM_BYTES:
        raise ApiError(413, "too_large", "the request is too large")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise ApiError(422, "invalid_json", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_json", "the body is not a JSON object")
    return body


@router.post("/api/parse")
async def parse_check(request: Request, session: SessionDep) -> Response:
    """The editor's as-you-type check: `{ok}` or the parser's message, position and caret."""
    body = await _json_body(request, session)
    query = str(body.get("query", ""))[: 10 * 1024]
    try:
        parse_query(query)
    except QueryError as exc:
        return JSONResponse(
            {
                "ok": False,
                "message": exc.message,
                "position": exc.position,
                "caret": " " * exc.position + "^",
                "query": exc.query,
            }
        )
    return JSONResponse({"ok": True})


@router.post("/api/backtest", response_class=HTMLResponse)
async def backtest_fragment(request: Request, session: SessionDep) -> Response:
    """The editor's live back-test as HTML: matches per day, samples, stories gained and lost."""
    body = await _json_body(request, session)
    ctx = ctx_of(request)
    against = body.get("against") or None
    try:
        request_body = BacktestRequest(
            query=str(body.get("query", "")), since="7d", against=against, samples=5
        )
        result = await run_in_threadpool(
            archive_api.backtest_archive, ctx, session.token_id, request_body
        )
    except ApiError as exc:
        return fragment("_backtest.html", error=_problem_text(exc), status=exc.status)
    except ValueError as exc:
        return fragment("_backtest.html", error=_validation_text(exc), status=422)
    return fragment("_backtest.html", result=result, days=_week_bars(result), error=None)


def _week_bars(result: dict[str, Any]) -> list[render.Bar]:
    """Matching articles on each of the last 7 days, days without a match included."""
    per_day = {row["day"]: row["articles"] for row in result["per_day"]}
    today = int(time.time() // _DAY_S)
    days = [
        time.strftime("%Y-%m-%d", time.gmtime(day * _DAY_S)) for day in range(today - 6, today + 1)
    ]
    return render.bars([(day, per_day.get(day, 0)) for day in days], 600, 120)


# -- feeds ------------------------------------------------------------------------------------
def _websub_states(ctx: WebContext) -> dict[str, str]:
    if not ctx.settings.websub.enabled:
        return {}
    from worker.websub.status import subscription_line
    from worker.websub.store import WebSubStore

    records = WebSubStore(ctx.client, ctx.keys).read_many([f.url for f in ctx.settings.feeds])
    now = time.time()

    def moment(epoch: str | None) -> str:
        return render.when(float(epoch)) if epoch else "—"

    return {url: subscription_line(r, now, moment) for url, r in records.items() if r}


def items_per_day(ctx: WebContext, days: int, now: float) -> dict[str, list[int]]:
    """Feed URL -> articles archived on each of the last `days` UTC days, oldest first; empty
    when the archive is off (it is the only record of items over time)."""
    if not ctx.settings.archive.enabled:
        return {}
    from worker.archive.store import open_archive

    today = int(now // _DAY_S)
    first_day = today - days + 1
    store = open_archive(ctx.settings.archive, ctx.settings.data_dir)
    try:
        rows = store.feed_days(first_day * _DAY_S)
    finally:
        store.close()
    found: dict[str, list[int]] = {}
    for url, day, count in rows:
        if first_day <= day <= today:
            found.setdefault(url, [0] * days)[day - first_day] = count
    return found


@router.get("/feeds", response_class=HTMLResponse)
def feeds_page(request: Request, session: SessionDep) -> Response:
    ctx = ctx_of(request)
    feeds = ops_api.list_feeds(ctx, session.token_id)
    feeds.sort(key=lambda f: (_STATUS_ORDER.get(f.status, 9), f.name))
    return page(
        request,
        "feeds.html",
        session,
        feeds=feeds,
        websub=_websub_states(ctx),
        websub_enabled=ctx.settings.websub.enabled,
        per_day=items_per_day(ctx, 7, time.time()),
        archive=ctx.settings.archive.enabled,
    )


# -- delivery ---------------------------------------------------------------------------------
@router.get("/delivery", response_class=HTMLResponse)
def delivery_page(
    request: Request, session: SessionDep, done: Annotated[str, Query(max_length=200)] = ""
) -> Response:
    ctx = ctx_of(request)
    return page(
        request,
        "delivery.html",
        session,
        endpoints=ops_api.list_endpoints(ctx, session.token_id),
        dead=ops_api.list_dead_letters(ctx, session.token_id, 200),
        done=done,
    )


def _need_admin(session: Session) -> None:
    if not session.allows("admin"):
        raise ApiError(403, "forbidden", f"token {session.token_id!r} has no admin scope")


@router.post("/delivery/endpoints/{endpoint_id}/enable")
async def enable_endpoint(request: Request, session: SessionDep, endpoint_id: str) -> Response:
    await checked_form(request, session)
    _need_admin(session)
    ctx = ctx_of(request)
    await run_in_threadpool(ops_api.enable_endpoint, ctx, session.token_id, endpoint_id[:64])
    message = urllib.parse.urlencode({"done": f"Endpoint {endpoint_id[:64]} enabled."})
    return see_other(f"/ui/delivery?{message}")


@router.post("/delivery/replay")
async def replay(request: Request, session: SessionDep) -> Response:
    form = await checked_form(request, session)
    _need_admin(session)
    ctx = ctx_of(request)
    wanted = ReplayRequest(all=first(form, "all") == "1", ids=form.get("id", [])[:10_000])
    result = await run_in_threadpool(ops_api.replay_dead_letters, ctx, session.token_id, wanted)
    text = f"Replayed {len(result.replayed)} dead letter(s)."
    if result.not_found:
        text += f" {len(result.not_found)} not found (replayed already?)."
    return see_other(f"/ui/delivery?{urllib.parse.urlencode({'done': text})}")


# -- spikes -----------------------------------------------------------------------------------
@router.get("/spikes", response_class=HTMLResponse)
def spikes_page(request: Request, session: SessionDep) -> Response:
    ctx = ctx_of(request)
    watched = [w for w in ctx.settings.watchlists if w.spike is not None]
    charts = []
    if watched and ctx.settings.archive.enabled:
        charts = _spike_charts(ctx, watched)
    return page(
        request,
        "spikes.html",
        session,
        charts=charts,
        archive=ctx.settings.archive.enabled,
        watched=len(watched),
    )


def _spike_charts(ctx: WebContext, watched: list[Any]) -> list[dict[str, Any]]:
    from worker.archive.spikes import HISTORY_S, bucket_series
    from worker.archive.store import open_archive

    now = time.time()
    store = open_archive(ctx.settings.archive, ctx.settings.data_dir)
    try:
        charts = []
        for watchlist in watched:
            events = store.watchlist_stories(watchlist.id, now - HISTORY_S)
            series = bucket_series(events, now, watchlist.spike, _SPIKE_BUCKETS)
            rows = [
                (
                    render.when(p.bucket_start),
                    p.stories,
                    p.expected or 0.0,
                    p.threshold or 0,
                    p.spike,
                )
                for p in series
            ]
            charts.append(
                {
                    "watchlist": watchlist,
                    "chart": render.band_chart(rows),
                    "spikes": sum(1 for p in series if p.spike),
                    "judged": any(p.expected is not None for p in series),
                }
            )
        return charts
    finally:
        store.close()
