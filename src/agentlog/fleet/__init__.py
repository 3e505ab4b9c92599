"""Fleet mode: many machines, one watchdog, on NATS JetStream.

    from agentlog.fleet import NatsOptions, Forwarder, FleetWatcher, Archiver, fleet_status

`Forwarder` publishes a machine's local stream (same checkpointed tailer as `watch`),
`FleetWatcher` runs the same detectors on the fleet stream as one of several workers,
`Archiver` writes the fleet back into the usual log layout, `fleet_status` says how it
all stands. `server.Cluster` runs nats-server on 127.0.0.1 for tests and the demo.
The local JSONL store stays the source of truth on every machine.
"""

from __future__ import annotations

from .archive import ArchiveOptions, Archiver
from .bus import NatsOptions
from .forward import ForwardOptions, Forwarder
from .status import fleet_status
from .watch import FleetWatcher, FleetWatchOptions

__all__ = [
    "ArchiveOptions",
    "Archiver",
    "FleetWatchOptions",
    "FleetWatcher",
    "ForwardOptions",
    "Forwarder",
    "NatsOptions",
    "fleet_status",
]
