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

    def __init__(self, config):
        super().__init__(config)
        threshold = config.cost_anomaly_threshold
        self.threshold = threshold if threshold > 0 else math.inf  # below it nothing is checked

    def handlers(self):
        return {"session_start": self.on_start, "usage": self.on_usage, "session_end": self.on_end}

    def on_start(self, event, t, attempt):
        attempt.slots.pop("cost_anomaly", None)  # cost is per session

    def on_usage(self, event, t, attempt):
        state = attempt.slots.get("cost_anomaly")
        if state is None:
            state = attempt.slots["cost_anomaly"] = State()
        cost = event.data.cost_usd
        if type(cost) is float or type(cost) is int:  # bool is not a number here
            state.cost += cost
        return None if state.cost < self.threshold else self._check(state)

    def on_end(self, event, t, attempt):
        state = attempt.slots.get("cost_anomaly")
        if state is None:
            state = attempt.slots["cost_anomaly"] = State()
        if state.cost == 0:
            state.cost = _number(event.data.cost_usd)
        return None if state.cost < self.threshold else self._check(state)

    def _check(self, state: State):
        threshold = self.config.cost_anomaly_threshold
        if threshold <= 0 or state.cost < threshold or not math.isfinite(state.cost):  # 1e308 twice: inf
            return None
        level = 2 ** int(math.log2(state.cost / threshold))
        if level <= state.level:
            return None
        state.level = level
        return Finding(
            "cost_anomaly",
            f"x{level}",
            SEVERITY.get(level, "high"),
            "review_prompt_efficiency",
            {
                "cost_usd": round(state.cost, 6),
                "threshold": threshold,
                "message": f"session cost ${state.cost:.2f} crossed {level}x ${threshold:g}",
            },
        )
