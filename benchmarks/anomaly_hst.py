"""The other combiner issue 22 names: river's HalfSpaceTrees over the same per-metric robust z.

`anomaly_eval.py --hst` runs it beside the detector on the same folds and plants. Each point
the detector judges becomes the vector of its metrics' robust z against the session's cohort
baselines at that step (the same baselines: only the combination differs), clipped to
[-8, 8]. One forest per fold learns the training sessions' points; its threshold is the
(1 - alpha) quantile of the training sessions' highest scores, each half scored by a forest
that learnt the other half (as the detector's threshold is cross-fitted). A session alerts
at the first point scored above it.
"""

from __future__ import annotations

import json
from typing import Any

from agentlog.risk import cohort

CLIP = 8.0
TREES, HEIGHT, WINDOW = 25, 15, 250


def _forest(seed: int):
    from river.anomaly import HalfSpaceTrees  # optional: pip install river

    limits = {i: (-CLIP, CLIP) for i in range(len(cohort.NAMES))}
    return HalfSpaceTrees(n_trees=TREES, height=HEIGHT, window_size=WINDOW, limits=limits, seed=seed)


def _vector(baselines: cohort.Baselines, metrics: cohort.Metrics, executor: Any) -> dict[int, float] | None:
    chosen = baselines.cohort_of(metrics.cohort(executor, baselines.keys), cohort.MIN_SESSIONS)
    if chosen is None:
        return None
    _, found = chosen
    if not any(found.bases(metrics.steps)):
        return None
    zs = found.z_scores(metrics.steps, metrics.values(found.prices))
    return {i: 0.0 if z is None else max(-CLIP, min(CLIP, z)) for i, z in enumerate(zs)}


def _points(baselines: cohort.Baselines, trace: cohort.Trace) -> list[dict[int, float]]:
    found = (_vector(baselines, metrics, trace.executor) for _, metrics in trace.points)
    return [x for x in found if x is not None]


def _learn(points: list[list[dict[int, float]]], seed: int):
    forest = _forest(seed)
    for session in points:
        for x in session:
            forest.learn_one(x)
    return forest


class HstCombiner:
    """One fold's forest and threshold over the fold's training traces."""

    def __init__(self, baselines: cohort.Baselines, train: list[cohort.Trace], alpha: float, seed: int):
        self.baselines = baselines
        points = [_points(baselines, trace) for trace in train]
        halves = (points[0::2], points[1::2])
        highest = []
        for half, other in zip(halves, reversed(halves)):
            judge = _learn(other, seed)
            highest += [max((judge.score_one(x) for x in session), default=0.0) for session in half]
        highest.sort()
        self.threshold = highest[min(len(highest) - 1, int((1 - alpha) * len(highest)))]
        self.forest = _learn(points, seed)

    def watch(self, decode, events: list[dict]) -> int | None:
        """The index of the event the session alerts at, or None."""
        metrics, executor = cohort.Metrics(), None
        for i, event in enumerate(events):
            view = decode(json.dumps(event).encode())
            if view.data is None:
                continue
            if view.event_type == "session_start":
                metrics = cohort.Metrics()
            executor = executor or view.executor
            if not metrics.take(view):
                continue
            x = _vector(self.baselines, metrics, executor)
            if x is not None and self.forest.score_one(x) > self.threshold:
                return i
        return None
