"""Sessions unlike their cohort: robust per-step baselines and how far a session is from them.

`Metrics` keeps, per attempt and in O(1) per event, what the `session_anomaly` detector
compares (METRICS): cost and tokens so far; over the last few steps (decayed) the cost
and tokens per step, the cost against the cohort's prices for the same tokens, tool calls
and errors per step and the share of repeated calls; the tool-mix entropy so far; the
latest call's context growth; and streaks (other commands failing with the same error and
output, the same call answered the same, calls that ran nothing). A session is compared
with its cohort (executor x model x task size, or the keys configured) at the same
progress point: the same step index.

`Baselines` are fitted from the recorded history (`agentlog risk baselines`) and stored as
JSON in the log's state/ folder, like the risk model: the median and MAD of each metric
at each step index, per cohort. They are fitted, not learnt online inside the watch, so
that an alert depends on the attempt's own events and the baselines file only: a replay
gives the alerts the live watch gave whatever order the attempts come in (the engine's
promise), and a restart reads the same file. A robust z-score per metric, divided by that
metric's own 99th percentile over the cohort's sessions, makes one score; the cohort's
threshold is the (1 - alpha) quantile of its sessions' highest scores. Both percentiles are
cross-fitted (each half of the sessions scored against the other half's baselines). Past
the last step index with baselines, a session is judged by that last one.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence
from zlib import crc32

import msgspec

from .features import AGENT_EVENTS, _ends, _remember, kind_of

# 2: repeat_streak counts a call answered as the one before, error_streak other commands
# failing the same way (1 counted identical calls, and error streaks over them)
FORMAT = "agentlog-session-baselines-2"
FILE = "session-baselines.json"  # in the log's state/ folder
DECAY = 0.5  # a step back weighs half: the recent metrics follow the last two or three steps
KEYS = ("executor", "model", "task_size")
MIN_SESSIONS = 30  # a cohort (or a step index of it) with fewer sessions judges nothing
ALPHA = 0.01  # the share of a cohort's own sessions that would alert
METRIC_QUANTILE = 0.99
# metric, direction (+1: only high is unusual; 0: both ways), floor of its scale
METRICS = (
    ("cost", 1, 0.1),  # log $ so far
    ("tokens", 1, 0.1),  # log tokens so far
    ("step_cost", 1, 0.1),  # log $ per step, recent
    ("price", 1, 0.05),  # log of the recent cost over what the cohort's prices make of its tokens
    ("step_tokens", 1, 0.1),  # log tokens per step, recent
    ("tool_calls", 0, 0.1),  # per step, recent
    ("error_rate", 1, 0.1),  # errors per step, recent
    ("repeat_ratio", 1, 0.1),  # calls made before, recent share
    ("tool_entropy", 0, 0.1),  # of the kinds of calls so far
    ("context_jump", 1, 0.05),  # log of the latest call's input over the one before
    ("error_streak", 1, 0.5),  # steps in a row that failed with the error (and output) of the step before
    ("repeat_streak", 1, 0.5),  # calls in a row identical to the one before and answered the same
    ("idle_streak", 1, 0.5),  # model calls in a row that ran nothing
)
NAMES = tuple(name for name, _, _ in METRICS)
TOKEN_KINDS = 4  # input, cache read, cache creation, output: what a cohort's prices are fitted on
_MAD = 1.4826  # MAD to standard deviation, for a normal distribution


def task_size(first_context: int) -> str:
    """A task's size from the input tokens of its first model call (the task as given):
    S (< 4k), M (< 16k), L; "" before the first call reports its usage."""
    if not first_context:
        return ""
    return "S" if first_context < 4_000 else "M" if first_context < 16_000 else "L"


class Metrics(msgspec.Struct, gc=False, array_like=True):
    """Running counts of one session (snapshotted with the watchdog's state)."""

    steps: int = 0
    in_call: bool = False
    model: str = ""
    first_context: int = 0  # input tokens of the first call: the task's size
    cost: float = 0.0
    tokens: int = 0
    calls: int = 0
    r_steps: float = 0.0  # decayed sums: each new step halves the past
    r_cost: float = 0.0
    r_calls: float = 0.0
    r_errors: float = 0.0
    r_repeats: float = 0.0
    r_usage: list[float] = msgspec.field(default_factory=lambda: [0.0] * TOKEN_KINDS)  # tokens by kind
    r_priced: float = 0.0  # cost of the calls that reported their tokens
    step_calls: int = 0
    step_failed: bool = False
    error_streak: int = 0  # steps before this one that failed with the same error, in a row
    step_error: int = -1  # the error of this step (crc32), -1: none yet
    last_error: int = -1  # the error of the step before
    context: float = 0.0  # input tokens of the latest call
    previous_context: float = 0.0  # and of the call before
    repeat_streak: int = 0
    idle_streak: int = 0
    last_call: int = -1
    kinds: dict[str, int] = msgspec.field(default_factory=dict)
    entropy_sum: float = 0.0
    seen: dict[int, int] = msgspec.field(default_factory=dict)
    failed_output: int = 0  # crc32 of the ends of this step's latest failed command's output (0: none)
    last_pair: int = -1  # crc32 of the latest call with the ends of its output

    def take(self, event) -> bool:
        """Count one event; whether it is a point to judge the session at (the session has
        started its first step, and the event is not its start or end)."""
        kind, data = event.event_type, event.data
        if type(event.model) is str and event.model and not self.model:
            self.model = event.model
        if kind in AGENT_EVENTS:
            if not self.in_call:
                self._step()
            if kind == "tool_call":
                self._call(data)
        elif kind == "usage":
            self._usage(data)
        elif kind == "tool_result":
            self.in_call = False
            self._result(data)
        elif kind == "error":
            if self.in_call and not self.step_calls:
                self.idle_streak += 1  # answered by an error, with nothing run: a call that did nothing
            self.in_call = False
            self.r_errors += 1.0
            key = data.error_fingerprint if type(data.error_fingerprint) is str else str(data.error_message)[:200]
            # the error with what the command printed: "exit code 1" from a grep that found
            # nothing and from a test that failed are two errors; one output from every
            # command is one (a disk, a network or a sandbox that broke under the agent)
            self.step_error = crc32(key.encode(), self.failed_output)
        else:
            if kind in ("session_start", "followup_sent", "status_change", "session_end"):
                self.in_call = False
            return False
        return self.steps > 0

    def _step(self) -> None:
        self.in_call = True
        if self.steps:
            self.error_streak = self.error_streak + 1 if self._same_error() else 0
            self.last_error = self.step_error
        self.steps += 1
        self.step_calls, self.step_error, self.failed_output = 0, -1, 0
        self.r_steps = self.r_steps * DECAY + 1.0
        self.r_cost *= DECAY
        self.r_calls *= DECAY
        self.r_errors *= DECAY
        self.r_repeats *= DECAY
        self.r_priced *= DECAY
        self.r_usage = [x * DECAY for x in self.r_usage]

    def _same_error(self) -> bool:
        """Whether this step failed with the error (and output) of the step before, running
        another command: the same command answered the same is a loop (repeat_streak)."""
        repeated = self.step_calls and self.repeat_streak
        return self.step_error != -1 and self.step_error == self.last_error and not repeated

    def _result(self, data) -> None:
        raw = data.result_data
        failed = data.result == "error" and len(raw) > len(b'""')
        output = crc32(_ends(raw))
        self.failed_output = output if failed else 0
        # a loop is the same call answered the same: an agent paging through a file calls
        # the same command in a row and reads something new each time
        pair = crc32(output.to_bytes(4, "little"), self.last_call & 0xFFFFFFFF)
        self.repeat_streak = self.repeat_streak + 1 if pair == self.last_pair else 0
        self.last_pair = pair

    def _usage(self, data) -> None:
        cost = _number(data.cost_usd)
        counts = [
            _number(data.input_tokens),
            _number(data.cache_read_tokens),
            _number(data.cache_creation_tokens),
            _number(data.output_tokens),
        ]
        context = counts[0] or counts[1] + counts[2]  # some count cache reads in the input, some apart
        if context:
            self.previous_context, self.context = self.context, context
        if not self.first_context:
            self.first_context = int(context)
        self.cost += cost
        self.tokens += int(sum(counts))
        self.r_cost += cost
        if cost and any(counts):
            self.r_priced += cost
            self.r_usage = [x + c for x, c in zip(self.r_usage, counts)]

    def _call(self, data) -> None:
        self.calls += 1
        self.step_calls += 1
        self.idle_streak = 0
        self.r_calls += 1.0
        params = bytes(data.tool_params) if data.tool_params else b""
        tool = data.tool_name if type(data.tool_name) is str else ""
        key = crc32(params, crc32(tool.encode()))
        if _remember(self.seen, key):
            self.r_repeats += 1.0
        self.last_call = key
        kind = kind_of(tool.encode() + b" " + params)
        count = self.kinds.get(kind, 0)
        self.entropy_sum += (count + 1) * math.log(count + 1) - (count * math.log(count) if count else 0.0)
        self.kinds[kind] = count + 1

    def values(self, prices: list[float] | None = None) -> list[float | None]:
        """The metrics now, in the order of NAMES (None: not measured in this session, or
        the price without the cohort's `prices` per token kind)."""
        steps = max(self.r_steps, 1e-9)
        priced = self.cost > 0
        tokens = sum(self.r_usage)
        expected = sum(p * x for p, x in zip(prices, self.r_usage)) if prices and self.r_priced else 0.0
        return [
            math.log(0.001 + self.cost) if priced else None,
            math.log1p(self.tokens) if self.tokens else None,
            math.log(0.0001 + self.r_cost / steps) if priced else None,
            math.log(self.r_priced / expected) if expected > 0 else None,
            math.log1p(tokens / steps) if self.tokens else None,
            self.r_calls / steps,
            self.r_errors / steps,
            self.r_repeats / self.r_calls if self.r_calls >= 0.5 else 0.0,
            math.log(self.calls) - self.entropy_sum / self.calls if self.calls else 0.0,
            math.log((self.context + 1) / (self.previous_context + 1)) if self.previous_context else None,
            float(self.error_streak + self._same_error()),
            float(self.repeat_streak),
            float(self.idle_streak),
        ]

    def cohort(self, executor: Any, keys: Sequence[str]) -> list[str]:
        """The cohort names of this session, most specific first (every prefix of `keys` that
        is known by now: the task size is, from the first call's usage on)."""
        parts = {
            "executor": executor if type(executor) is str else "",
            "model": self.model,
            "task_size": task_size(self.first_context),
        }
        chosen = [parts.get(key, "") for key in keys]
        known = next((n for n, key in enumerate(keys) if key == "task_size" and not chosen[n]), len(keys))
        return ["|".join(chosen[:n]) for n in range(known, 0, -1)]


def _number(value) -> float:
    return float(value) if (type(value) is float or type(value) is int) and math.isfinite(value) else 0.0


@dataclass
class Verdict:
    score: float  # the combined score over the cohort's threshold: > 1 alerts
    metric: str  # the metric furthest from its cohort
    value: float
    median: float
    z: float
    cohort: str
    sessions: int


@dataclass
class Cohort:
    sessions: int
    steps: list[list[list[float] | None] | None]  # per step index (1 at 0): per metric [median, scale] or None
    quantiles: list[float]  # per metric: the METRIC_QUANTILE of the sessions' highest |z|
    threshold: float
    prices: list[float]  # $ per token of each kind (TOKEN_KINDS), fitted on the cohort's calls

    def judge(self, step: int, values: list[float | None]) -> tuple[float, int, float] | None:
        """(combined score, the metric index that gave it, its z), or None: nothing known here."""
        best = None
        for i, z in enumerate(self.z_scores(step, values)):
            if z is None:
                continue
            score = _far(i, z) / self.quantiles[i]
            if best is None or score > best[0]:
                best = (score, i, z)
        return best

    def z_scores(self, step: int, values: list[float | None]) -> list[float | None]:
        """Per metric, its robust z at `step` against this cohort (None: no value or no
        baseline there)."""
        return [
            None if value is None or base is None else (value - base[0]) / base[1]
            for value, base in zip(values, self.bases(step))
        ]

    def bases(self, step: int) -> list[list[float] | None]:
        """Per metric, its [median, scale] at `step` (or None). A session that runs on where
        too few of its cohort went is compared with the last step index that has them: a
        long run would otherwise go unjudged just where it is least like its cohort."""
        row = self.steps[min(step, len(self.steps)) - 1] if self.steps else None
        return row or [None] * len(NAMES)


class Baselines:
    """Per cohort, the robust baselines of each metric at each step index."""

    def __init__(self, cohorts: dict[str, Cohort], keys: Sequence[str], meta: dict[str, Any] | None = None):
        self.cohorts = cohorts
        self.keys = tuple(keys)
        self.meta = meta or {}

    def cohort_of(self, names: list[str], min_sessions: int) -> tuple[str, Cohort] | None:
        for name in names:
            found = self.cohorts.get(name)
            if found is not None and found.sessions >= min_sessions:
                return name, found
        return None

    def judge(self, metrics: Metrics, executor: Any, min_sessions: int = MIN_SESSIONS) -> Verdict | None:
        chosen = self.cohort_of(metrics.cohort(executor, self.keys), min_sessions)
        if chosen is None:
            return None
        name, cohort = chosen
        values = metrics.values(cohort.prices)
        found = cohort.judge(metrics.steps, values)
        if found is None:
            return None
        score, i, z = found
        return Verdict(
            score / cohort.threshold,
            NAMES[i],
            values[i],
            cohort.bases(metrics.steps)[i][0],
            z,
            name,
            cohort.sessions,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "metrics": list(NAMES),
            "keys": list(self.keys),
            "meta": self.meta,
            "cohorts": {
                name: {
                    "sessions": c.sessions,
                    "threshold": c.threshold,
                    "quantiles": c.quantiles,
                    "prices": c.prices,
                    "steps": c.steps,
                }
                for name, c in sorted(self.cohorts.items())
            },
        }

    @classmethod
    def from_json(cls, doc: Any) -> "Baselines":
        if isinstance(doc, dict) and str(doc.get("format")).startswith(FORMAT[:-1]) and doc["format"] != FORMAT:
            raise ValueError("baselines of an older agentlog: fit them again (agentlog risk baselines)")
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"not agentlog session baselines (format {FORMAT!r})")
        if doc.get("metrics") != list(NAMES):
            raise ValueError("baselines of other metrics: fit them again (agentlog risk baselines)")
        cohorts = {
            name: Cohort(
                int(c["sessions"]),
                c["steps"],
                [float(q) for q in c["quantiles"]],
                float(c["threshold"]),
                [float(p) for p in c["prices"]],
            )
            for name, c in doc["cohorts"].items()
        }
        return cls(cohorts, doc["keys"], doc.get("meta"))

    def save(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), separators=(",", ":")) + "\n", encoding="utf-8")
        os.replace(tmp, path)


def load(path: Path) -> Baselines | None:
    """The baselines at `path`; None when there is no file yet (cold start). Raises
    ValueError saying what is wrong with a file that is there."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(f"session baselines {path}: {exc}") from None
    try:
        return Baselines.from_json(json.loads(text))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"session baselines {path}: {exc}") from None


# -- fitting ---------------------------------------------------------------------------


@dataclass
class Trace:
    """One session as the detector saw it: its metrics at each point it was judged."""

    executor: Any
    metrics: Metrics
    points: list[tuple[int, Metrics]]


def traces(events: Iterable) -> list[Trace]:
    """Per attempt (its latest session), the metrics at every point the detector judges."""
    found: dict[str, Trace] = {}
    for event in events:
        attempt = event.attempt_id
        if type(attempt) is not str or not attempt or event.data is None:
            continue
        if attempt not in found or event.event_type == "session_start":
            found[attempt] = Trace(event.executor, Metrics(), [])
        trace = found[attempt]
        trace.executor = event.executor or trace.executor
        if trace.metrics.take(event):
            snapshot = msgspec.structs.replace(trace.metrics, kinds={}, seen={})  # what values() reads
            trace.points.append((trace.metrics.steps, snapshot))
    return [t for t in found.values() if t.points]


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(q * (len(ordered) + 1))))
    return ordered[rank - 1]


def fit_prices(sessions: list[Trace]) -> list[float]:
    """$ per token of each kind: least squares of the calls' costs on their token counts
    (each session's recent sums at its points stand for its calls). Kinds never seen get 0."""
    rows = [(m.r_usage, m.r_priced) for t in sessions for _, m in t.points if m.r_priced]
    used = [k for k in range(TOKEN_KINDS) if any(r[0][k] for r in rows)]
    if not rows or not used:
        return [0.0] * TOKEN_KINDS
    n = len(used)
    a = [[sum(r[0][i] * r[0][j] for r in rows) for j in used] for i in used]
    b = [sum(r[0][i] * r[1] for r in rows) for i in used]
    solved = _solve(a, b) or [0.0] * n
    prices = [0.0] * TOKEN_KINDS
    for k, p in zip(used, solved):
        prices[k] = p  # a negative price is a discount: input counted again as cache reads
    return prices


def _solve(a: list[list[float]], b: list[float]) -> list[float] | None:
    """Gaussian elimination with partial pivoting; None when singular."""
    n = len(b)
    m = [row[:] + [v] for row, v in zip(a, b)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        if abs(m[pivot][col]) < 1e-300:
            return None
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(n):
            if r != col:
                f = m[r][col] / m[col][col]
                m[r] = [x - f * y for x, y in zip(m[r], m[col])]
    return [m[i][n] / m[i][i] for i in range(n)]


def _robust(values: list[float], floor: float, min_sessions: int) -> list[float] | None:
    """[median, scale] of `values` (the MAD as a standard deviation, at least `floor`); None
    with fewer than `min_sessions` values."""
    if len(values) < min_sessions:
        return None
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values)
    return [median, max(_MAD * mad, floor)]


def _steps(valued: list[list[tuple[int, list[float | None]]]], min_sessions: int) -> list:
    """Per step index, each metric's [median, scale] over the sessions that reached it."""
    last = max(step for points in valued for step, _ in points)
    by_step: list[list[list[float]]] = [[[] for _ in NAMES] for _ in range(last)]
    reached = [0] * last
    for points in valued:
        for step in {step for step, _ in points}:
            reached[step - 1] += 1
        for step, values in points:
            for i, value in enumerate(values):
                if value is not None:
                    by_step[step - 1][i].append(value)
    steps: list[list[list[float] | None] | None] = []
    for k in range(last):
        if reached[k] < min_sessions:
            steps.append(None)
            continue
        steps.append([_robust(values, floor, min_sessions) for (_, _, floor), values in zip(METRICS, by_step[k])])
    while steps and steps[-1] is None:
        steps.pop()
    return steps


def _far(metric: int, z: float) -> float:
    """How far a z is from the cohort in the direction that matters: a metric that is only
    bad when high counts its signed z, any other its distance either way."""
    return z if METRICS[metric][1] > 0 else abs(z)


def _fit_cohort(sessions: list[Trace], min_sessions: int, alpha: float) -> Cohort:
    prices = fit_prices(sessions)
    valued = [[(step, m.values(prices)) for step, m in trace.points] for trace in sessions]
    cohort = Cohort(len(sessions), _steps(valued, min_sessions), [1.0] * len(NAMES), 1.0, prices)
    # the quantiles and the threshold from each half of the sessions judged by baselines fitted
    # on the other half: a session's own values pull the medians towards it, and a threshold
    # set on sessions so judged alerts more often on new sessions than alpha says (a half
    # needs half the sessions at a step: the same steps and metrics are judged as in the whole)
    halves = (valued[0::2], valued[1::2])
    judged = [
        (Cohort(len(half), _steps(other, max(min_sessions // 2, 1)), [1.0] * len(NAMES), 1.0, prices), half)
        for half, other in zip(halves, reversed(halves))
    ]
    highest = []  # per session and metric: the highest |z|
    for judge, half in judged:
        for points in half:
            top = [0.0] * len(NAMES)
            for step, values in points:
                for i, z in enumerate(judge.z_scores(step, values)):
                    if z is not None:
                        top[i] = max(top[i], _far(i, z))
            highest.append(top)
    quantiles = [max(_quantile([top[i] for top in highest], METRIC_QUANTILE), 1.0) for i in range(len(NAMES))]
    combined = []
    for judge, half in judged:
        judge.quantiles = quantiles
        for points in half:
            scores = [judge.judge(step, values) for step, values in points]
            combined.append(max((s[0] for s in scores if s is not None), default=0.0))
    cohort.quantiles = quantiles
    cohort.threshold = max(_quantile(combined, 1 - alpha), 1.0)
    return cohort


def fit(
    found: Sequence[Trace], keys: Sequence[str] = KEYS, min_sessions: int = MIN_SESSIONS, alpha: float = ALPHA
) -> Baselines:
    """Baselines of every cohort (at every level of `keys`) with at least `min_sessions`."""
    groups: dict[str, list[Trace]] = {}
    for trace in found:
        for name in trace.metrics.cohort(trace.executor, keys):
            groups.setdefault(name, []).append(trace)
    cohorts = {
        name: _fit_cohort(sessions, min_sessions, alpha)
        for name, sessions in groups.items()
        if len(sessions) >= min_sessions
    }
    meta = {"sessions": len(found), "alpha": alpha, "min_sessions": min_sessions}
    return Baselines(cohorts, keys, meta)
