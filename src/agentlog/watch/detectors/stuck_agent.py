"""stuck_agent: a started, unfinished attempt with no event for `stuck_threshold_ms`.

Driven by the clock, not by events: the engine asks when an attempt's next event shows it
was idle that long (whatever other attempts did meanwhile), and with the wall clock once it
has read everything there is, so a replay finds the same alerts as a live run. One alert
per idle period (the id is the last event before it); activity re-arms it. A gap to or from
an approximate or synthetic time is not measured (the engine never asks about it); a
threshold of 0 turns the check off.

An attempt whose latest event is a status_change to one of `waiting_statuses` (the
hooks write `turn_complete` when an interactive turn ends and `waiting` when the agent
asks its user) is waiting for a person, not stuck: its idle period passes without an
alert, and the engine may let it go like an alerted one.
"""

from __future__ import annotations

import msgspec

from . import BaseDetector, Finding, register


class State(msgspec.Struct, gc=False, array_like=True):
    waiting_at: float = -1.0  # event time of the latest status_change to a waiting status


@register
class StuckAgent(BaseDetector):
    name = "stuck_agent"
    event_types = frozenset({"status_change"})
    State = State

    def __init__(self, config):
        super().__init__(config)
        threshold = config.stuck_threshold_ms
        self.idle_after_s = threshold / 1000 if threshold > 0 else None  # 0 disables the check
        self.waiting_statuses = frozenset(config.waiting_statuses)

    def handlers(self):
        return {"status_change": self._status_change}

    def _status_change(self, event, t, attempt):
        status = event.data.status
        if type(status) is str and status in self.waiting_statuses:
            self.state(attempt).waiting_at = t
        return None

    def on_clock(self, attempt, now):
        idle = now - attempt.last_time
        if attempt.idle_alerted or idle < self.idle_after_s:
            return None
        attempt.idle_alerted = True  # this idle period is dealt with, alert or not
        state = attempt.slots.get(self.name)
        if state is not None and state.waiting_at >= attempt.last_time:
            return None  # waiting for its user since its latest event
        severity = "high" if idle >= 3 * self.idle_after_s else "medium"
        return Finding(
            "stuck_agent",
            "",
            severity,
            "check_agent_health",
            {
                "idle_time_ms": round(idle * 1000),
                "threshold": self.config.stuck_threshold_ms,
                "message": f"no event for {_span(idle)}",
            },
            trigger=attempt.last_event_id(),
            cooldown=False,
        )


def _span(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
