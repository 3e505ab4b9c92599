"""The `[guard]` table: each policy off|warn|ask|deny, its thresholds, the time budget.

    [guard]
    repeat = "deny"              # identical tool call (same tool, same input) N times
    repeat_threshold = 5         # default: the watchdog's tool_repeat_threshold
    error_loop = "ask"           # same error fingerprint N times in the window
    error_loop_threshold = 4     # default: the watchdog's error_loop_threshold
    spend = "deny"               # past the per-session cap (warn from spend_warn_fraction)
    spend_cap_usd = 20.0         # 0 = no cap
    spend_warn_fraction = 0.8
    stop_nudge = "deny"          # Stop on an unresolved error loop: "deny" keeps the agent going
    timeout_ms = 2000            # hard budget of one hook call; past it the call fails open

Thresholds left unset are the watchdog's own, so `watch` alerts and the guard acts on the
same condition of the same detector.
"""

from __future__ import annotations

from typing import Any, NamedTuple

ACTIONS = ("off", "warn", "ask", "deny")


class GuardConfig(NamedTuple):
    enabled: bool = True
    repeat: str = "deny"
    repeat_threshold: int | None = None
    error_loop: str = "ask"
    error_loop_threshold: int | None = None
    spend: str = "deny"
    spend_cap_usd: float = 0.0
    spend_warn_fraction: float = 0.8
    stop_nudge: str = "deny"
    timeout_ms: int = 2000
    transcript_usage: bool = True  # read token usage from the agent's transcript

    @classmethod
    def from_section(cls, table: dict[str, Any]) -> "GuardConfig":
        """Values from `[guard]`; a wrong one raises ValueError naming it."""
        values: dict[str, Any] = {}
        for name, default in cls._field_defaults.items():
            if name not in table:
                continue
            value = table[name]
            if name in ("repeat", "error_loop", "spend", "stop_nudge"):
                if value not in ACTIONS:
                    raise ValueError(f"[guard] {name} = {value!r}: use one of {', '.join(ACTIONS)}")
            elif isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"[guard] {name} = {value!r}: use true or false")
            elif name.endswith("_threshold") or name == "timeout_ms":
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise ValueError(f"[guard] {name} = {value!r}: use a whole number >= 0")
            elif not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"[guard] {name} = {value!r}: use a number >= 0")
            values[name] = value
        return cls(**values)
