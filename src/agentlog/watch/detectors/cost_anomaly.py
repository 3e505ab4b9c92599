"""cost_anomaly: the running cost of a session crosses the threshold (and its doublings).

Raised when crossed, from usage events, not only at the session end; crossing 2x and 4x
raises again with rising severity. A session that reports its cost only in session_end
is judged there.
"""

from __future__ import annotations

import math

import msgspec

from . import BaseDetector, Finding, register

SEVERITY = {1: "low", 2: "medium"}  # 4x and more: high


class State(msgspec.Struct, gc=False, array_like=True):
    cost: float = 0.0
    level: int = 0  # highest multiple (1, 2, 4, ...) already raised


def _number(value) -> float:
    return float(value) if type(value) is float or type(value) is int else 0.0  # bool is not a number here


@register
class CostAnomaly(BaseDetector):
    name = "cost_anomaly"
    event_types = frozenset({"session_start", "usage", "session_end"})
    State = State

    def on_event(self, event, t, attempt):
        kind, data = event.event_type, event.data
        if kind == "session_start":
            attempt.slots.pop(self.name, None)  # cost is per session
            return None
        if data is None:
            return None
        state = attempt.slots.get("cost_anomaly")
        if state is None:
            state = attempt.slots["cost_anomaly"] = State()
        if kind == "usage":
            state.cost += _number(data.cost_usd)
        elif state.cost == 0:
            state.cost = _number(data.cost_usd)
        threshold = self.config.cost_anomaly_threshold
        if threshold <= 0 or state.cost < threshold:
            return None
        return self._check(state)

    def _check(self, state: State):
        threshold = self.config.cost_anomaly_threshold
        if threshold <= 0 or state.cost < threshold:
            return None
        level = 2 ** int(math.log2(state.cost / threshold))
        if level <= state.level:
            return None
        state.level = level
        return Finding("cost_anomaly", f"x{level}", SEVERITY.get(level, "high"), "review_prompt_efficiency",
                       {"cost_usd": round(state.cost, 6), "threshold": threshold,
                        "message": f"session cost ${state.cost:.2f} crossed {level}x ${threshold:g}"})
