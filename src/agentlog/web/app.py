"""`create_app(log_dir)`: the dashboard as an ASGI app; `serve(...)` runs it with uvicorn."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import pages
from .data import DataCache
from .security import Guard
from .templating import render

TOKEN_ENV = "AGENTLOG_WEB_TOKEN"
STATIC = Path(__file__).parent / "static"


def create_app(log_dir: Path | str, *, token: str | None = None, pricing: dict | None = None) -> Guard:
    """The dashboard over `log_dir`; `pricing` is the settings' [pricing] section (prices
    the Advice page's findings, as `agentlog advise` does)."""
    app = Starlette(
        routes=[
            Route("/", pages.overview),
            Route("/usage", pages.usage),
            Route("/sessions", pages.sessions),
            Route("/sessions/{attempt_id:path}", pages.session),
            Route("/alerts", pages.alerts),
            Route("/alerts/stream", pages.alert_stream),
            Route("/alerts/ack", pages.acknowledge, methods=["POST"]),
            Route("/executors", pages.executors),
            Route("/errors", pages.errors),
            Route("/advice", pages.advice),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        exception_handlers={HTTPException: _error_page},
        lifespan=_lifespan,
    )
    app.state.log_dir = Path(log_dir)
    app.state.cache = DataCache(Path(log_dir))
    app.state.pricing = pricing
    # POST only for the alerts page's acknowledge form, and only from the dashboard's own pages
    return Guard(app, token=token or None, form_posts=("/alerts/ack",))


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette):
    yield
    app.state.cache.close()


async def _error_page(request: Request, exc: HTTPException) -> HTMLResponse:
    body = render(
        "error.html",
        nav=pages.NAV,
        active="",
        window="7d",
        windows=[],
        log_dir="",
        status=exc.status_code,
        detail=exc.detail,
    )
    return HTMLResponse(body, status_code=exc.status_code)


def serve(log_dir: Path | str, sock: socket.socket, token: str | None = None, pricing: dict | None = None) -> None:
    """Run the dashboard on a listening socket until interrupted (the caller resolved the token)."""
    from . import server

    server.run(create_app(log_dir, token=token, pricing=pricing), sock)
