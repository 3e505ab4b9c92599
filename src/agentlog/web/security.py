"""The guard in front of agentlog's HTTP servers (the dashboard, the OTLP receiver).

- Only the methods the server needs: GET and HEAD for the dashboard, plus POST for its one
  change (acknowledging an alert), which must carry the dashboard's own `Origin`; POST for
  the receiver.
- With a token (required for any non-loopback bind, at least MIN_TOKEN characters), every
  request must carry it in `Authorization: Bearer`. A browser (dashboard only) may bring
  it once as `?token=`: it is exchanged for an HttpOnly SameSite=Strict cookie and the
  browser redirected to the same URL without it, so it leaves the address bar and history.
- Without a token it answers only to loopback host names, so a web page elsewhere cannot
  reach it through DNS rebinding.
- A request that carries a foreign `Origin` is refused: browsers send it on cross-site
  requests, and a page's "simple" POST needs no CORS preflight to reach a local port.
- Headers: a Content-Security-Policy that allows only our own scripts (agent text that
  slipped through escaping still could not run), no sniffing, no framing, no referrer to
  other sites (`same-origin`: with `no-referrer` a browser sends `Origin: null` on the
  dashboard's own form POST, which then could not be told from a foreign one).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

COOKIE = "agentlog_token"
MIN_TOKEN = 16
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


class TokenError(ValueError):
    """The server cannot start as asked: a public bind without a token, or a weak token."""


def resolve_token(host: str, token: str | None, env: str) -> str | None:
    """The token to require: the flag, else the environment variable `env`; an error for a
    public bind without one, or for a token too short to resist guessing."""
    token = token or os.environ.get(env) or None
    if token is None and not is_loopback(host):
        raise TokenError(
            f"binding {host} exposes this server beyond this machine: give --token or set {env} "
            f"(for example {secrets.token_urlsafe(24)})"
        )
    if token is not None and len(token) < MIN_TOKEN:
        raise TokenError(
            f"the token is {len(token)} characters; use at least {MIN_TOKEN} (for example {secrets.token_urlsafe(24)})"
        )
    return token


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
    """ASGI middleware (plain ASGI, so the server-sent event stream is never buffered).

    `browser`: the token may come as `?token=` or in the cookie (the dashboard); otherwise
    only the Authorization header counts (an OTLP exporter sends headers, never cookies).
    """

    def __init__(
        self,
        app,
        token: str | None = None,
        *,
        methods: tuple[str, ...] = ("GET", "HEAD"),
        browser: bool = True,
        form_posts: tuple[str, ...] = (),
    ):
        self.app = app
        self.token = token
        self.methods, self.browser = methods, browser
        self.form_posts = form_posts  # paths a form of our own pages may POST to (with our Origin)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        allowed = ", ".join(self.methods)
        form = scope["method"] == "POST" and scope["path"] in self.form_posts
        if scope["method"] not in self.methods and not form:
            return await _plain(send, 405, f"only {allowed} here", [(b"allow", allowed.encode())])
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if "origin" in headers and headers["origin"].lower() != f"http://{headers.get('host', '')}".lower():
            return await _plain(send, 403, "cross-origin requests are refused")
        if form and "origin" not in headers:
            return await _plain(send, 403, "a POST must come from the dashboard's own page (Origin)")
        if self.token is None:
            if hostname(headers.get("host", "")) not in LOOPBACK_NAMES:
                return await _plain(send, 403, "this server answers only to localhost")
            return await self.app(scope, receive, _with_headers(send, HEADERS))
        offered, source = self._offered(scope, headers)
        if offered is None or not hmac.compare_digest(offered.encode(), self.token.encode()):
            hint = "open the URL with ?token=..." if self.browser else "send Authorization: Bearer <token>"
            return await _plain(send, 401, f"a token is required: {hint}", [(b"www-authenticate", b"Bearer")])
        if source == "query":  # a browser: keep it in a cookie, and take it out of the address bar
            cookie = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/".encode()
            return await _plain(send, 303, "see other", [(b"location", _without_token(scope)), (b"set-cookie", cookie)])
        await self.app(scope, receive, _with_headers(send, HEADERS))

    def _offered(self, scope, headers: dict[str, str]) -> tuple[str | None, str]:
        """The token the request carries, and where: header, query or cookie."""
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip(), "header"
        if not self.browser:
            return None, "header"
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if query.get("token"):
            return query["token"], "query"
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed Cookie header is the client's problem: treat as absent
            return None, "cookie"
        return (cookie[COOKIE].value if COOKIE in cookie else None), "cookie"


def _without_token(scope) -> bytes:
    """The request's path and query, the token taken out (a relative Location: same host)."""
    query = [
        (k, v)
        for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        if k != "token"
    ]
    path = b"/" + (scope.get("raw_path") or scope["path"].encode()).lstrip(b"/\\")  # never `//host`
    return path + (b"?" + urlencode(query).encode() if query else b"")


def _with_headers(send, extra: list[tuple[bytes, bytes]]):
    async def send_with_headers(message):
        if message["type"] == "http.response.start":
            message = {**message, "headers": list(message.get("headers", [])) + extra}
        await send(message)

    return send_with_headers


async def _plain(send, status: int, text: str, headers: list | None = None) -> None:
    body = (text + "\n").encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *HEADERS,
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
