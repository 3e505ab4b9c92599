"""The detection engine: per-attempt state, event-time windows, cooldowns, alert ids.

It is native (`agentlog._core.Engine`, native/src/engine/): lines in, `events.Alert`s out,
no I/O and no wall clock except what the caller passes. The same input gives the same
alerts with the same `alert_id`, which is what lets the watchdog restart after kill -9
without repeating or missing one: `snapshot()` is saved with the tailer's checkpoint, and
alerts already in the journal are taken in by `remember` and skipped by id.

    engine = Engine(config)                 # every registered detector (load_detectors)
    alerts = engine.feed(lines, on_malformed, now=time.time())
    alerts += engine.tick(time.time())      # caught up: the wall clock for open attempts
    engine.events, engine.malformed, engine.ignored, engine.misdated, engine.clock
    engine.active.get(attempt_id)           # a read-only view of an attempt's state

The six rule detectors run inside it; detectors written in Python (plugins, `risk`,
`session_anomaly`) are called back, the slow path. docs/watch-engine.md has the rules.
"""

from __future__ import annotations

from .. import _core

Engine = _core.Engine
alert_id = _core.alert_id  # blake2b(f"{key}|{trigger}", digest_size=10): the same loop, the same id

__all__ = ["Engine", "alert_id"]
