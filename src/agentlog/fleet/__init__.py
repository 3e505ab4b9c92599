"""Fleet mode: many machines, one watchdog, on NATS JetStream.

    from agentlog.fleet import NatsOptions, Forwarder, FleetWatcher, Archiver, fleet_status

`Forwarder` publishes a machine's local stream (same checkpointed tailer as `watch`),
`FleetWatcher` runs the same detectors on the fleet stream as one of several workers,
`Archiver` writes the fleet back into the usual log layout, `fleet_status` says how it
all stands. `server.Cluster` runs nats-server on 127.0.0.1 for tests and the demo.
The local JSONL store stays the source of truth on every machine.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Loaded on first use: `fleet forward` runs on every machine and starts often, and the
# archiver's and the workers' modules bring DuckDB and the analytics (a tenth of a second).
_HOME = {
    "ArchiveOptions": "archive",
    "Archiver": "archive",
    "FleetWatchOptions": "watch",
    "FleetWatcher": "watch",
    "ForwardOptions": "forward",
    "Forwarder": "forward",
    "NatsOptions": "bus",
    "fleet_status": "status",
}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_HOME[name]}", __name__), name)
