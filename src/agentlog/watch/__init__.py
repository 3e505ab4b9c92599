"""The live watchdog: detectors over the event stream, alerts to files and sinks.

    from agentlog.watch import Engine, WatchConfig, Watchdog, WatchOptions, AlertFeed

`Engine` is pure (lines or events in, alerts out, no I/O); `Watchdog` runs it over the
log dir with a checkpointed tailer, the alerts journal and the delivery outbox;
`AlertFeed` reads new alerts with a persisted position, the way a monitor polls.
"""

from __future__ import annotations

from importlib import import_module

# Imported on first use: `agentlog hook` needs only the engine, before every tool call.
_EXPORTS = {
    "WatchConfig": ".config",
    "Engine": ".engine",
    "AlertFeed": ".consumer",
    "Watchdog": ".watchdog",
    "WatchOptions": ".watchdog",
    "WatchError": ".watchdog",
}
__all__ = ["AlertFeed", "Engine", "WatchConfig", "Watchdog", "WatchError", "WatchOptions"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value
