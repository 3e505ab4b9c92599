"""Alert sinks: one module each, registered by `@register`, all behind `Sink`; third-party
packages add kinds through the `agentlog.sinks` entry point (see plugins.py).

The alerts file (`store.alerts.AlertJournal`) is written synchronously by the watchdog and
is also every other sink's durable outbox: each sink reads it with its own persisted
position (see ../outbox.py), so a sink that is down loses nothing and never blocks
detection.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Callable, ClassVar, Iterable, Protocol

from ... import plugins
from ...events import Alert


class SinkError(Exception):
    """Delivery failed; `permanent` means retrying the same alert cannot help."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


class Sink(Protocol):
    kind: ClassVar[str]
    name: str  # unique and stable: names the sink's position in state/
    notification: bool  # subject to --notify-since (replays never flood a chat)

    def wants(self, alert: Alert) -> bool: ...

    def send(self, alert: Alert) -> None: ...  # raises SinkError

    def flush(self) -> None: ...  # optional: after each batch of `send`s

    def send_report(self, text: str, paths: dict[str, Any]) -> bool: ...  # False: takes no reports


class BaseSink:
    kind: ClassVar[str] = ""
    notification = True
    max_attempts: int | None = None  # None: retry until delivered

    def __init__(self, name: str):
        self.name = name

    def wants(self, alert: Alert) -> bool:
        return True

    def flush(self) -> None:
        """The outbox delivered a batch of alerts: write out what `send` buffered, if anything."""

    def send_report(self, text: str, paths: dict[str, Any]) -> bool:
        """Deliver the weekly report (its headline, the written files by format); False
        when this sink does not take reports. Raises SinkError like `send`."""
        return False

    def check(self) -> str | None:
        """A problem reaching the sink right now (for `agentlog doctor`), or None."""
        return None


REGISTRY: dict[str, Callable[..., BaseSink]] = {}


def register(cls):
    REGISTRY[cls.kind] = cls
    return cls


def kinds() -> list[str]:
    """Every sink kind: ours (one module each) and the plugins'."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    plugins.load("agentlog.sinks")
    return sorted(REGISTRY)


def make_sink(kind: str, spec: Any) -> BaseSink:
    """A sink of a registered kind from its command-line spec (a URL, `TYPE=CMD`, ...)."""
    if kind not in kinds():
        raise ValueError(f"unknown sink {kind!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[kind].from_spec(spec)


def sinks_from(
    section: dict[str, Any],
    *,
    notify: Iterable[str] = (),
    webhooks: Iterable[str] = (),
    execs: Iterable[str] = (),
    others: Iterable[str] = (),
    stdout: str | None = "text",
) -> list[BaseSink]:
    """The sinks of the [watch] settings plus those of the flags (the one place both meet):
    stdout ("text", "json", or None for none), apprise URLs, webhooks, `TYPE=CMD` execs and
    `KIND[=SPEC]` sinks of any registered kind. ValueError names a spec that is wrong."""
    specs: list[tuple[str, Any]] = [("stdout", "json" if stdout == "json" else None)] if stdout else []
    specs += [("apprise", url) for url in (*section.get("notify", []), *notify)]
    specs += [("webhook", url) for url in (*section.get("webhook", []), *webhooks)]
    specs += [("exec", f"{alert_type}={command}") for alert_type, command in section.get("exec", {}).items()]
    specs += [("exec", spec) for spec in execs]
    for other in (*section.get("sinks", []), *others):
        kind, _, spec = other.partition("=")
        specs.append((kind, spec or None))
    return [make_sink(kind, spec) for kind, spec in specs]
