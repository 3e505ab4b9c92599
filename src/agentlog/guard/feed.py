"""Feed a session's new events to the watchdog's own Engine, restored from its snapshot.

The guard runs the same detectors as `agentlog watch` with two settings of its own, so
that a detector answers for every event rather than once per loop: no alert cooldown,
and no rate rule of the tool loop (only identical calls are the guard's business).
Thresholds left unset in `[guard]` are the watchdog's.
"""

from __future__ import annotations

import os
from typing import Any

from .. import jsonline
from ..store import layout
from ..watch.config import WatchConfig
from ..watch.engine import Engine
from ..watch.view import Data, WatchEvent
from .config import GuardConfig
from .policies import observe

import msgspec


class _Data(Data):
    result: Any = None  # tool_result success|error: tells a resolved error loop


class GuardEvent(WatchEvent):
    data: _Data | None = None


_decoder = msgspec.json.Decoder(GuardEvent)


def engine_config(settings: Any, guard: GuardConfig) -> WatchConfig:
    return WatchConfig.from_settings(settings, alert_cooldown_ms=0, tool_loop_threshold=0,
                                     tool_repeat_threshold=guard.repeat_threshold,
                                     error_loop_threshold=guard.error_loop_threshold)


def feed(settings: Any, guard: GuardConfig, attempt_id: str, state: Any,
         memory: dict[str, Any]) -> tuple[Engine, list[tuple[Any, GuardEvent]]]:
    """(engine, [(alert, event)]) after the transcript's lines not yet fed."""
    engine = Engine(engine_config(settings, guard))
    fed = state.section("fed")
    path = layout.session_path(settings.log_path, attempt_id)
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return engine, []
    if fed.get("ino") != stat.st_ino or fed.get("offset", 0) > stat.st_size:
        fed.clear()  # a new or rotated transcript: from its start, with fresh detector state
        fed.update(ino=stat.st_ino, offset=0)
        state.data.pop("engine", None)
    snapshot = state.data.get("engine")
    if snapshot:
        engine.restore(snapshot)
    with open(path, "rb") as handle:
        handle.seek(fed["offset"])
        chunk = handle.read()
    end = chunk.rfind(b"\n") + 1
    findings: list[tuple[Any, GuardEvent]] = []
    for line in chunk[:end].splitlines():
        try:
            event = jsonline.decode(line.removeprefix(b"\xef\xbb\xbf"), _decoder)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
        alerts = engine.process(event)
        observe(memory, event, alerts)
        if alerts:
            findings.extend((alert, event) for alert in alerts)
    fed["offset"] += end
    state.data["engine"] = engine.snapshot()
    return engine, findings
