"""Serving agentlog's HTTP apps (the dashboard, the OTLP receiver): bind, then announce, then serve.

The socket is bound before anything is printed, so a busy port or a bad address is one
clear error, never a URL that does not answer; uvicorn then serves on that socket with
the bounds every agentlog server keeps.
"""

from __future__ import annotations

import socket

MAX_CONNECTIONS = 64  # more at once are answered 503 (retryable), not queued in memory
KEEP_ALIVE_S = 30  # an idle keep-alive connection is closed after this long


class ListenError(OSError):
    """The address cannot be listened on (busy port, unknown host, no permission)."""


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: any free port)."""
    if not 0 <= port <= 65535:
        raise ListenError(f"cannot listen on port {port}: a port is 0-65535")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def url(sock: socket.socket, path: str = "") -> str:
    """http://host:port of a listening socket (its real port when bound to port 0)."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{path}"


def server(app, *, max_connections: int = MAX_CONNECTIONS):
    """A uvicorn server for `app` with agentlog's bounds; `.run(sockets=[sock])` serves."""
    import uvicorn

    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        limit_concurrency=max_connections,
        timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=1,
    )
    return uvicorn.Server(config)


def run(app, sock: socket.socket) -> None:
    """Serve `app` on `sock` until SIGINT or SIGTERM (the app's lifespan shutdown runs)."""
    try:
        server(app).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn raises the signal again once it has shut down
        pass
