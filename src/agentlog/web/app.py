"""`create_app(log_dir)`: the dashboard as an ASGI app; `serve(...)` runs it with uvicorn."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import pages
from .data import DataCache
from .security import Guard, is_loopback
from .templating import render

TOKEN_ENV = "AGENTLOG_WEB_TOKEN"
STATIC = Path(__file__).parent / "static"


class WebError(ValueError):
    """The dashboard cannot start as asked (e.g. a public bind without a token)."""


def create_app(log_dir: Path | str, *, token: str | None = None) -> Guard:
    app = Starlette(
        routes=[
            Route("/", pages.overview),
            Route("/sessions", pages.sessions),
            Route("/sessions/{attempt_id:path}", pages.session),
            Route("/alerts", pages.alerts),
            Route("/alerts/stream", pages.alert_stream),
            Route("/executors", pages.executors),
            Route("/errors", pages.errors),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        exception_handlers={HTTPException: _error_page},
        lifespan=_lifespan,
    )
    app.state.log_dir = Path(log_dir)
    app.state.cache = DataCache(Path(log_dir))
    return Guard(app, token=token or None)


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette):
    yield
    app.state.cache.close()


async def _error_page(request: Request, exc: HTTPException) -> HTMLResponse:
    body = render("error.html", nav=pages.NAV, active="", window="7d", windows=[], log_dir="",
                  status=exc.status_code, detail=exc.detail)
    return HTMLResponse(body, status_code=exc.status_code)


def resolve_token(host: str, token: str | None) -> str | None:
    """The token to require: the flag, else the environment; an error for a public bind without one."""
    token = token or os.environ.get(TOKEN_ENV) or None
    if token is None and not is_loopback(host):
        raise WebError(f"binding {host} exposes the logs beyond this machine: give --token or set {TOKEN_ENV}")
    return token


def url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def serve(log_dir: Path | str, host: str = "127.0.0.1", port: int = 8765, token: str | None = None) -> None:
    """Run the dashboard until interrupted (the caller resolved the token)."""
    import uvicorn

    uvicorn.run(create_app(log_dir, token=token), host=host, port=port, log_level="warning",
                timeout_graceful_shutdown=1, access_log=False)
