"""Detector thresholds, from the settings (env/TOML/flags) and the `[watch]` TOML table."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from .. import config


@dataclass(frozen=True)
class WatchConfig:
    error_loop_threshold: int = 4
    error_loop_window_ms: int = 600_000
    tool_loop_threshold: int = 10  # rate rule: this many calls of one tool ...
    tool_loop_window_ms: int = 10_000  # ... within this window (0 disables the rule; the seed had 60 s)
    tool_repeat_threshold: int = 10  # repetition rule: identical tool + params, however slowly
    stuck_threshold_ms: int = 300_000
    # a status_change to one of these: the agent waits for its user (an interactive turn
    # ended, a permission prompt), which is not stuck; its next event re-arms the check
    waiting_statuses: tuple[str, ...] = ("turn_complete", "waiting")
    cost_anomaly_threshold: float = 1.0
    alert_cooldown_ms: int = 300_000
    clock_tolerance_ms: int = 300_000  # read event times at most this far past when they were read
    restart_threshold: int = 3
    failed_session_errors: int = 4

    @classmethod
    def from_settings(cls, settings: config.Settings, **overrides: Any) -> "WatchConfig":
        """Settings first, then `[watch]` keys of the same names, then explicit overrides."""
        names = {f.name for f in fields(cls)}
        values = {n: settings.values[n] for n in names if n in settings.values}
        values.setdefault("tool_repeat_threshold", values.get("tool_loop_threshold", cls.tool_repeat_threshold))
        values.update({k: v for k, v in settings.section("watch").items() if k in names})
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
