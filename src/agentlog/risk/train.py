"""Fit the failure-risk model on labelled runs (scikit-learn: `pip install 'agentlog[ml]'`).

Every step of every run is a sample (its features so far, the run's outcome), weighted so
that each run counts once whatever its length: the model learns to score a run at any
point. Each executor with enough runs of both outcomes gets its own regression (base rates
differ tenfold between agents, and so does what a feature means); a pooled one, with an
intercept per executor, scores the others.
The alert threshold of each cohort is set by cross-conformal calibration: each successful
run's highest live risk under a model fitted without its fold; the threshold is the
ceil((n+1)(1-alpha))-th smallest of those n, so a new successful run alerts with
probability at most about alpha.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Sequence

from .features import NAMES
from .model import CLIP, Linear, Model

MIN_RUNS = 20  # fewer labelled runs than this (or fewer than MIN_CLASS of either outcome): too little
MIN_CLASS = 5
MIN_CALIBRATION = 9  # successful runs a cohort needs for a threshold at alpha 0.1 ((n+1)*0.9 <= n)


class TooLittle(ValueError):
    """Not enough labelled runs to fit or calibrate."""


@dataclass
class Labelled:
    """A run's features per step and whether it failed; `group` keeps reruns of one task together."""

    vectors: list[list[float]]
    live: int  # how many of the steps were scored while the run went on
    failed: bool
    executor: str | None
    group: str


def _sklearn():
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise RuntimeError("training needs scikit-learn: pip install 'agentlog[ml]'") from None
    return LogisticRegression


def _enough(runs: Sequence[Labelled]) -> bool:
    failed = sum(r.failed for r in runs)
    return len(runs) >= MIN_RUNS and min(failed, len(runs) - failed) >= MIN_CLASS


def check_enough(runs: Sequence[Labelled]) -> None:
    if not _enough(runs):
        failed = sum(r.failed for r in runs)
        raise TooLittle(
            f"{len(runs)} labelled runs ({failed} failed, {len(runs) - failed} succeeded): "
            f"need at least {MIN_RUNS}, with {MIN_CLASS} of each outcome"
        )


def _regression(runs: Sequence[Labelled], cohorts: Sequence[str], c: float) -> tuple[Linear, dict[str, float]]:
    """One regression on all steps of `runs`, with an intercept offset per cohort when
    there are several."""
    LogisticRegression = _sklearn()
    rows, labels, weights = [], [], []
    for run in runs:
        for vector in run.vectors:
            rows.append(vector)
            labels.append(int(run.failed))
            weights.append(1.0 / len(run.vectors))
    n = len(NAMES)
    mean = [sum(r[j] for r in rows) / len(rows) for j in range(n)]
    scale = [math.sqrt(sum((r[j] - mean[j]) ** 2 for r in rows) / len(rows)) or 1.0 for j in range(n)]
    index = {name: i for i, name in enumerate(cohorts)}
    design = []
    for run in runs:
        onehot = [0.0] * len(cohorts)
        if (run.executor or "") in index and len(cohorts) > 1:
            onehot[index[run.executor or ""]] = 1.0
        for vector in run.vectors:
            design.append([min(CLIP, max(-CLIP, (x - m) / s)) for x, m, s in zip(vector, mean, scale)] + onehot)
    learner = LogisticRegression(C=c, max_iter=2000)
    learner.fit(design, labels, sample_weight=weights)
    coef = [float(w) for w in learner.coef_[0]]
    offsets = {name: coef[n + i] for name, i in index.items()} if len(cohorts) > 1 else {}
    return Linear(mean, scale, coef[:n], float(learner.intercept_[0])), offsets


def fit(runs: Sequence[Labelled], *, cohorts: Sequence[str] | None = None, c: float = 0.3) -> Model:
    """A model fitted on all steps of `runs` (no thresholds yet: see `calibrate`): a pooled
    regression, and where there are several cohorts, one of its own for each cohort with
    enough runs of both outcomes."""
    check_enough(runs)
    cohorts = sorted(cohorts if cohorts is not None else {r.executor or "" for r in runs})
    pooled, offsets = _regression(runs, cohorts, c)
    own = {}
    if len(cohorts) > 1:
        for name in cohorts:
            mine = [r for r in runs if (r.executor or "") == name]
            if _enough(mine):
                own[name] = _regression(mine, [name], c)[0]
    return Model(list(NAMES), pooled.mean, pooled.scale, pooled.coef, pooled.intercept, offsets, own=own)


def highest_risk(model: Model, runs: Sequence[Labelled]) -> dict[str, list[float]]:
    """Per cohort, each successful run's highest risk while it went on."""
    highest: dict[str, list[float]] = {}
    for run in runs:
        if not run.failed:
            top = max((model.score(v, run.executor) for v in run.vectors[: run.live]), default=0.0)
            highest.setdefault(run.executor or "", []).append(top)
    return highest


def thresholds_of(highest: dict[str, list[float]], alpha: float) -> dict[str, float]:
    """The conformal threshold of each cohort (inf: too few successful runs to promise
    anything, so never alert). An executor the model was not calibrated on never alerts:
    the promise holds only where it was measured."""
    thresholds = {}
    for cohort, scores in highest.items():
        rank = math.ceil((len(scores) + 1) * (1 - alpha))
        thresholds[cohort] = sorted(scores)[rank - 1] if rank <= len(scores) else math.inf
    return thresholds


def split_groups(runs: Sequence[Labelled], parts: int, seed: int = 0) -> list[list[Labelled]]:
    """Runs in `parts` folds by group (a task's reruns stay in one fold)."""
    groups = sorted({r.group for r in runs})
    random.Random(seed).shuffle(groups)
    fold = {g: i % parts for i, g in enumerate(groups)}
    return [[r for r in runs if fold[r.group] == i] for i in range(parts)]


def train(runs: Sequence[Labelled], *, alpha: float = 0.1, folds: int = 4, seed: int = 0) -> Model:
    """Fit on all runs; the thresholds by cross-conformal calibration: each fold's successful
    runs are scored by a model fitted without that fold, so every successful run calibrates
    (a cohort with few successes, like SWE-agent's 7%, still gets its own threshold)."""
    check_enough(runs)
    cohorts = sorted({r.executor or "" for r in runs})
    if sum(not r.failed for r in runs) < MIN_CALIBRATION:
        raise TooLittle(
            f"{sum(not r.failed for r in runs)} successful runs: need {MIN_CALIBRATION} to set "
            f"an alert threshold (label more successful runs)"
        )
    highest: dict[str, list[float]] = {}
    parts = split_groups(runs, folds, seed)
    for i, held in enumerate(parts):
        rest = [r for j, part in enumerate(parts) if j != i for r in part]
        try:
            partial = fit(rest, cohorts=cohorts)
        except TooLittle:
            continue
        for cohort, scores in highest_risk(partial, held).items():
            highest.setdefault(cohort, []).extend(scores)
    model = fit(runs, cohorts=cohorts)
    model.thresholds, model.alpha = thresholds_of(highest, alpha), alpha
    model.meta = {
        "runs": len(runs),
        "failed": sum(r.failed for r in runs),
        "executors": cohorts,
        "calibration_successes": {k: len(v) for k, v in sorted(highest.items())},
    }
    return model
