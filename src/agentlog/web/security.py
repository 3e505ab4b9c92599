"""The dashboard's guard, in front of every request: read-only, token, host, headers.

- Only GET and HEAD: the dashboard never changes anything.
- With a token (required for any non-loopback bind), every request must carry it: the
  `Authorization: Bearer` header, the `agentlog_token` cookie, or `?token=` once (which
  sets the cookie, so links and the live alert stream keep working).
- Without a token it answers only to loopback host names, so a web page elsewhere cannot
  reach it through DNS rebinding.
- Headers: a Content-Security-Policy that allows only our own scripts (agent text that
  slipped through escaping still could not run), no sniffing, no framing, no referrer.
"""

from __future__ import annotations

import hmac
import ipaddress
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

COOKIE = "agentlog_token"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer"),
           (b"cache-control", b"no-store")]


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def hostname(host_header: str) -> str:
    """`[::1]:8765` -> `[::1]`, `localhost:8765` -> `localhost`."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.split(":", 1)[0]


class Guard:
    """ASGI middleware (plain ASGI, so the server-sent event stream is never buffered)."""

    def __init__(self, app, token: str | None = None):
        self.app = app
        self.token = token

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["method"] not in ("GET", "HEAD"):
            return await _plain(send, 405, "read-only: only GET and HEAD", [(b"allow", b"GET, HEAD")])
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        set_cookie = None
        if self.token is None:
            if hostname(headers.get("host", "")) not in LOOPBACK_NAMES:
                return await _plain(send, 403, "this dashboard answers only to localhost")
        else:
            offered, source = self._offered(scope, headers)
            if offered is None or not hmac.compare_digest(offered.encode(), self.token.encode()):
                return await _plain(send, 401, "a token is required: open the URL with ?token=...",
                                    [(b"www-authenticate", b"Bearer")])
            if source == "query":  # a browser: keep it in a cookie for the links and the stream
                set_cookie = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/".encode()

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                extra = HEADERS + ([(b"set-cookie", set_cookie)] if set_cookie else [])
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    def _offered(scope, headers: dict[str, str]) -> tuple[str | None, str]:
        """The token the request carries, and where: header, query or cookie."""
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip(), "header"
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if query.get("token"):
            return query["token"][0], "query"
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header is the client's problem: treat as absent
            return None, "cookie"
        return (cookie[COOKIE].value if COOKIE in cookie else None), "cookie"


async def _plain(send, status: int, text: str, headers: list | None = None) -> None:
    body = (text + "\n").encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *HEADERS, *(headers or [])]})
    await send({"type": "http.response.body", "body": body})
