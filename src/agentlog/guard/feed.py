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
from ..store import cursor, layout
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
    return WatchConfig.from_settings(
        settings,
        alert_cooldown_ms=0,
        tool_loop_threshold=0,
        tool_repeat_threshold=guard.repeat_threshold,
        error_loop_threshold=guard.error_loop_threshold,
    )


def detectors(config: WatchConfig) -> tuple[WatchConfig, list[Any]]:
    """The config and its detectors, kept across a resident guard's calls (kept.py): building
    them loads the risk model and looks for plugins. What they read besides the config is
    in the key too: the model file the environment names, the baselines file."""
    from ..risk.model import MODEL_ENV
    from ..watch.detectors import load_detectors
    from .kept import kept, stamp

    model = os.environ.get(MODEL_ENV)
    key = (config, model, stamp(model), stamp(config.session_anomaly_baselines))
    return config, kept("detectors", key, lambda: load_detectors(config))


def feed(
    settings: Any, guard: GuardConfig, attempt_id: str, state: Any, memory: dict[str, Any]
) -> tuple[Engine, list[tuple[Any, GuardEvent]]]:
    """(engine, [(alert, event)]) after the transcript's lines not yet fed."""
    engine = Engine(*detectors(engine_config(settings, guard)))
    fed = state.section("fed")
    path = layout.session_path(settings.log_path, attempt_id)
    try:
        if cursor.resume(path, fed):  # a new, rotated or rewritten transcript: fresh detector state
            state.data.pop("engine", None)
        lines, end = cursor.read_lines(path, fed)
    except FileNotFoundError:
        return engine, []
    snapshot = state.data.get("engine")
    if snapshot:
        engine.restore(snapshot)
    findings: list[tuple[Any, GuardEvent]] = []
    for line in lines:
        try:
            event = jsonline.decode(line.removeprefix(b"\xef\xbb\xbf"), _decoder)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
        alerts = engine.feed([line])
        observe(memory, event, alerts)
        if alerts:
            findings.extend((alert, event) for alert in alerts)
    cursor.advance(path, fed, end)
    state.data["engine"] = engine.snapshot()
    return engine, findings
