"""`agentlog advise`: what to change, in dollars per week on this history, with the evidence
(sessions, counts), a confidence, and an outcome guard (what following the advice would
have cost in success rate, with a 95% interval, where the history can tell).

Findings:
- cache_unread: sessions that paid to write a prompt cache they never read (the premium
  of a cache write over plain input);
- reread / repeated_calls / unused_output: files read again unchanged, identical calls
  repeated with nothing changed between, large tool output never used (`analytics.waste`);
- unheeded_alert: spend after a watchdog alert that nobody acted on (no follow-up), in
  sessions that then failed;
- context_pressure: sessions past 80% of the model's context window, and what preceded;
- stop_loss: the failure-risk threshold that saves the most for a bounded loss of resolved
  tasks (needs `--risk-scores`, `analytics.stoploss`);
- routing: a cheaper executor or model, only where paired outcomes on the same tasks
  exclude a loss beyond the margin at 95%.
Prices come from the shipped table with the `[pricing]` overrides (`capture.pricing`).
"""

from __future__ import annotations

import datetime as _dt
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import formatting as human
from ..context_windows import window_of
from .report import Result, Table, dataset
from .source import Scope

WEEK_S = 7 * 86400
PRESSURE = 0.8
MIN_PAIRED_TASKS = 10
EVIDENCE_IDS = 10  # session ids listed per finding


@dataclass
class Finding:
    kind: str
    title: str
    usd_per_week: float | None  # None: could not be priced (unknown model) or not measurable
    confidence: str  # high | medium | low
    evidence: dict[str, Any]
    guard: dict[str, Any] | None  # {"text", and where measured "success_pct", "ci_pct", "sessions"}
    action: str


@dataclass
class Advice(Result):
    since: str | None
    until: str | None
    weeks: float
    sessions: int
    cost_usd: float
    findings: list[Finding] = field(default_factory=list)
    cache_by_model: list[dict[str, Any]] = field(default_factory=list)
    cache_by_day: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def usd_per_week(self) -> float:
        return sum(f.usd_per_week or 0.0 for f in self.findings)

    def tables(self) -> list[Table]:
        rows = [
            {
                "finding": f.title,
                "usd_per_week": f.usd_per_week,
                "confidence": f.confidence,
                "evidence": evidence_text(f.evidence),
                "guard": f.guard["text"] if f.guard else "-",
                "action": f.action,
            }
            for f in self.findings
        ]
        tables = [
            Table(
                f"Advice over {human.number(round(self.weeks, 1))} week(s), {self.sessions} sessions, "
                f"{human.money(self.cost_usd)}",
                ["finding", "usd_per_week", "confidence", "evidence", "guard", "action"],
                rows,
            ),
            Table(
                "Prompt cache by model",
                [
                    "model",
                    "sessions",
                    "input_tokens",
                    "cache_creation_tokens",
                    "cache_read_tokens",
                    "hit_rate_pct",
                    "write_cost_usd",
                    "read_savings_usd",
                ],
                self.cache_by_model,
            ),
            Table(
                "Prompt cache hit rate by day",
                ["day", "sessions", "cache_creation_tokens", "cache_read_tokens", "hit_rate_pct"],
                self.cache_by_day,
            ),
        ]
        if self.notes:
            tables.append(Table("Notes", ["note"], [{"note": n} for n in self.notes]))
        return tables

    @property
    def empty(self) -> bool:
        return not self.sessions

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["usd_per_week"] = self.usd_per_week
        return body


def evidence_counts(evidence: dict[str, Any]) -> list[str]:
    """The evidence's figures as text ("sessions 3", ...); the session ids are apart."""
    return [f"{k.replace('_', ' ')} {human.cell(k, v)}" for k, v in evidence.items() if k != "sessions_list"]


def evidence_text(evidence: dict[str, Any]) -> str:
    parts = evidence_counts(evidence)
    ids = evidence.get("sessions_list") or []
    if ids:
        parts.append("e.g. " + ", ".join(ids[:3]))
    return "; ".join(parts)


def wilson(successes: int, n: int) -> list[float] | None:
    from statsmodels.stats.proportion import proportion_confint

    if not n:
        return None
    low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
    return [100.0 * float(low), 100.0 * float(high)]


def success_guard(text: str, successes: int, n: int) -> dict[str, Any]:
    ci = wilson(successes, n)
    shown = f" ({successes}/{n} = {100.0 * successes / n:.0f}%, 95% CI {ci[0]:.0f}–{ci[1]:.0f}%)" if ci else ""
    return {"text": text + shown, "success_pct": 100.0 * successes / n if n else None, "ci_pct": ci, "sessions": n}


# --- the report -----------------------------------------------------------------


def advise(
    source,
    scope: Scope = Scope(),
    *,
    pricing=None,
    risk_scores: Path | str | None = None,
    max_loss_pp: float = 2.0,
    margin_pp: float = 2.0,
    pressure: float = PRESSURE,
    windows: dict[str, int] | None = None,
    now: float | None = None,
) -> Advice:
    """Findings over the sessions in `scope`, dollars per week of that window."""
    from ..capture.pricing import Pricing

    data = dataset(source)
    pricing = pricing or Pricing.load()
    where, params = scope.where("started")
    sessions = data.query(f"SELECT * FROM sessions WHERE {where} ORDER BY started, attempt_id", params)
    weeks = _weeks(sessions, scope, time.time() if now is None else now)
    advice = Advice(
        _iso(scope.since),
        _iso(scope.until),
        weeks,
        len(sessions),
        sum(s["cost_usd"] or 0 for s in sessions),
        malformed=data.malformed,
    )
    if not sessions:
        return advice
    per_week = 1.0 / weeks
    events, alerts = _events_of(data.source.log_dir, {s["attempt_id"] for s in sessions})
    usage = usage_rows(events)
    advice.cache_by_model, advice.cache_by_day = cache_by_model(usage, pricing), cache_by_day(usage)
    advice.findings += unread_cache(unread_caches(usage, pricing), per_week)
    walked = {s["attempt_id"]: _walk(events.get(s["attempt_id"], []), s, windows, pressure) for s in sessions}
    advice.findings += waste_findings(sessions, walked, pricing, per_week)
    advice.findings += pressure_finding(sessions, walked, pressure, per_week)
    advice.findings += alert_finding(sessions, events, alerts, per_week)
    if risk_scores is None:
        advice.notes.append(
            "stop-loss needs failure-risk scores: `agentlog risk --replay --format json > scores.jsonl`, "
            "then `agentlog advise --risk-scores scores.jsonl`"
        )
    else:
        advice.findings += stop_loss_finding(sessions, risk_scores, max_loss_pp, per_week, advice.notes)
    advice.findings += routing_findings(sessions, margin_pp, per_week)
    if pricing.unknown:
        advice.notes.append(
            'not priced (unknown models; add [pricing."model"] to agentlog.toml): ' + ", ".join(sorted(pricing.unknown))
        )
    advice.findings.sort(key=lambda f: -(f.usd_per_week or 0))
    return advice


def _weeks(sessions: list[dict[str, Any]], scope: Scope, now: float) -> float:
    """The window's length in weeks: the scope's, else the sessions' span (at least a day)."""
    if scope.since is not None:
        return max((scope.until or now) - scope.since, 86400) / WEEK_S
    times = [t.timestamp() for s in sessions for t in (s["started"], s["last_seen"]) if t is not None]
    return max(max(times) - min(times), 86400) / WEEK_S if times else 1.0


def _iso(t: float | None) -> str | None:
    return None if t is None else _dt.datetime.fromtimestamp(t, _dt.timezone.utc).isoformat()


def _events_of(log_dir: Path, attempts: set[str]) -> tuple[dict[str, list[dict]], dict[str, list[dict]]]:
    from ..store.reader import read_kind

    events: dict[str, list[dict]] = defaultdict(list)
    for event in read_kind(log_dir, "stream"):
        if event.get("attempt_id") in attempts:
            events[event["attempt_id"]].append(event)
    alerts: dict[str, list[dict]] = defaultdict(list)
    for alert in read_kind(log_dir, "alerts"):
        if alert.get("attempt_id") in attempts:
            alerts[alert["attempt_id"]].append(alert)
    return events, alerts


def _walk(events: list[dict], session: dict[str, Any], windows, pressure: float):
    from .waste import walk

    return walk(events, window_of(session["model"], windows), pressure)


# --- prompt cache ---------------------------------------------------------------


def _price(pricing, model: str | None, kind: str) -> float | None:
    prices = pricing.prices(model)
    if prices is None:
        pricing.unknown.add(model or "<no model>")
        return None
    return prices.get(kind, 0.0) / 1_000_000


def hit_rate(input_tokens: float, creation: float, read: float) -> float | None:
    """Cache reads over all prompt tokens (plain input, cache writes, cache reads), in percent."""
    total = input_tokens + creation + read
    return 100.0 * read / total if total else None


def usage_rows(events: dict[str, list[dict]]) -> list[dict[str, Any]]:
    """One row per usage event: attempt, model (the call's own, else the session's), UTC day, tokens."""
    rows = []
    for attempt, stream in events.items():
        for e in stream:
            if e.get("event_type") != "usage":
                continue
            data = e.get("data") or {}
            model = data.get("model") if isinstance(data.get("model"), str) else e.get("model")
            rows.append(
                {
                    "attempt_id": attempt,
                    "model": model,
                    "day": str(e.get("timestamp") or "")[:10],
                    **{k: float(data.get(k) or 0) for k in _CACHE_TOKENS},
                }
            )
    return rows


_CACHE_TOKENS = ("input_tokens", "cache_creation_tokens", "cache_read_tokens")


def _sums(rows: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    out: dict[Any, dict[str, Any]] = {}
    for r in rows:
        row = out.setdefault(r[key], {key: r[key], "sessions": set(), **{k: 0.0 for k in _CACHE_TOKENS}})
        row["sessions"].add(r["attempt_id"])
        for k in _CACHE_TOKENS:
            row[k] += r[k]
    for row in out.values():
        row["sessions"] = len(row["sessions"])
        row["hit_rate_pct"] = hit_rate(*(row[k] for k in _CACHE_TOKENS))
    return out


def cache_by_model(usage: list[dict[str, Any]], pricing) -> list[dict[str, Any]]:
    """Per model: tokens, hit rate, what cache writes cost and what reads saved over plain input."""
    rows = _sums(usage, "model")
    for model, row in rows.items():
        plain, write, hit = (_price(pricing, model, k) for k in ("input", "cache_write", "cache_read"))
        priced = plain is not None
        row["write_cost_usd"] = row["cache_creation_tokens"] * write if priced else None
        row["read_savings_usd"] = row["cache_read_tokens"] * (plain - hit) if priced else None
        row["model"] = model or "(none)"
    return sorted(rows.values(), key=lambda r: -r["cache_creation_tokens"])


def unread_caches(usage: list[dict[str, Any]], pricing) -> list[dict[str, Any]]:
    """Sessions that wrote a cache and never read one, with the premium of the writes over plain input."""
    written: dict[str, dict[str, Any]] = {}
    read: set[str] = set()
    for r in usage:
        if r["cache_read_tokens"]:
            read.add(r["attempt_id"])
        if r["cache_creation_tokens"]:
            plain, write = _price(pricing, r["model"], "input"), _price(pricing, r["model"], "cache_write")
            entry = written.setdefault(
                r["attempt_id"], {"attempt_id": r["attempt_id"], "tokens": 0.0, "premium_usd": 0.0}
            )
            entry["tokens"] += r["cache_creation_tokens"]
            entry["premium_usd"] += r["cache_creation_tokens"] * max(write - plain, 0.0) if plain is not None else 0.0
    return [entry for attempt, entry in written.items() if attempt not in read]


def cache_by_day(usage: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = _sums(usage, "day")
    for row in rows.values():
        del row["input_tokens"]
    return [rows[d] for d in sorted(rows)]


def unread_cache(unread: list[dict[str, Any]], per_week: float) -> list[Finding]:
    if not unread:
        return []
    premium = sum(u["premium_usd"] for u in unread)
    return [
        Finding(
            "cache_unread",
            "Prompt cache written, never read",
            premium * per_week,
            "high",
            {
                "sessions": len(unread),
                "cache_creation_tokens": sum(u["tokens"] for u in unread),
                "premium_usd": premium,
                "sessions_list": [u["attempt_id"] for u in unread][:EVIDENCE_IDS],
            },
            {"text": "none needed: caching does not change what the model sees"},
            "turn prompt caching off for these one-shot sessions (or keep them alive long enough to reuse the cache)",
        )
    ]


# --- waste ----------------------------------------------------------------------


def input_price(pricing, session: dict[str, Any]) -> float | None:
    """USD per input token: the model's list price, else what the session itself paid per
    prompt token (a model missing from the table, a transcript that gave only its cost)."""
    if pricing.prices(session["model"]) is not None:
        return _price(pricing, session["model"], "input")
    tokens = sum(float(session[k] or 0) for k in _CACHE_TOKENS)
    return float(session["cost_usd"]) / tokens if session["cost_usd"] and tokens else None


def waste_findings(sessions: list[dict[str, Any]], walked: dict[str, Any], pricing, per_week: float) -> list[Finding]:
    kinds = (
        (
            "reread",
            "Files re-read without change",
            "rereads",
            "reread_tokens",
            "keep read files in context (or read the changed part only); tell the agent in AGENTS.md not to "
            "re-read unchanged files",
        ),
        (
            "repeated_calls",
            "Identical calls repeated with nothing changed",
            "repeats",
            "repeat_tokens",
            "the agent re-ran the same command on an unchanged tree: watch for tool_loop alerts and say so "
            "in the prompt",
        ),
        (
            "unused_output",
            "Large tool output never used",
            "unused_outputs",
            "unused_tokens",
            "cap tool output (head/tail, grep) before the agent sees it",
        ),
    )
    found = []
    for kind, title, count_attr, token_attr, action in kinds:
        hits = [(s, walked[s["attempt_id"]]) for s in sessions if getattr(walked[s["attempt_id"]], count_attr)]
        if not hits:
            continue
        usd, priced = 0.0, False
        for s, w in hits:
            price = input_price(pricing, s)
            if price is not None:
                usd, priced = usd + getattr(w, token_attr) * price, True
        found.append(
            Finding(
                kind,
                title,
                usd * per_week if priced else None,
                "medium",
                {
                    "sessions": len(hits),
                    "occurrences": sum(getattr(w, count_attr) for _, w in hits),
                    "estimated_tokens": sum(getattr(w, token_attr) for _, w in hits),
                    "sessions_list": [s["attempt_id"] for s, _ in hits][:EVIDENCE_IDS],
                },
                {"text": "not measurable here: these tokens added nothing the agent used"},
                action,
            )
        )
    return found


def pressure_finding(
    sessions: list[dict[str, Any]], walked: dict[str, Any], pressure: float, per_week: float
) -> list[Finding]:
    ended = [s for s in sessions if s["ended"]]
    past = [s for s in ended if walked[s["attempt_id"]].pressure_at is not None]
    if not past:
        return []
    rest = [s for s in ended if walked[s["attempt_id"]].pressure_at is None]
    failed = [s for s in past if not s["success"]]
    after = sum(walked[s["attempt_id"]].cost_after_pressure for s in failed)
    preceded: dict[str, int] = defaultdict(int)
    for s in past:
        for tool in walked[s["attempt_id"]].before_pressure:
            preceded[tool] += 1
    largest = [walked[s["attempt_id"]].largest_before_pressure for s in past]
    biggest = max((x for x in largest if x), key=lambda x: x[1], default=None)
    guard = success_guard(
        f"past {pressure:.0%} of the window, sessions succeeded", sum(bool(s["success"]) for s in past), len(past)
    )
    if rest:
        others = wilson(sum(bool(s["success"]) for s in rest), len(rest))
        guard["text"] += (
            f"; the others {100.0 * sum(bool(s['success']) for s in rest) / len(rest):.0f}% "
            f"(95% CI {others[0]:.0f}–{others[1]:.0f}%)"
        )
    return [
        Finding(
            "context_pressure",
            f"Sessions past {pressure:.0%} of the context window",
            after * per_week,
            "medium",
            {
                "sessions": len(past),
                "failed": len(failed),
                "spent_after_line_usd": after,
                "tools_before": dict(sorted(preceded.items(), key=lambda kv: -kv[1])[:5]),
                "largest_output_before": f"{biggest[0]} {biggest[1]:,} chars" if biggest else None,
                "sessions_list": [s["attempt_id"] for s in past][:EVIDENCE_IDS],
            },
            guard,
            f"start a fresh session (or compact) at {pressure:.0%}: the spend after that line in "
            f"sessions that failed is the saving",
        )
    ]


def alert_finding(
    sessions: list[dict[str, Any]], events: dict[str, list[dict]], alerts: dict[str, list[dict]], per_week: float
) -> list[Finding]:
    """Sessions that went on after an alert with no follow-up: spend after it, in those that failed."""
    from ..events import parse_time

    unheeded = []
    for s in sessions:
        raised = [parse_time(a["timestamp"]) for a in alerts.get(s["attempt_id"], []) if a.get("timestamp")]
        if not raised or not s["ended"]:
            continue
        first = min(raised)
        later = [
            e for e in events.get(s["attempt_id"], []) if e.get("timestamp") and parse_time(e["timestamp"]) > first
        ]
        if any(e["event_type"] == "followup_sent" for e in later):
            continue  # someone acted
        spent = sum(float((e.get("data") or {}).get("cost_usd") or 0) for e in later if e["event_type"] == "usage")
        unheeded.append((s, spent))
    if not unheeded:
        return []
    lost = [(s, spent) for s, spent in unheeded if not s["success"]]
    usd = sum(spent for _, spent in lost)
    return [
        Finding(
            "unheeded_alert",
            "Spend after an alert nobody acted on",
            usd * per_week,
            "medium",
            {
                "sessions": len(unheeded),
                "failed": len(lost),
                "spent_after_alert_usd": usd,
                "sessions_list": [s["attempt_id"] for s, _ in lost][:EVIDENCE_IDS],
            },
            success_guard(
                "stopping at the alert would also stop the alerted sessions that succeeded",
                sum(bool(s["success"]) for s, _ in unheeded),
                len(unheeded),
            ),
            "act on alerts (`agentlog watch --exec`, a guard policy) or stop the run",
        )
    ]


# --- stop-loss and routing ------------------------------------------------------


def stop_loss_finding(
    sessions: list[dict[str, Any]], path: Path | str, max_loss_pp: float, per_week: float, notes: list[str]
) -> list[Finding]:
    from . import stoploss

    try:
        records, bad = stoploss.read_scores(path)
    except OSError as exc:
        notes.append(f"stop-loss: cannot read {path}: {exc.strerror or exc}")
        return []
    notes += [f"stop-loss: skipped {b}" for b in bad[:20]]
    by_id = {s["attempt_id"]: s for s in sessions}
    runs = [
        stoploss.scored(r, float(by_id[r["attempt_id"]]["cost_usd"] or 0), by_id[r["attempt_id"]]["task_id"])
        for r in records
        if r["attempt_id"] in by_id
    ]
    if not runs:
        notes.append(f"stop-loss: no scored attempt of {path} is in this window")
        return []
    result = stoploss.stop_loss(runs, max_loss_pp)
    if result.threshold is None:
        notes.append(
            f"stop-loss: no threshold saves anything while the {stoploss.CONFIDENCE:.0%} upper bound of resolved "
            f"tasks lost stays within {max_loss_pp:g} pp on {len(runs)} scored runs (more runs narrow the bound)"
        )
        return []
    share = result.lost / result.runs if result.runs else 0.0
    ci = wilson(result.lost, result.runs)
    guard = {
        "text": f"held out: {result.lost_pp:.1f} pp of resolved tasks lost ({result.lost}/{result.runs}, "
        f"95% CI {ci[0]:.1f}–{ci[1]:.1f} pp)",
        "lost_pp": result.lost_pp,
        "ci_pct": ci,
        "sessions": result.runs,
        "lost_share": share,
    }
    return [
        Finding(
            "stop_loss",
            f"Stop runs at failure risk >= {result.threshold:.3g}",
            result.saved_usd * per_week,
            "medium",
            {
                "scored_runs": len(runs),
                "saved_pct": result.saved_pct,
                "held_out_saved_usd": result.saved_usd,
                "thresholds_by_fold": result.thresholds_by_fold,
                "sessions_list": [r.attempt_id for r in runs if stoploss.stop_step(r, result.threshold) is not None][
                    :EVIDENCE_IDS
                ],
            },
            guard,
            f"stop (or hand over) a run when its risk reaches {result.threshold:.3g}: the most saving "
            f"threshold whose {stoploss.CONFIDENCE:.0%} upper bound of resolved tasks lost is within "
            f"{max_loss_pp:g} pp, chosen on one fold of tasks and measured on the other",
        )
    ]


def _success_rate(runs: list[dict[str, Any]]) -> float:
    return sum(bool(r["success"]) for r in runs) / len(runs)


def _mean_cost(runs: list[dict[str, Any]]) -> float:
    return sum(r["cost_usd"] or 0 for r in runs) / len(runs)


def routing_findings(sessions: list[dict[str, Any]], margin_pp: float, per_week: float) -> list[Finding]:
    """A cheaper (executor, model) for the same tasks, when the paired success difference's
    95% bootstrap interval lies above -margin."""
    import numpy as np
    from scipy.stats import bootstrap

    by_option: dict[tuple, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for s in sessions:
        if s["ended"] and s["task_id"]:
            by_option[(s["executor"] or "?", s["model"] or "?")][s["task_id"]].append(s)
    found = []
    options = sorted(by_option)
    for cheap in options:
        for dear in options:
            shared = sorted(set(by_option[cheap]) & set(by_option[dear]))
            if cheap == dear or len(shared) < MIN_PAIRED_TASKS:
                continue
            saving = np.mean([_mean_cost(by_option[dear][t]) - _mean_cost(by_option[cheap][t]) for t in shared])
            if saving <= 0:
                continue
            diffs = np.array([_success_rate(by_option[cheap][t]) - _success_rate(by_option[dear][t]) for t in shared])
            low = (
                float(diffs.min())
                if diffs.min() == diffs.max()
                else float(
                    bootstrap(
                        (diffs,), np.mean, method="percentile", n_resamples=2000, rng=np.random.default_rng(0)
                    ).confidence_interval.low
                )
            )
            if 100 * low <= -margin_pp:
                continue
            runs_of_dear = sum(len(v) for v in by_option[dear].values())
            found.append(
                Finding(
                    "routing",
                    f"Route {'/'.join(dear)} tasks to {'/'.join(cheap)}",
                    float(saving) * runs_of_dear * per_week,
                    "medium",
                    {
                        "paired_tasks": len(shared),
                        "saving_per_task_usd": float(saving),
                        "success_difference_pp": 100 * float(diffs.mean()),
                    },
                    {
                        "text": f"on {len(shared)} tasks both ran, success {100 * float(diffs.mean()):+.0f} pp "
                        f"(95% lower bound {100 * low:+.1f} pp, margin -{margin_pp:g} pp)",
                        "lower_bound_pp": 100 * low,
                        "sessions": len(shared),
                    },
                    f"send these tasks to {'/'.join(cheap)}",
                )
            )
    return found
