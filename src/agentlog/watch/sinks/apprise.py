"""apprise: Telegram, Slack, Discord, ntfy, email... any apprise URL (`--notify tgram://...`).

One sink per URL, so one failing service is retried alone and the others get each
alert once.
"""

from __future__ import annotations

from hashlib import blake2b

from . import BaseSink, SinkError, register
from ..text import body, title


@register
class AppriseSink(BaseSink):
    kind = "apprise"

    def __init__(self, url: str, name: str | None = None):
        import apprise

        super().__init__(name or f"apprise-{blake2b(url.encode(), digest_size=4).hexdigest()}")
        self.url = url
        self.apprise = apprise.Apprise()
        if not self.apprise.add(url):
            raise ValueError(f"not a notification URL apprise understands: {_safe(url)}")
        self._types = {
            "high": apprise.NotifyType.FAILURE,
            "medium": apprise.NotifyType.WARNING,
            "low": apprise.NotifyType.INFO,
        }

    @classmethod
    def from_spec(cls, spec: str) -> "AppriseSink":
        return cls(spec)

    def send(self, alert) -> None:
        ok = self.apprise.notify(body=body(alert), title=title(alert), notify_type=self._types.get(alert.severity))
        if not ok:
            raise SinkError(f"apprise could not notify {_safe(self.url)}")

    def send_report(self, text: str, paths) -> bool:
        """The headline as the message, the HTML report attached where the service takes files."""
        attach = str(paths["html"]) if "html" in paths and any(s.attachment_support for s in self.apprise) else None
        title, _, body = text.partition("\n")
        if not self.apprise.notify(body=body or title, title=title, attach=attach):
            raise SinkError(f"apprise could not send the report to {_safe(self.url)}")
        return True


def _safe(url: str) -> str:
    """The URL's scheme and host only: apprise URLs carry tokens."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/')[0].split('@')[-1]}/..."
