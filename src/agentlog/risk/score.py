"""Risk of one attempt, step by step: the features of each closed step, scored by the model.

The watch detector and `agentlog risk --replay` both go through `step_risk`, so a replay
of the log gives the scores and the alerts the live watch gave.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from .features import State, Tracker
from .model import Model


@dataclass
class StepRisk:
    step: int
    risk: float
    alert: bool  # over the cohort's threshold while the run goes on (a step closed by the end is scored, never alerted)
    vector: list[float]


def step_risk(state: State, event, model: Model) -> StepRisk | None:
    """Count `event` into `state`; the scored step it closed, if any."""
    closed = Tracker(state).feed(event)
    if closed is None:
        return None
    step, vector = closed
    risk = model.score(vector, event.executor)
    live = event.event_type != "session_end"
    return StepRisk(step, risk, live and risk > model.threshold(event.executor), vector)


@dataclass
class Curve:
    """One attempt's risk curve, and what was still to be spent when it first alerted."""

    attempt_id: str
    executor: str | None = None
    model: str | None = None
    outcome: str | None = None
    steps: int = 0
    scores: list[list[float]] = field(default_factory=list)
    first_alert_step: int | None = None
    drivers: list[tuple[str, float, float]] = field(default_factory=list)
    spent_at_alert: dict[str, float] | None = None
    spent: dict[str, float] = field(default_factory=dict)

    def unspent(self) -> dict[str, float] | None:
        """Tokens and dollars spent after the first alert (None: it never alerted)."""
        if self.spent_at_alert is None:
            return None
        return {k: max(0.0, self.spent[k] - self.spent_at_alert[k]) for k in self.spent}

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "attempt_id": self.attempt_id,
            "executor": self.executor,
            "model": self.model,
            "steps": self.steps,
        }
        if self.outcome is not None:
            doc["outcome"] = self.outcome
        doc["scores"] = [[step, round(risk, 4)] for step, risk in self.scores]
        doc["first_alert_step"] = self.first_alert_step
        return doc


def curves(events: Iterable, model: Model) -> Iterator[Curve]:
    """Risk curves of every attempt in `events` (watch-view events, each attempt's in order)."""
    states: dict[str, State] = {}
    found: dict[str, Curve] = {}
    for event in events:
        attempt = event.attempt_id
        if type(attempt) is not str or not attempt or event.data is None:
            continue  # the watch ignores such events too
        curve = found.get(attempt)
        if curve is None:
            curve = found[attempt] = Curve(attempt)
            states[attempt] = State()
        if event.event_type == "session_start":
            states[attempt] = State()  # as the watch: a new session starts over
            curve.scores, curve.first_alert_step, curve.spent_at_alert, curve.outcome = [], None, None, None
        curve.executor = event.executor or curve.executor
        curve.model = getattr(event, "model", None) or curve.model
        scored = step_risk(states[attempt], event, model)
        state = states[attempt]
        curve.steps = state.steps
        curve.spent = {"tokens": float(state.tokens), "cost_usd": state.cost}
        if event.event_type == "session_end":
            curve.outcome = event.data.completion_status
        if scored is None:
            continue
        curve.scores.append([scored.step, scored.risk])
        if scored.alert and curve.first_alert_step is None:
            curve.first_alert_step = scored.step
            curve.drivers = model.drivers(scored.vector, curve.executor)
            curve.spent_at_alert = dict(curve.spent)
    yield from found.values()


def matches(pattern: str | None):
    """A test of an event against FILTER: a substring (or glob, with * ? [) of its attempt id,
    task id, executor or model. None keeps everything."""
    if not pattern:
        return None
    from fnmatch import fnmatchcase

    glob = any(c in pattern for c in "*?[")

    def keep(event) -> bool:
        for value in (event.attempt_id, event.task_id, event.executor, event.model):
            if type(value) is str and (fnmatchcase(value, pattern) if glob else pattern in value):
                return True
        return False

    return keep


def replay(log_dir, model: Model, pattern: str | None = None, report=None) -> list[Curve]:
    """The risk curves of the attempts in the log that FILTER `pattern` names (see `matches`).
    An attempt is kept whole once any of its events matches."""
    from .history import read_events

    keep = matches(pattern)
    events = list(read_events(log_dir, report))
    if keep is not None:
        chosen = {e.attempt_id for e in events if keep(e)}
        events = [e for e in events if e.attempt_id in chosen]
    return list(curves(events, model))


def session_curve(log_dir, attempt_id: str, model: Model) -> Curve | None:
    """The risk curve of one attempt, from its transcript (None: it has no steps)."""
    import msgspec

    from ..store.reader import read_session
    from ..watch.view import WatchEvent

    decoder = msgspec.json.Decoder(WatchEvent)  # the line as the watch reads it
    events = [
        decoder.decode(msgspec.json.encode(event))
        for event in read_session(log_dir, attempt_id)
        if isinstance(event.get("data"), dict)
    ]
    found = list(curves(events, model))
    return found[0] if found and found[0].scores else None


def curve_points(curve: Curve, width: float = 600.0, height: float = 80.0) -> str:
    """SVG polyline points of a curve: step across, risk up."""
    last = max(curve.scores[-1][0], 1)
    return " ".join(f"{step / last * width:.1f},{height - risk * height:.1f}" for step, risk in curve.scores)
