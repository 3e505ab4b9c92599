"""risk: the attempt is going the way failed runs go, while there is time to stop it.

After each step (a model call and its results) the attempt's features so far are scored
by the failure-risk model (agentlog.risk: a logistic regression, pure Python, microseconds
a step). Over its cohort's conformal threshold, one `failure_risk` alert per session says
how high, at which step, and which features drove it. `agentlog risk --replay` scores the
log through the same `step_risk`, so it gives the curves and the alerts the watch gave.
"""

from __future__ import annotations

import math

import msgspec

from ...config import ConfigError
from ...risk.features import AGENT_EVENTS, State as Features
from ...risk.model import load
from ...risk.score import step_risk
from . import BaseDetector, Finding, register


class State(msgspec.Struct, gc=False, array_like=True):
    features: Features = msgspec.field(default_factory=Features)
    alerted: bool = False


@register
class Risk(BaseDetector):
    name = "risk"
    event_types = AGENT_EVENTS | {
        "usage",
        "tool_result",
        "error",
        "session_start",
        "followup_sent",
        "status_change",
        "session_end",
    }
    State = State

    def __init__(self, config):
        super().__init__(config)
        try:
            self.model = load()
        except ValueError as exc:  # AGENTLOG_RISK_MODEL names a file that is no model: say so, do not guess
            raise ConfigError(str(exc)) from None
        # a cohort the model never alerts for costs the watch nothing: no event of it is decoded
        self.executors = frozenset(k for k, t in self.model.thresholds.items() if math.isfinite(t))

    def on_event(self, event, t, attempt):
        if self.model.threshold(event.executor) == math.inf:
            return None  # a cohort the model never alerts for costs the watch nothing
        if event.event_type == "session_start":
            attempt.slots.pop(self.name, None)  # risk is per session
        state = self.state(attempt)
        scored = step_risk(state.features, event, self.model)
        if scored is None or not scored.alert or state.alerted:
            return None
        state.alerted = True
        threshold = self.model.threshold(event.executor)
        drivers = ", ".join(
            f"{name} {value:.3g} (+{part:.2f})"
            for name, value, part in self.model.drivers(scored.vector, event.executor)
        )
        return Finding(
            "failure_risk",
            "risk",
            "high" if scored.risk >= 0.9 else "medium",
            "fresh_session",
            {
                "occurrences": scored.step,
                "threshold": round(threshold, 4),
                "cost_usd": round(state.features.cost, 6),
                "message": f"failure risk {scored.risk:.2f} over {threshold:.2f} at step {scored.step}; "
                f"driven by {drivers or 'the cohort baseline'}",
            },
        )
