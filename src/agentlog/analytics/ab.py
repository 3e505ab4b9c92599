"""A/B tests of prompts, context files and configuration, judged on task outcomes.

A run belongs to a variant by its `session_start`: `experiment` + `variant` when an
orchestrator assigned one (`assign`), or its `context_sha256` (what shaped the agent:
CLAUDE.md / AGENTS.md, skills, MCP config, model) for the natural experiment "someone
edited AGENTS.md on Tuesday".  `compare_runs` is pure: it takes any runs, from a log
(`runs_of`) or elsewhere (benchmarks/ab_eval.py), and judges them with scipy/statsmodels:

- success: Wilson intervals per variant, a score test of the difference, McNemar on
  tasks run under both variants, the minimum detectable effect and the power at the
  current sample (below 0.8: "not enough data yet");
- cost and duration: percentile-bootstrap intervals of the means and of their ratio,
  Welch's t-test;
- Holm's correction across the metrics;
- optionally an always-valid p-value (a mixture SPRT, Johari et al. 2017) for people who
  look every day: unlike the p-values above it may be read after every run.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from .report import Result, Table, dataset
from .source import Scope, relation

CONTEXT = "context"  # the pseudo-experiment whose variants are context_sha256 values
ALPHA = 0.05
POWER = 0.8
BOOTSTRAP_RESAMPLES = 2000


@dataclass(frozen=True)
class Run:
    """One ended attempt under a variant."""

    attempt_id: str
    variant: str
    success: bool
    cost_usd: float
    duration_ms: float | None = None
    task_id: str | None = None


def assign(experiment: str, task_id: str, variants: Sequence[str] = ("A", "B")) -> str:
    """The variant of a task: a hash of (experiment, task id), so the same task always
    gets the same variant and the variants are equally likely."""
    if not variants:
        raise ValueError("at least one variant is needed")
    digest = hashlib.sha256(f"{experiment}\0{task_id}".encode()).digest()
    return variants[int.from_bytes(digest[:8], "big") % len(variants)]


# --- runs from a log --------------------------------------------------------------

_STARTS = {
    "event_type": "VARCHAR",
    "attempt_id": "VARCHAR",
    "data": "STRUCT(experiment VARCHAR, variant VARCHAR, context_sha256 VARCHAR)",
}


def _labelled(data) -> str:
    """Per attempt: the experiment, variant and context hash of its first session_start that has them."""
    starts = relation(data.source.stream_files, _STARTS)
    return f"""
        SELECT attempt_id,
               first(data.experiment) FILTER (data.experiment IS NOT NULL) AS experiment,
               first(data.variant) FILTER (data.variant IS NOT NULL) AS variant,
               first(data.context_sha256) FILTER (data.context_sha256 IS NOT NULL) AS context_sha256
        FROM {starts} WHERE event_type = 'session_start' AND attempt_id IS NOT NULL GROUP BY attempt_id"""


def experiments(source, scope: Scope = Scope()) -> list[dict[str, Any]]:
    """The experiments the log holds, with their variants and ended runs (`context`: the
    distinct context hashes)."""
    data = dataset(source)
    where, params = scope.where("s.started")
    rows = data.query(
        f"""
        SELECT coalesce(l.experiment, '{CONTEXT}') AS experiment,
               CASE WHEN l.experiment IS NULL THEN l.context_sha256 ELSE l.variant END AS variant, count(*) AS runs
        FROM sessions s JOIN ({_labelled(data)}) l USING (attempt_id)
        WHERE s.ended AND {where} AND (l.experiment IS NOT NULL AND l.variant IS NOT NULL OR l.context_sha256 IS NOT NULL)
        GROUP BY 1, 2 ORDER BY 1, 2""",
        params,
    )
    found: dict[str, dict[str, int]] = defaultdict(dict)
    for row in rows:
        found[row["experiment"]][row["variant"]] = row["runs"]
    return [
        {"experiment": name, "variants": variants, "runs": sum(variants.values())} for name, variants in found.items()
    ]


def runs_of(source, experiment: str, scope: Scope = Scope()) -> list[Run]:
    """The ended runs of `experiment` (or of the context hashes, for `context`), oldest first."""
    data = dataset(source)
    where, params = scope.where("s.started")
    variant = "l.context_sha256" if experiment == CONTEXT else "l.variant"
    chosen = "l.context_sha256 IS NOT NULL" if experiment == CONTEXT else "l.experiment = ? AND l.variant IS NOT NULL"
    rows = data.query(
        f"""
        SELECT s.attempt_id, {variant} AS variant, s.success, s.cost_usd, s.duration_ms, s.task_id
        FROM sessions s JOIN ({_labelled(data)}) l USING (attempt_id)
        WHERE s.ended AND {where} AND {chosen}
        ORDER BY s.started, s.attempt_id""",
        params + ([] if experiment == CONTEXT else [experiment]),
    )
    return [
        Run(
            r["attempt_id"],
            r["variant"],
            bool(r["success"]),
            float(r["cost_usd"] or 0.0),
            r["duration_ms"],
            r["task_id"],
        )
        for r in rows
    ]


# --- the statistics ---------------------------------------------------------------


@dataclass
class Experiment(Result):
    """The judgement of one experiment: each treatment against the control."""

    experiment: str
    control: str | None
    variants: list[dict[str, Any]] = field(default_factory=list)
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)

    def tables(self) -> list[Table]:
        return [
            Table(
                f"Experiment {self.experiment}: variants (control {self.control})",
                [
                    "variant",
                    "runs",
                    "success_pct",
                    "success_ci_pct",
                    "avg_cost_usd",
                    "cost_ci_usd",
                    "avg_duration_ms",
                    "duration_ci_ms",
                ],
                [
                    {
                        **v,
                        "success_ci_pct": _interval(v["success_ci"], 100, "%"),
                        "cost_ci_usd": _interval(v["cost_ci"], 1, "$"),
                        "duration_ci_ms": _interval(v["duration_ci"], 1, "ms"),
                    }
                    for v in self.variants
                ],
            ),
            Table(
                "Against the control",
                ["variant", "metric", "effect", "ci", "test", "p_value", "p_holm", "significant"],
                [
                    {
                        **c,
                        "effect": _effect(c),
                        "ci": _interval(c["ci"], *_units(c["metric"])),
                        "p_value": _p(c["p_value"]),
                        "p_holm": _p(c["p_holm"]),
                    }
                    for c in self.comparisons
                ],
            ),
            Table(
                "Verdict",
                ["variant", "verdict", "power", "mde_pp", "always_valid_p"],
                [
                    {**v, "power": round(v["power"], 2), "always_valid_p": _p(v["always_valid_p"])}
                    for v in self.verdicts
                ],
            ),
        ]


def compare_runs(
    runs: Iterable[Run],
    experiment: str = "",
    *,
    control: str | None = None,
    effect: float = 0.10,
    cost_effect: float = 0.20,
    alpha: float = ALPHA,
    sequential: bool = False,
    seed: int = 0,
) -> Experiment:
    """Judge each variant against `control` (default: the variant with the most runs, then by name).

    `effect` is the success-rate difference (absolute) worth detecting, `cost_effect` the
    relative cost change: the power is computed for them.  `sequential` adds the
    always-valid p-value of the success difference, over `runs` in their order (recorded order).
    """
    runs = list(runs)
    by_variant: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        by_variant[run.variant].append(run)
    if not by_variant:
        return Experiment(experiment, None)
    names = sorted(by_variant, key=lambda v: (-len(by_variant[v]), v))
    control = control if control in by_variant else names[0]
    report = Experiment(experiment, control, [_describe(v, by_variant[v], seed) for v in sorted(by_variant)])
    for name in sorted(by_variant):
        if name == control:
            continue
        rows = _against(by_variant[control], by_variant[name], alpha, seed)
        _holm(rows, alpha)
        for row in rows:
            row["variant"] = name
        report.comparisons += rows
        history = [r for r in runs if r.variant in (control, name)] if sequential else None
        report.verdicts.append(
            _verdict(name, by_variant[control], by_variant[name], rows, effect, cost_effect, alpha, history)
        )
    return report


def _describe(name: str, runs: list[Run], seed: int) -> dict[str, Any]:
    from statsmodels.stats.proportion import proportion_confint

    n, wins = len(runs), sum(r.success for r in runs)
    low, high = proportion_confint(wins, n, alpha=ALPHA, method="wilson")
    costs = [r.cost_usd for r in runs]
    durations = [r.duration_ms for r in runs if r.duration_ms is not None]
    return {
        "variant": name,
        "runs": n,
        "succeeded": wins,
        "success_pct": 100.0 * wins / n,
        "success_ci": [float(low), float(high)],
        "avg_cost_usd": sum(costs) / n,
        "cost_ci": mean_interval(costs, seed),
        "avg_duration_ms": sum(durations) / len(durations) if durations else None,
        "duration_ci": mean_interval(durations, seed),
    }


def mean_interval(values: Sequence[float], seed: int = 0) -> list[float] | None:
    """A 95% percentile-bootstrap interval of the mean; None with fewer than 2 values."""
    import numpy as np
    from scipy.stats import bootstrap

    if len(values) < 2:
        return None
    if min(values) == max(values):
        return [float(values[0])] * 2
    result = bootstrap(
        (np.asarray(values, float),),
        np.mean,
        n_resamples=BOOTSTRAP_RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return [float(result.confidence_interval.low), float(result.confidence_interval.high)]


def ratio_interval(control: Sequence[float], treatment: Sequence[float], seed: int = 0) -> list[float] | None:
    """A 95% percentile-bootstrap interval of mean(treatment) / mean(control)."""
    import numpy as np
    from scipy.stats import bootstrap

    if len(control) < 2 or len(treatment) < 2 or not any(control):
        return None

    def ratio(t, c, axis=-1):
        below = np.mean(c, axis=axis)
        return np.mean(t, axis=axis) / np.where(below == 0, np.nan, below)

    result = bootstrap(
        (np.asarray(treatment, float), np.asarray(control, float)),
        ratio,
        vectorized=True,
        n_resamples=BOOTSTRAP_RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    return None if math.isnan(low) or math.isnan(high) else [float(low), float(high)]


def success_test(control: list[bool], treatment: list[bool]) -> tuple[float, float | None]:
    """(treatment rate - control rate, the score test's two-sided p-value)."""
    from statsmodels.stats.proportion import test_proportions_2indep

    n_c, n_t, w_c, w_t = len(control), len(treatment), sum(control), sum(treatment)
    diff = w_t / n_t - w_c / n_c
    if w_c + w_t in (0, n_c + n_t):
        return diff, 1.0  # no variation at all: nothing to reject
    with warnings.catch_warnings():  # an arm with no success: its odds ratio is infinite, the test is fine
        warnings.simplefilter("ignore", RuntimeWarning)
        result = test_proportions_2indep(w_t, n_t, w_c, n_c, method="score")
    return diff, float(result.pvalue)


def welch(control: Sequence[float], treatment: Sequence[float]) -> float | None:
    """Welch's t-test p-value, None when it cannot be computed."""
    from scipy.stats import ttest_ind

    if len(control) < 2 or len(treatment) < 2:
        return None
    p = ttest_ind(treatment, control, equal_var=False).pvalue
    return None if math.isnan(p) else float(p)


def _against(control: list[Run], treatment: list[Run], alpha: float, seed: int) -> list[dict[str, Any]]:
    from statsmodels.stats.proportion import confint_proportions_2indep

    c_ok, t_ok = [r.success for r in control], [r.success for r in treatment]
    diff, p = success_test(c_ok, t_ok)
    low, high = confint_proportions_2indep(sum(t_ok), len(t_ok), sum(c_ok), len(c_ok), method="newcomb")
    rows = [{"metric": "success", "effect_value": diff, "ci": [float(low), float(high)], "test": "score", "p_value": p}]
    for metric, values in (("cost", lambda r: r.cost_usd), ("duration", lambda r: r.duration_ms)):
        c = [values(r) for r in control if values(r) is not None]
        t = [values(r) for r in treatment if values(r) is not None]
        mean_c = sum(c) / len(c) if c else 0
        rows.append(
            {
                "metric": metric,
                "effect_value": (sum(t) / len(t) / mean_c) if t and mean_c else None,
                "ci": ratio_interval(c, t, seed),
                "test": "welch",
                "p_value": welch(c, t),
            }
        )
    paired = mcnemar(control, treatment)
    if paired is not None:
        rows.append(paired)
    return rows


def mcnemar(control: list[Run], treatment: list[Run]) -> dict[str, Any] | None:
    """McNemar's exact test on tasks run under both variants (a task's outcome under a
    variant: whether most of its runs there succeeded); None without such tasks."""
    from statsmodels.stats.contingency_tables import mcnemar as test

    def by_task(runs: list[Run]) -> dict[str, bool]:
        outcomes: dict[str, list[bool]] = defaultdict(list)
        for r in runs:
            if r.task_id:
                outcomes[r.task_id].append(r.success)
        return {task: sum(v) * 2 > len(v) for task, v in outcomes.items()}

    c, t = by_task(control), by_task(treatment)
    both = sorted(set(c) & set(t))
    if not both:
        return None
    table = [[0, 0], [0, 0]]
    for task in both:
        table[int(not c[task])][int(not t[task])] += 1
    gained, lost = table[1][0], table[0][1]  # failed under control, succeeded under treatment; and back
    p = 1.0 if gained + lost == 0 else float(test(table, exact=True).pvalue)
    return {
        "metric": "success_paired",
        "effect_value": (gained - lost) / len(both),
        "ci": None,
        "test": f"mcnemar ({len(both)} tasks: +{gained} / -{lost})",
        "p_value": p,
    }


def _holm(rows: list[dict[str, Any]], alpha: float) -> None:
    from statsmodels.stats.multitest import multipletests

    tested = [r for r in rows if r["p_value"] is not None]
    for r in rows:
        r["p_holm"], r["significant"] = None, False
    if not tested:
        return
    reject, adjusted, _, _ = multipletests([r["p_value"] for r in tested], alpha=alpha, method="holm")
    for r, rej, adj in zip(tested, reject, adjusted):
        r["p_holm"], r["significant"] = float(adj), bool(rej)


def success_power(n_control: int, n_treatment: int, rate: float, effect: float, alpha: float = ALPHA) -> float:
    """The power of the two-sided test to detect `rate` -> `rate + effect` at these sizes."""
    from statsmodels.stats.proportion import power_proportions_2indep

    if not n_control or not n_treatment:
        return 0.0
    diff = min(max(rate + effect, 0.0), 1.0) - rate
    if diff == 0:
        return alpha
    result = power_proportions_2indep(diff, rate, n_treatment, ratio=n_control / n_treatment, alpha=alpha)
    return float(result.power)


def cost_power(control: Sequence[float], treatment: Sequence[float], change: float, alpha: float = ALPHA) -> float:
    """The power of Welch's test to detect a relative change of the mean cost by `change`."""
    import numpy as np
    from statsmodels.stats.power import TTestIndPower

    if len(control) < 2 or len(treatment) < 2:
        return 0.0
    # under the alternative the treatment's costs scale by (1 + change), their spread too
    sd = float(np.sqrt((np.var(control, ddof=1) + (1 + change) ** 2 * np.var(treatment, ddof=1)) / 2))
    if sd == 0:
        return 1.0
    d = abs(change) * float(np.mean(control)) / sd
    return float(TTestIndPower().power(d, nobs1=len(control), alpha=alpha, ratio=len(treatment) / len(control)))


def min_detectable_effect(
    n_control: int, n_treatment: int, rate: float, alpha: float = ALPHA, power: float = POWER
) -> float | None:
    """The smallest rise of the success rate from `rate` the test detects with `power`."""
    from statsmodels.stats.power import NormalIndPower

    if n_control < 2 or n_treatment < 2:
        return None
    h = NormalIndPower().solve_power(None, nobs1=n_control, alpha=alpha, power=power, ratio=n_treatment / n_control)
    angle = math.asin(math.sqrt(rate)) + float(h) / 2
    return (math.sin(angle) ** 2 if angle < math.pi / 2 else 1.0) - rate


def always_valid_p(pairs: Iterable[tuple[bool, bool | None]], tau: float = 0.10) -> float:
    """The always-valid p-value of a mixture SPRT on the success difference.

    `pairs` is the history in order: (succeeded, in treatment?) per run.  At every run
    the difference of rates is weighed by the Gaussian mixture likelihood ratio with its
    estimated variance and a N(0, tau^2) prior on the effect; the p-value is the running
    minimum of 1/ratio, so reading it at any time keeps the error rate (statsmodels and
    scipy have no mSPRT: this is its closed form).
    """
    p = 1.0
    counts = [[0, 0], [0, 0]]  # [arm] -> [runs, successes]
    for success, treated in pairs:
        arm = counts[1 if treated else 0]
        arm[0] += 1
        arm[1] += bool(success)
        (n0, w0), (n1, w1) = counts
        if n0 < 2 or n1 < 2:
            continue
        pooled = (w0 + w1) / (n0 + n1)
        v = pooled * (1 - pooled) * (1 / n0 + 1 / n1)
        if v <= 0:
            continue
        diff, t2 = w1 / n1 - w0 / n0, tau * tau
        log_ratio = 0.5 * math.log(v / (v + t2)) + diff * diff * t2 / (2 * v * (v + t2))
        p = min(p, math.exp(-log_ratio)) if log_ratio > 0 else p
    return min(p, 1.0)


def _verdict(
    name: str,
    control: list[Run],
    treatment: list[Run],
    rows: list[dict[str, Any]],
    effect: float,
    cost_effect: float,
    alpha: float,
    history: list[Run] | None,
) -> dict[str, Any]:
    rate = sum(r.success for r in control) / len(control)
    power = success_power(len(control), len(treatment), rate, effect, alpha)
    cost = cost_power([r.cost_usd for r in control], [r.cost_usd for r in treatment], cost_effect, alpha)
    mde = min_detectable_effect(len(control), len(treatment), rate, alpha)
    significant = [r["metric"] for r in rows if r["significant"]]
    if significant:
        verdict = "differs in " + ", ".join(significant)
    elif power < POWER:
        verdict = f"not enough data yet (power {power:.2f} < {POWER} for {effect * 100:+.0f} pp success)"
    else:
        verdict = "no difference found"
    out = {
        "variant": name,
        "verdict": verdict,
        "power": power,
        "cost_power": cost,
        "mde_pp": None if mde is None else 100 * mde,
        "always_valid_p": None,
    }
    if history is not None:
        out["always_valid_p"] = always_valid_p([(r.success, r.variant == name) for r in history])
    return out


def _p(value: float | None) -> str | None:
    return None if value is None else f"{value:.3g}"


def _interval(ci: list[float] | None, scale: float, unit: str) -> str:
    if ci is None:
        return "-"
    if unit == "ms":
        from ..formatting import duration

        return f"{duration(ci[0])} – {duration(ci[1])}"
    if unit == "$":
        return f"${ci[0] * scale:,.4g} – ${ci[1] * scale:,.4g}"
    return f"{ci[0] * scale:.1f}{unit} – {ci[1] * scale:.1f}{unit}"


def _units(metric: str) -> tuple[float, str]:
    return (100, " pp") if metric.startswith("success") else (1, "x")


def _effect(row: dict[str, Any]) -> str:
    value = row["effect_value"]
    if value is None:
        return "-"
    return f"{value * 100:+.1f} pp" if row["metric"].startswith("success") else f"{value:.2f}x"
