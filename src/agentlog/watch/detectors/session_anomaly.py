"""session_anomaly: a session unlike its cohort at the same step (cost, tokens, tool calls,
errors, repeats, tool mix).

The cohort baselines (agentlog.risk.cohort) are fitted from the history by `agentlog risk
baselines` into the log's state/ folder and read once when the watch starts: each alert
depends only on the attempt's own events and that file, so a replay and the live watch,
and a watch restarted after a kill, give the same alerts. Cold start: without the file,
or for a cohort (or a step index) with fewer than `session_anomaly_min_sessions` sessions
in it, nothing is judged. One alert per session, naming the metric furthest from its
cohort and how far.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from ...config import ConfigError
from ...risk import cohort
from ...risk.features import AGENT_EVENTS
from . import BaseDetector, Finding, register

# what each metric means to a person reading the alert
WHAT = {
    "cost": "cost so far",
    "tokens": "tokens so far",
    "step_cost": "cost per step",
    "price": "price per token",
    "step_tokens": "tokens per step",
    "tool_calls": "tool calls per step",
    "error_rate": "errors per step",
    "repeat_ratio": "repeated calls",
    "tool_entropy": "tool-mix entropy",
    "context_jump": "context growth in one call (log)",
    "error_streak": "steps in a row failing with the same error",
    "repeat_streak": "identical calls in a row answered the same",
    "idle_streak": "model calls in a row that ran nothing",
}


class State(msgspec.Struct, gc=False, array_like=True):
    metrics: cohort.Metrics = msgspec.field(default_factory=cohort.Metrics)
    alerted: bool = False


@register
class SessionAnomaly(BaseDetector):
    name = "session_anomaly"
    State = State

    def __init__(self, config):
        super().__init__(config)
        self.baselines = None
        if config.session_anomaly and config.session_anomaly_baselines:
            try:
                self.baselines = cohort.load(Path(config.session_anomaly_baselines))
            except ValueError as exc:  # a file that is not baselines: say so, do not guess
                raise ConfigError(str(exc)) from None

    def handlers(self):
        if self.baselines is None:
            return {}  # off, or nothing fitted yet: it costs the watch nothing
        kinds = AGENT_EVENTS | {"usage", "tool_result", "error", "followup_sent", "status_change", "session_end"}
        return {**dict.fromkeys(kinds, self.on_event), "session_start": self.on_start}

    def on_start(self, event, t, attempt):
        attempt.slots.pop(self.name, None)  # judged per session

    def on_event(self, event, t, attempt):
        state = self.state(attempt)
        if not state.metrics.take(event) or state.alerted:
            return None
        verdict = self.baselines.judge(state.metrics, attempt.executor, self.config.session_anomaly_min_sessions)
        if verdict is None or verdict.score <= 1.0:
            return None
        state.alerted = True
        what = WHAT[verdict.metric]
        return Finding(
            "session_anomaly",
            "cohort",
            "high" if verdict.score >= 2 else "medium",
            "manual_review",
            {
                "occurrences": state.metrics.steps,
                "cost_usd": round(state.metrics.cost, 6),
                "message": f"{what} {verdict.value:.3g} at step {state.metrics.steps} is {verdict.z:+.1f} robust "
                f"z from its cohort {verdict.cohort} (median {verdict.median:.3g}, {verdict.sessions} sessions)",
            },
        )
