"""stuck_agent: a started, unfinished attempt with no event for `stuck_threshold_ms`.

Driven by the clock, not by events: the engine asks with the wall clock when live (and
the stream's own clock while catching up), and also when an attempt's next event shows
it was idle that long, so a replay finds the same alerts as a live run. One alert per
idle period (the id is the last event before it); activity re-arms it.
"""

from __future__ import annotations

from . import BaseDetector, Finding, register


@register
class StuckAgent(BaseDetector):
    name = "stuck_agent"

    def __init__(self, config):
        super().__init__(config)
        self.idle_after_s = config.stuck_threshold_ms / 1000

    def on_clock(self, attempt, now):
        idle = now - attempt.last_time
        if attempt.idle_alerted or idle < self.idle_after_s:
            return None
        attempt.idle_alerted = True
        severity = "high" if idle >= 3 * self.idle_after_s else "medium"
        return Finding("stuck_agent", "", severity, "check_agent_health",
                       {"idle_time_ms": round(idle * 1000), "threshold": self.config.stuck_threshold_ms,
                        "message": f"no event for {_span(idle)}"},
                       trigger=attempt.last_event_id(), cooldown=False)


def _span(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
