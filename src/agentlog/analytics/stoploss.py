"""Stop-loss: the failure-risk threshold at which stopping runs saves the most for a bounded
loss of resolved tasks, chosen on one fold of tasks and measured on the other.

The bound is kept with confidence, not on average: a threshold qualifies only when the
one-sided 95% upper bound (Clopper-Pearson) of the share of runs it would have cost their
resolution stays within the bound. The most saving threshold whose *observed* loss fits is,
among many thresholds, the one that was lucky on this sample, so new runs tend to lose more
(docs/risk.md, "Stop-loss on the labelled runs").
Thresholds are tried from the most cautious down and the first that fails ends the search
(fixed-sequence testing, as in Learn then Test): a lower threshold only stops more runs
earlier, so no correction for having tried many is needed. Small histories can therefore
not qualify any threshold: with no resolved run lost, the bound falls to 2 pp at ~150 runs.

Risk scores come as JSON lines from `agentlog risk --replay --format json`, one object per
attempt: {"attempt_id", "executor", "model", "steps", "outcome", "scores": [[step, risk], ...],
"first_alert_step"}.  A run stopped at step s of n is taken to save the share (n - s) / n
of its cost (cost spread evenly over steps: the scores file has no per-step cost).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

RESOLVED = frozenset({"success", "resolved", "completed", "true", "1"})
CONFIDENCE = 0.95  # one-sided: how sure the chosen threshold keeps its loss within the bound


@dataclass(frozen=True)
class Scored:
    attempt_id: str
    steps: int
    resolved: bool
    scores: tuple[tuple[int, float], ...]
    cost_usd: float = 0.0
    group: str = ""  # runs of one task share a fold


def read_scores(path: Path | str) -> tuple[list[dict[str, Any]], list[str]]:
    """The score records of a JSON-lines file (one per attempt: the last), and `file:line: reason`
    for each line skipped."""
    records: dict[str, dict[str, Any]] = {}
    bad: list[str] = []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            reason = None
            try:
                record = json.loads(raw)
            except (ValueError, RecursionError):
                record, reason = None, "not JSON"
            if reason is None:
                reason = _problem(record)
            if reason:
                bad.append(f"{path}:{number}: {reason}")
            else:
                records[record["attempt_id"]] = record  # scored again later: the last one counts
    return list(records.values()), bad


def _problem(record: Any) -> str | None:
    if not isinstance(record, dict):
        return "not an object"
    if not isinstance(record.get("attempt_id"), str):
        return "no attempt_id"
    steps = record.get("steps")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        return "steps is not a count"
    scores = record.get("scores")
    if not isinstance(scores, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(_finite(v) for v in p) for p in scores
    ):
        return "scores is not a list of [step, risk]"
    return None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def resolved(outcome: Any) -> bool:
    return str(outcome).lower() in RESOLVED


def scored(record: dict[str, Any], cost_usd: float, group: str | None = None) -> Scored:
    return Scored(
        record["attempt_id"],
        record["steps"],
        resolved(record.get("outcome")),
        tuple((int(s), float(r)) for s, r in record["scores"]),
        cost_usd,
        group or record["attempt_id"],
    )


def stop_step(run: Scored, threshold: float) -> int | None:
    """The first step whose risk reaches `threshold` before the run's end, or None."""
    return next((step for step, risk in run.scores if risk >= threshold and step < run.steps), None)


def outcome(runs: Iterable[Scored], threshold: float) -> tuple[float, float, int, int]:
    """(USD saved, USD spent, resolved runs lost, runs) when stopping at `threshold`."""
    saved = spent = 0.0
    lost = count = 0
    for run in runs:
        count += 1
        spent += run.cost_usd
        step = stop_step(run, threshold)
        if step is not None and run.steps:
            saved += run.cost_usd * (run.steps - step) / run.steps
            lost += run.resolved
    return saved, spent, lost, count


def curve(runs: Iterable[Scored]) -> tuple[Any, Any, Any]:
    """The thresholds at which stopping changes (a run's new highest risk before its end), from
    the highest down, with the USD saved and resolved runs lost when stopping at each: `outcome`
    at every threshold, in one sweep."""
    import numpy as np

    values: list[float] = []
    saved: list[float] = []
    lost: list[bool] = []
    for run in runs:
        if not run.steps:
            continue
        highs: list[tuple[float, int]] = []  # (risk, step) of each new running maximum before the end
        for step, risk in run.scores:
            if step < run.steps and (not highs or risk > highs[-1][0]):
                highs.append((risk, step))
        later = run.steps  # going down, the highest record stops the run first; each lower one earlier
        for i, (risk, step) in enumerate(reversed(highs)):
            values.append(risk)
            saved.append(run.cost_usd * (later - step) / run.steps)
            lost.append(run.resolved and i == 0)
            later = step
    order = np.argsort(-np.array(values, dtype=float), kind="stable")
    thresholds = np.array(values, dtype=float)[order]
    last = np.diff(thresholds, append=-math.inf) != 0  # a tied threshold counts all its runs
    return (
        thresholds[last],
        np.cumsum(np.array(saved, dtype=float)[order])[last],
        np.cumsum(np.array(lost, dtype=int)[order])[last],
    )


def lost_bound_pp(lost: Any, runs: int) -> Any:
    """The one-sided CONFIDENCE upper bound (Clopper-Pearson) of the share of runs lost, in points."""
    from statsmodels.stats.proportion import proportion_confint

    _, high = proportion_confint(lost, runs, alpha=2 * (1 - CONFIDENCE), method="beta")
    return 100.0 * high


def choose(runs: list[Scored], max_loss_pp: float) -> float | None:
    """The threshold saving the most among those whose loss of resolved runs is at most
    `max_loss_pp` points at CONFIDENCE, tried from the most cautious down (see the module)."""
    import numpy as np

    thresholds, saved, lost = curve(runs)
    if not len(thresholds):
        return None
    within = lost_bound_pp(lost, len(runs)) <= max_loss_pp
    tried = len(within) if within.all() else int(np.argmin(within))  # up to the first that fails
    if not tried or saved[:tried].max() <= 0:
        return None
    return float(thresholds[int(np.argmax(saved[:tried]))])  # the most cautious of the most saving


def fold_of(group: str) -> int:
    return hashlib.sha256(group.encode()).digest()[0] & 1


@dataclass
class StopLoss:
    threshold: float | None  # chosen on all runs: what to configure
    saved_pct: float  # held out: chosen on one fold, measured on the other, both ways, pooled
    lost_pp: float
    lost: int
    runs: int
    saved_usd: float
    spent_usd: float
    thresholds_by_fold: list[float | None]


def stop_loss(runs: list[Scored], max_loss_pp: float = 2.0) -> StopLoss:
    """Cross-fitted: each fold's threshold is measured on the other fold only."""
    folds = [[r for r in runs if fold_of(r.group) == k] for k in (0, 1)]
    chosen = [choose(folds[k], max_loss_pp) for k in (0, 1)]
    saved = spent = 0.0
    lost = count = 0
    for k in (0, 1):
        held_out = folds[1 - k]
        if chosen[k] is None:
            _, s, _, n = outcome(held_out, math.inf)
            spent, count = spent + s, count + n
            continue
        a, s, lo, n = outcome(held_out, chosen[k])
        saved, spent, lost, count = saved + a, spent + s, lost + lo, count + n
    return StopLoss(
        choose(runs, max_loss_pp),
        100.0 * saved / spent if spent else 0.0,
        100.0 * lost / count if count else 0.0,
        lost,
        count,
        saved,
        spent,
        chosen,
    )
