"""The dashboard's pages: each reads through `DataCache`, renders one template."""

from __future__ import annotations

import time

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from .. import analytics
from ..report.build import agent_hours
from ..report.charts import row_chart
from ..replay import build_timeline
from ..store import layout
from ..store.alerts import read_alerts
from .. import formatting as fmt
from . import acks, data as views
from .live import alert_events, position
from .templating import render

NAV = [
    ("/", "Overview"),
    ("/usage", "Cost & tokens"),
    ("/sessions", "Sessions"),
    ("/alerts", "Alerts"),
    ("/executors", "Executors"),
    ("/errors", "Error clusters"),
    ("/advice", "Advice"),
]
ALERTS_SHOWN = 500


def page(request: Request, template: str, active: str, **context) -> HTMLResponse:
    window = request.query_params.get("window", views.DEFAULT_WINDOW)
    if window not in views.WINDOWS:
        window = views.DEFAULT_WINDOW
    body = render(
        template,
        nav=NAV,
        active=active,
        window=window,
        windows=list(views.WINDOWS),
        log_dir=str(request.app.state.log_dir),
        **context,
    )
    return HTMLResponse(body)


def _window(request: Request) -> str:
    window = request.query_params.get("window", views.DEFAULT_WINDOW)
    return window if window in views.WINDOWS else views.DEFAULT_WINDOW


def overview(request: Request) -> HTMLResponse:
    window, now = _window(request), time.time()
    scope = views.scope_for(window, now)
    with request.app.state.cache.use() as data:
        summary = analytics.summary(data, scope, top=5)
        rows = views.session_rows(data, scope, views.OVERVIEW_COLUMNS)
        executors = analytics.compare(data, scope=scope, by="executor").rows
        # an empty window over a log that is not: imported sessions are often older than the default
        older = views.session_count(data) if not summary.sessions and scope.since is not None else 0
    alerts = list(read_alerts(request.app.state.log_dir))[-5:][::-1]
    return page(
        request,
        "overview.html",
        "/",
        s=summary,
        hours=agent_hours(rows),
        executors=executors,
        alerts=alerts,
        chart=views.series(rows, scope.since, now),
        older=older,
    )


def usage(request: Request) -> Response:
    by = request.query_params.get("by")
    by = by if by in views.USAGE_GROUPS else "model"
    scope, window, start, end = views.date_scope(request.query_params)
    with request.app.state.cache.use() as data:
        rows = views.usage_rows(data, scope)
    found = views.usage(rows, by)
    columns = ["day", by, "sessions", *(k for k, _ in views.TOKEN_KINDS), "cost_usd"]
    shown = export(request, found["table"], columns, f"agentlog-usage-by-{by}")
    if shown is not None:
        return shown
    return page(
        request,
        "usage.html",
        "/usage",
        by=by,
        groups=views.USAGE_GROUPS,
        kinds=views.TOKEN_KINDS,
        start=start,
        end=end,
        window_shown=window,
        request_query=_query_without_format(request),
        **found,
    )


def _query_without_format(request: Request) -> str:
    from urllib.parse import urlencode

    return urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "format"])


def export(request: Request, rows: list[dict], columns: list[str], name: str) -> Response | None:
    """`?format=csv|json`: the rows the page shows, as a download; None for the page itself."""
    kind = request.query_params.get("format")
    if kind not in ("csv", "json"):
        return None
    body = views.export_rows(rows, columns, kind)
    media = "text/csv; charset=utf-8" if kind == "csv" else "application/json"
    return Response(body, media_type=media, headers={"content-disposition": f'attachment; filename="{name}.{kind}"'})


SESSION_COLUMNS = [
    "started",
    "attempt_id",
    "executor",
    "model",
    "task_id",
    "task_title",
    "status",
    "duration_ms",
    "input_tokens",
    "output_tokens",
    "cache_creation_tokens",
    "cache_read_tokens",
    "total_tokens",
    "cost_usd",
    "errors",
]


def sessions(request: Request) -> Response:
    query = views.SessionQuery.from_params(request.query_params)
    if query.window not in views.WINDOWS:
        query.window = views.DEFAULT_WINDOW
    with request.app.state.cache.use() as data:
        rows, matched = views.sessions(data, query)
        options = views.choices(data)
    shown = export(request, rows, SESSION_COLUMNS, "agentlog-sessions")
    if shown is not None:
        return shown
    return page(
        request,
        "sessions.html",
        "/sessions",
        rows=rows,
        matched=matched,
        query=query,
        options=options,
        statuses=views.STATUSES,
        page_size=views.PAGE_SIZE,
    )


def session(request: Request) -> HTMLResponse:
    attempt_id = request.path_params["attempt_id"]
    timeline = build_timeline(request.app.state.log_dir, attempt_id)
    if not timeline.found:
        raise HTTPException(404, f"no session {attempt_id!r} in the logs")
    # a long session is shown a page of entries at a time (60k events made a 26 MB page)
    q = (request.query_params.get("q") or "").strip()[:200]
    shown = views.entries_page(timeline.entries, q, request.query_params.get("page", "1"))
    return page(
        request,
        "session.html",
        "/sessions",
        t=timeline,
        shown=shown,
        q=q,
        page_size=views.ENTRIES_PER_PAGE,
        chart=views.session_charts(timeline.entries),
        risk=_risk(request, attempt_id),
    )


def _risk(request: Request, attempt_id: str) -> dict | None:
    """The session's failure-risk curve (None: no steps, or no usable model)."""
    from ..risk.model import load
    from ..risk.score import curve_points, session_curve

    try:
        model = load()
    except ValueError:
        return None
    curve = session_curve(request.app.state.log_dir, attempt_id, model)
    if curve is None:
        return None
    threshold = model.threshold(curve.executor)
    return {
        "curve": curve,
        "points": curve_points(curve),
        "peak": max(r for _, r in curve.scores),
        "threshold": threshold if threshold < 1 else None,
    }


ALERT_FILTERS = ("severity", "type", "attempt", "show")


def alerts(request: Request) -> HTMLResponse:
    log_dir = request.app.state.log_dir
    after = position(log_dir / layout.ALERTS)  # read first up to here, then stream from here: nothing falls between
    wanted = {k: (request.query_params.get(k) or "").strip()[:200] for k in ALERT_FILTERS}
    done = acks.acknowledged(log_dir)
    every = list(read_alerts(log_dir))[::-1]
    shown = [a for a in every if _alert_matches(a, wanted, done)][:ALERTS_SHOWN]
    return page(
        request,
        "alerts.html",
        "/alerts",
        alerts=shown,
        after=after,
        wanted=wanted,
        acked=done,
        severities=sorted({a.severity for a in every}),
        types=sorted({a.type for a in every}),
    )


def _alert_matches(alert, wanted: dict[str, str], done: set[str]) -> bool:
    if wanted["severity"] and alert.severity != wanted["severity"]:
        return False
    if wanted["type"] and alert.type != wanted["type"]:
        return False
    if wanted["attempt"] and wanted["attempt"].lower() not in alert.attempt_id.lower():
        return False
    return not (wanted["show"] == "open" and alert.alert_id in done)


async def acknowledge(request: Request) -> RedirectResponse:
    """POST /alerts/ack (a form of the Alerts page): mark one alert acknowledged, back to the page."""
    form = await request.form()
    try:
        acks.acknowledge(request.app.state.log_dir, str(form.get("alert_id") or ""))
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    back = str(form.get("back") or "")
    return RedirectResponse("/alerts" + (back if back.startswith("?") else ""), status_code=303)


async def alert_stream(request: Request) -> StreamingResponse:
    after = request.headers.get("last-event-id") or request.query_params.get("after")
    events = alert_events(request.app.state.log_dir / layout.ALERTS, after, request.is_disconnected)
    return StreamingResponse(
        events, media_type="text/event-stream", headers={"cache-control": "no-store", "x-accel-buffering": "no"}
    )


def executors(request: Request) -> HTMLResponse:
    scope = views.scope_for(_window(request))
    with request.app.state.cache.use() as data:
        by_executor = analytics.compare(data, scope=scope, by="executor").rows
        by_model = analytics.compare(data, scope=scope, by="model").rows
    rated = [r for r in by_executor if r.get("success_pct") is not None]
    chart = row_chart("Success rate by executor", rated, "executor", "success_pct", 100, fmt.percent) if rated else None
    return page(request, "executors.html", "/executors", by_executor=by_executor, by_model=by_model, chart=chart)


def errors(request: Request) -> HTMLResponse:
    scope = views.scope_for(_window(request))
    with request.app.state.cache.use() as data:
        clusters = analytics.errors(data, scope, top=100)
        spread = {r["fingerprint"]: r for r in analytics.correlate(data, scope).fingerprints}
    return page(request, "errors.html", "/errors", clusters=clusters, spread=spread)


def advice(request: Request) -> HTMLResponse:
    """`agentlog advise` over the window: the same library call, with the [pricing] settings."""
    from ..analytics.advise import advise, evidence_counts
    from ..capture.pricing import Pricing

    window = _window(request)
    with request.app.state.cache.use() as data:
        found = advise(data, views.scope_for(window), pricing=Pricing.load(request.app.state.pricing))
    findings = [
        {"f": f, "counts": evidence_counts(f.evidence), "sessions": f.evidence.get("sessions_list") or []}
        for f in found.findings
    ]
    return page(request, "advice.html", "/advice", advice=found, findings=findings)
