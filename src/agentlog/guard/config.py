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

from ..config import default


class GuardConfig(NamedTuple):
    enabled: bool = default("guard.enabled")
    repeat: str = default("guard.repeat")
    repeat_threshold: int | None = default("guard.repeat_threshold")
    error_loop: str = default("guard.error_loop")
    error_loop_threshold: int | None = default("guard.error_loop_threshold")
    spend: str = default("guard.spend")
    spend_cap_usd: float = default("guard.spend_cap_usd")
    spend_warn_fraction: float = default("guard.spend_warn_fraction")
    stop_nudge: str = default("guard.stop_nudge")
    timeout_ms: int = default("guard.timeout_ms")
    transcript_usage: bool = default("guard.transcript_usage")  # read token usage from the agent's transcript

    @classmethod
    def from_section(cls, table: dict[str, Any]) -> "GuardConfig":
        """From `Settings.section("guard")`: values already parsed and checked by `agentlog.config`."""
        return cls(**{name: table[name] for name in cls._fields if name in table})
