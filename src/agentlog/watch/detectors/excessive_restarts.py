"""excessive_restarts: an attempt restarted (follow-up or retry session starts) too often."""

from __future__ import annotations

import msgspec

from . import BaseDetector, Finding, register

RESTART_TYPES = frozenset({"followup", "retry"})


class State(msgspec.Struct, gc=False, array_like=True):
    restarts: int = 0


@register
class ExcessiveRestarts(BaseDetector):
    name = "excessive_restarts"
    event_types = frozenset({"session_start"})
    State = State
    keep_after_end = True  # restarts are counted across the sessions of one attempt

    def on_event(self, event, t, attempt):
        prompt_type = event.data.prompt_type
        if type(prompt_type) is not str or prompt_type not in RESTART_TYPES:  # a list would not hash
            return None
        state = self.state(attempt)
        state.restarts += 1
        n = self.config.restart_threshold
        if n <= 0 or state.restarts < n:
            return None
        return Finding(
            "excessive_restarts",
            "",
            "medium",
            "manual_review",
            {"occurrences": state.restarts, "threshold": n, "message": f"{state.restarts} follow-up/retry sessions"},
        )
