"""The dashboard's pages: each reads through `DataCache`, renders one template."""

from __future__ import annotations

import time

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, StreamingResponse

from .. import analytics
from ..report.build import agent_hours
from ..report.charts import row_chart
from ..replay import build_timeline
from ..store import layout
from ..store.alerts import read_alerts
from .. import formatting as fmt
from . import data as views
from .live import alert_events, position
from .templating import render

NAV = [("/", "Overview"), ("/sessions", "Sessions"), ("/alerts", "Alerts"), ("/executors", "Executors"),
       ("/errors", "Error clusters")]
ALERTS_SHOWN = 500


def page(request: Request, template: str, active: str, **context) -> HTMLResponse:
    window = request.query_params.get("window", views.DEFAULT_WINDOW)
    if window not in views.WINDOWS:
        window = views.DEFAULT_WINDOW
    body = render(template, nav=NAV, active=active, window=window, windows=list(views.WINDOWS),
                  log_dir=str(request.app.state.log_dir), **context)
    return HTMLResponse(body)


def _window(request: Request) -> str:
    window = request.query_params.get("window", views.DEFAULT_WINDOW)
    return window if window in views.WINDOWS else views.DEFAULT_WINDOW


def overview(request: Request) -> HTMLResponse:
    window, now = _window(request), time.time()
    scope = views.scope_for(window, now)
    with request.app.state.cache.use() as data:
        summary = analytics.summary(data, scope, top=5)
        rows = analytics.metrics(data, scope).sessions
        executors = analytics.compare(data, scope=scope, by="executor").rows
    alerts = list(read_alerts(request.app.state.log_dir))[-5:][::-1]
    return page(request, "overview.html", "/", s=summary, hours=agent_hours(rows), executors=executors,
                alerts=alerts, chart=views.series(rows, scope.since, now))


def sessions(request: Request) -> HTMLResponse:
    query = views.SessionQuery.from_params(request.query_params)
    if query.window not in views.WINDOWS:
        query.window = views.DEFAULT_WINDOW
    with request.app.state.cache.use() as data:
        rows, matched = views.sessions(data, query)
        options = views.choices(data)
    return page(request, "sessions.html", "/sessions", rows=rows, matched=matched, query=query,
                options=options, statuses=views.STATUSES)


def session(request: Request) -> HTMLResponse:
    attempt_id = request.path_params["attempt_id"]
    timeline = build_timeline(request.app.state.log_dir, attempt_id)
    if not timeline.found:
        raise HTTPException(404, f"no session {attempt_id!r} in the logs")
    return page(request, "session.html", "/sessions", t=timeline)


def alerts(request: Request) -> HTMLResponse:
    path = request.app.state.log_dir / layout.ALERTS
    after = position(path)  # read first up to here, then stream from here: nothing falls between
    shown = list(read_alerts(request.app.state.log_dir))[-ALERTS_SHOWN:][::-1]
    return page(request, "alerts.html", "/alerts", alerts=shown, after=after)


async def alert_stream(request: Request) -> StreamingResponse:
    after = request.headers.get("last-event-id") or request.query_params.get("after")
    events = alert_events(request.app.state.log_dir / layout.ALERTS, after, request.is_disconnected)
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"cache-control": "no-store", "x-accel-buffering": "no"})


def executors(request: Request) -> HTMLResponse:
    scope = views.scope_for(_window(request))
    with request.app.state.cache.use() as data:
        by_executor = analytics.compare(data, scope=scope, by="executor").rows
        by_model = analytics.compare(data, scope=scope, by="model").rows
    rated = [r for r in by_executor if r.get("success_pct") is not None]
    chart = row_chart("Success rate by executor", rated, "executor", "success_pct", 100, fmt.percent) \
        if rated else None
    return page(request, "executors.html", "/executors", by_executor=by_executor, by_model=by_model, chart=chart)


def errors(request: Request) -> HTMLResponse:
    scope = views.scope_for(_window(request))
    with request.app.state.cache.use() as data:
        clusters = analytics.errors(data, scope, top=100)
        spread = {r["fingerprint"]: r for r in analytics.correlate(data, scope).fingerprints}
    return page(request, "errors.html", "/errors", clusters=clusters, spread=spread)
