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
import warnings
from dataclasses import dataclass
from typing import Sequence

from .features import NAMES
from .model import CLIP, Linear, Model

MIN_RUNS = 20  # fewer labelled runs than this (or fewer than MIN_CLASS of either outcome): too little
MIN_CLASS = 5
MIN_CALIBRATION = 9  # successful runs a cohort needs for a threshold at alpha 0.1 ((n+1)*0.9 <= n)
DEFAULT_C = 0.3  # inverse regularisation of a regression, when it is not tuned
C_CHOICES = (0.01, 0.03, 0.1, 0.3, 1.0)
TUNE_FOLDS = 3
POOLED = None  # the key of the pooled regression in `tuned` (cohorts are named by strings)


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


def _design(runs: Sequence[Labelled], cohorts: Sequence[str]):
    """Standardised (and clipped) step rows of `runs`, with a one-hot cohort column each when
    there are several cohorts; their labels, weights (each run counts once) and groups."""
    rows = [vector for run in runs for vector in run.vectors]
    n = len(NAMES)
    mean = [sum(r[j] for r in rows) / len(rows) for j in range(n)]
    scale = [math.sqrt(sum((r[j] - mean[j]) ** 2 for r in rows) / len(rows)) or 1.0 for j in range(n)]
    index = {name: i for i, name in enumerate(cohorts)} if len(cohorts) > 1 else {}
    design, labels, weights, groups = [], [], [], []
    for run in runs:
        onehot = [0.0] * len(index)
        if (run.executor or "") in index:
            onehot[index[run.executor or ""]] = 1.0
        for vector in run.vectors:
            design.append([min(CLIP, max(-CLIP, (x - m) / s)) for x, m, s in zip(vector, mean, scale)] + onehot)
            labels.append(int(run.failed))
            weights.append(1.0 / len(run.vectors))
            groups.append(run.group)
    return mean, scale, index, design, labels, weights, groups


def _regression(runs: Sequence[Labelled], cohorts: Sequence[str], c: float) -> tuple[Linear, dict[str, float]]:
    """One regression on all steps of `runs`, with an intercept offset per cohort when
    there are several."""
    LogisticRegression = _sklearn()
    mean, scale, index, design, labels, weights, _ = _design(runs, cohorts)
    learner = LogisticRegression(C=c, max_iter=2000)
    learner.fit(design, labels, sample_weight=weights)
    coef = [float(w) for w in learner.coef_[0]]
    n = len(NAMES)
    offsets = {name: coef[n + i] for name, i in index.items()}
    return Linear(mean, scale, coef[:n], float(learner.intercept_[0])), offsets


def choose_c(runs: Sequence[Labelled], cohorts: Sequence[str]) -> float:
    """The regularisation that ranks held-out runs' steps best (AUROC), by grouped
    cross-validation (a task's reruns in one fold): a cohort with little signal gets a
    strong prior, one with much a weak one. DEFAULT_C when the runs are too few to tell."""
    from sklearn.linear_model import LogisticRegressionCV

    _, _, _, design, labels, weights, groups = _design(runs, cohorts)
    names = sorted(set(groups))
    random.Random(0).shuffle(names)
    fold = {g: i % TUNE_FOLDS for i, g in enumerate(names)}
    splits = []
    for k in range(TUNE_FOLDS):
        held = [i for i, g in enumerate(groups) if fold[g] == k]
        kept = [i for i, g in enumerate(groups) if fold[g] != k]
        if len({labels[i] for i in held}) < 2 or len({labels[i] for i in kept}) < 2:
            return DEFAULT_C
        splits.append((kept, held))
    learner = LogisticRegressionCV(Cs=list(C_CHOICES), cv=splits, scoring="roc_auc", max_iter=2000)
    with warnings.catch_warnings():  # scikit-learn 1.8+ announces changes to defaults this does not use
        warnings.simplefilter("ignore", FutureWarning)
        learner.fit(design, labels, sample_weight=weights)
    return float(learner.C_[0])


def fit(
    runs: Sequence[Labelled],
    *,
    cohorts: Sequence[str] | None = None,
    c: float = DEFAULT_C,
    tuned: dict[str | None, float] | None = None,
) -> Model:
    """A model fitted on all steps of `runs` (no thresholds yet: see `calibrate`): a pooled
    regression, and where there are several cohorts, one of its own for each cohort with
    enough runs of both outcomes. `tuned`: the regularisation of each (POOLED for the
    pooled one), else `c`."""
    check_enough(runs)
    tuned = tuned or {}
    cohorts = sorted(cohorts if cohorts is not None else {r.executor or "" for r in runs})
    pooled, offsets = _regression(runs, cohorts, tuned.get(POOLED, c))
    own = {}
    for name, mine in _own_cohorts(runs, cohorts).items():
        own[name] = _regression(mine, [name], tuned.get(name, c))[0]
    return Model(list(NAMES), pooled.mean, pooled.scale, pooled.coef, pooled.intercept, offsets, own=own)


def _own_cohorts(runs: Sequence[Labelled], cohorts: Sequence[str]) -> dict[str, list[Labelled]]:
    """The cohorts that get a regression of their own (when there are several): their runs."""
    if len(cohorts) < 2:
        return {}
    found = {name: [r for r in runs if (r.executor or "") == name] for name in cohorts}
    return {name: mine for name, mine in found.items() if _enough(mine)}


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
    tuned = {POOLED: choose_c(runs, cohorts)}  # once, on all runs: the calibration folds use it too
    tuned.update({name: choose_c(mine, [name]) for name, mine in _own_cohorts(runs, cohorts).items()})
    highest: dict[str, list[float]] = {}
    parts = split_groups(runs, folds, seed)
    for i, held in enumerate(parts):
        rest = [r for j, part in enumerate(parts) if j != i for r in part]
        try:
            partial = fit(rest, cohorts=cohorts, tuned=tuned)
        except TooLittle:
            continue
        for cohort, scores in highest_risk(partial, held).items():
            highest.setdefault(cohort, []).extend(scores)
    model = fit(runs, cohorts=cohorts, tuned=tuned)
    model.thresholds, model.alpha = thresholds_of(highest, alpha), alpha
    model.meta = {
        "runs": len(runs),
        "failed": sum(r.failed for r in runs),
        "executors": cohorts,
        "calibration_successes": {k: len(v) for k, v in sorted(highest.items())},
        "regularisation": {("pooled" if k is POOLED else k): v for k, v in tuned.items()},
    }
    return model
