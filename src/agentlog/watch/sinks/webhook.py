"""webhook: POST the alert as JSON to a URL (2xx = delivered; 4xx other than 408/429 = permanent)."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from hashlib import blake2b
from urllib.parse import urlsplit

from ...events import encode
from . import BaseSink, SinkError, register

TIMEOUT_S = 5.0


@register
class WebhookSink(BaseSink):
    kind = "webhook"

    def __init__(self, url: str, name: str | None = None):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"webhook URL must be http(s)://host/..., got {url!r}")
        super().__init__(name or f"webhook-{blake2b(url.encode(), digest_size=4).hexdigest()}")
        self.url = url

    @classmethod
    def from_spec(cls, spec: str) -> "WebhookSink":
        return cls(spec)

    def send(self, alert) -> None:
        self._post(encode(alert))

    def send_report(self, text: str, paths) -> bool:
        """`{"type": "weekly_report", "text": ..., "paths": {"html": ..., "md": ..., "json": ...}}`"""
        self._post(encode({"type": "weekly_report", "text": text, "paths": {k: str(v) for k, v in paths.items()}}))
        return True

    def _post(self, body: bytes) -> None:
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "agentlog-watch"},
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            permanent = 400 <= exc.code < 500 and exc.code not in (408, 425, 429)
            raise SinkError(f"HTTP {exc.code} from {self.url}", permanent=permanent) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SinkError(f"{self.url}: {reason}") from None

    def check(self) -> str | None:
        parts = urlsplit(self.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname, port), timeout=2).close()
        except OSError as exc:
            return f"cannot connect to {parts.hostname}:{port}: {exc.strerror or exc}"
        return None
