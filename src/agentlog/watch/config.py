"""Detector thresholds: the watchdog's settings (`agentlog.config`), as one frozen value."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from .. import config
from ..config import default
from ..risk import cohort
from ..store import layout


@dataclass(frozen=True)
class WatchConfig:
    error_loop_threshold: int = default("error_loop_threshold")
    error_loop_window_ms: int = default("error_loop_window_ms")
    tool_loop_threshold: int = default("tool_loop_threshold")  # rate rule: this many calls of one tool ...
    tool_loop_window_ms: int = default("tool_loop_window_ms")  # ... within this window (0 disables the rule)
    # repetition rule: identical tool + params, however slowly (unset: tool_loop_threshold)
    tool_repeat_threshold: int = default("tool_loop_threshold")
    stuck_threshold_ms: int = default("stuck_threshold_ms")
    # a status_change to one of these: the agent waits for its user (an interactive turn
    # ended, a permission prompt), which is not stuck; its next event re-arms the check
    waiting_statuses: tuple[str, ...] = default("watch.waiting_statuses")
    cost_anomaly_threshold: float = default("cost_anomaly_threshold")
    alert_cooldown_ms: int = default("alert_cooldown_ms")
    clock_tolerance_ms: int = default(
        "clock_tolerance_ms"
    )  # read event times at most this far past when they were read
    restart_threshold: int = default("watch.restart_threshold")
    failed_session_errors: int = default("watch.failed_session_errors")
    session_anomaly: bool = default("watch.session_anomaly")
    session_anomaly_baselines: str = default("watch.session_anomaly_baselines")  # empty: none (see `for_log`)
    session_anomaly_min_sessions: int = default("watch.session_anomaly_min_sessions")

    @classmethod
    def from_settings(cls, settings: config.Settings, **overrides: Any) -> "WatchConfig":
        """The `[watch]` values of the settings (CLI flags are in them: `Settings.with_flags`),
        then a caller's own `overrides` (None: not given), e.g. the guard's."""
        table = settings.section("watch")
        chosen = cls(**{f.name: table[f.name] for f in fields(cls)})
        return replace(chosen, **{k: v for k, v in overrides.items() if v is not None})


def for_log(chosen: WatchConfig, settings: config.Settings) -> WatchConfig:
    """`chosen` as a watch of the settings' log runs it: the session_anomaly baselines read
    from the log's state/ (where `agentlog risk baselines` writes them) unless set."""
    if chosen.session_anomaly_baselines:
        return chosen
    return replace(chosen, session_anomaly_baselines=str(baselines_path(settings)))


def baselines_path(settings: config.Settings) -> Path:
    """Where the session_anomaly baselines are read from (and `agentlog risk baselines` writes)."""
    chosen = settings.section("watch")["session_anomaly_baselines"]
    return Path(chosen) if chosen else settings.log_path / layout.STATE / cohort.FILE
