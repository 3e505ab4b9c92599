"""The weekly report's data: one period against the one before, from the analytics library."""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from .. import analytics
from ..analytics.report import jsonable
from ..analytics.source import Scope
from .recommend import Recommendation, Thresholds, recommend

DAY = 86400
TREND_KEYS = (
    "sessions",
    "completed",
    "success_pct",
    "cost_usd",
    "errors",
    "agent_hours",
    "cost_per_session",
    "errors_per_session",
)


@dataclass
class Report:
    since: float  # epoch seconds, inclusive
    until: float  # exclusive
    days: int
    totals: dict[str, Any]
    previous: dict[str, Any]  # the same figures for the period before
    executors: list[dict[str, Any]] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)
    top_errors: list[dict[str, Any]] = field(default_factory=list)
    insights: list[dict[str, Any]] = field(default_factory=list)
    recommendations: list[Recommendation] = field(default_factory=list)
    daily: list[dict[str, Any]] = field(default_factory=list)  # per UTC day: sessions, succeeded, failed, cost
    advice: list[dict[str, Any]] = field(default_factory=list)  # `agentlog advise` findings, dollars per week
    warnings: list[dict[str, Any]] = field(default_factory=list)  # early-warning alerts: which came in time
    generated: float = 0.0
    malformed: int = 0

    @property
    def title(self) -> str:
        return f"agentlog report {day_label(self.since)} – {day_label(self.until - 1)}"

    def trend(self, key: str) -> float | None:
        """The change of a figure against the previous period (points for percentages)."""
        now, before = self.totals.get(key), self.previous.get(key)
        if now is None or before is None:
            return None
        return now - before

    def to_dict(self) -> dict[str, Any]:
        body = jsonable(asdict(self))
        body["period"] = {"since": iso(self.since), "until": iso(self.until), "days": self.days}
        body["trend"] = {k: self.trend(k) for k in TREND_KEYS}
        body["generated"] = iso(self.generated)
        body["recommendations"] = [r.to_dict() for r in self.recommendations]
        del body["since"], body["until"]
        return body


def build_report(settings, days: int = 7, now: float | None = None) -> Report:
    """The report for the `days` before `now` (default: the current time)."""
    now = time.time() if now is None else now
    since = now - days * DAY
    data = analytics.load(settings.log_path)
    try:
        current, previous = Scope(since=since, until=now), Scope(since=since - days * DAY, until=since)
        rows = analytics.metrics(data, current).sessions
        totals = _totals(analytics.summary(data, current), rows)
        before = _totals(analytics.summary(data, previous), analytics.metrics(data, previous).sessions)
        executors = analytics.compare(data, scope=current, by="executor").rows
        models = analytics.compare(data, scope=current, by="model").rows
        clusters = analytics.errors(data, current, top=10).clusters
        insights = analytics.planning(data, current, failed_only=True, limit=10).tasks
        advice = _advice(settings, data, current, now)
        warnings = early_warnings(settings.log_path, rows)
    finally:
        data.source.close()
    return Report(
        since=since,
        until=now,
        days=days,
        totals=totals,
        previous=before,
        executors=executors,
        models=models,
        top_errors=clusters,
        insights=insights,
        recommendations=recommend(totals, executors, models, clusters, Thresholds.from_settings(settings)),
        daily=daily(rows, since, days),
        advice=advice,
        warnings=warnings,
        generated=time.time(),
        malformed=data.malformed,
    )


def _advice(settings, data, scope: Scope, now: float) -> list[dict[str, Any]]:
    """The period's `advise` findings, as plain rows (title, dollars per week, confidence, guard)."""
    from ..analytics.advise import advise, evidence_text
    from ..capture.pricing import Pricing

    result = advise(data, scope, pricing=Pricing.load(settings.section("pricing") if settings else None), now=now)
    return [
        {
            "kind": f.kind,
            "title": f.title,
            "usd_per_week": f.usd_per_week,
            "confidence": f.confidence,
            "evidence": evidence_text(f.evidence),
            "guard": f.guard["text"] if f.guard else None,
            "action": f.action,
        }
        for f in result.findings
    ]


EARLY_WARNINGS = ("failure_risk", "session_anomaly")  # alerts raised while the run can still be stopped


def early_warnings(log_dir, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per early-warning alert type, the period's sessions it alerted and whether it came in
    time to matter: the failed runs it caught, and what they spent after its first alert
    (what stopping there would have saved); what the succeeded ones spent after it is what
    stopping would have cost."""
    from ..store.reader import read_kind

    sessions = {row["attempt_id"]: row for row in rows}
    first: dict[tuple[str, str], dict[str, Any]] = {}
    for alert in read_kind(log_dir, "alerts"):
        key = (alert.get("type"), alert.get("attempt_id"))
        if key[0] in EARLY_WARNINGS and key[1] in sessions:
            if key not in first or str(alert.get("event_time")) < str(first[key].get("event_time")):
                first[key] = alert
    failed_total = sum(row["success"] is False for row in rows)
    found = []
    for kind in EARLY_WARNINGS:
        alerted = [(sessions[attempt], alert) for (k, attempt), alert in sorted(first.items()) if k == kind]
        if not alerted:
            continue
        after = [
            (row, max(0.0, (row["cost_usd"] or 0.0) - float(alert.get("cost_usd") or 0.0))) for row, alert in alerted
        ]
        failed = [(row, spent) for row, spent in after if row["success"] is False]
        found.append(
            {
                "type": kind,
                "sessions": len(alerted),
                "failed": len(failed),
                "failed_total": failed_total,
                "in_time": sum(spent > 0 for _, spent in failed),  # the failed run went on spending after it
                "unspent_failed_usd": sum(spent for _, spent in failed),
                "succeeded": sum(row["success"] is True for row, _ in alerted),
                "unspent_succeeded_usd": sum(spent for row, spent in after if row["success"] is True),
            }
        )
    return found


def agent_hours(rows: list[dict[str, Any]]) -> float:
    """Hours the agents worked: the sum of the sessions' durations."""
    return sum(r.get("duration_ms") or 0 for r in rows) / 3_600_000


def _totals(summary, rows: list[dict[str, Any]]) -> dict[str, Any]:
    hours = agent_hours(rows)
    n = summary.sessions
    return {
        "sessions": n,
        "completed": summary.ended,
        "succeeded": summary.succeeded,
        "open": summary.open,
        "success_pct": summary.success_pct,
        "cost_usd": summary.total_cost_usd,
        "errors": summary.total_errors,
        "agent_hours": hours,
        "cost_per_session": summary.total_cost_usd / n if n else None,
        "errors_per_session": summary.total_errors / n if n else None,
    }


def daily(rows: list[dict[str, Any]], since: float, days: int) -> list[dict[str, Any]]:
    """Sessions per UTC day of the period (by start), with outcomes and cost."""
    first = _dt.datetime.fromtimestamp(since, _dt.timezone.utc).date()
    series = {
        first + _dt.timedelta(days=i): {"sessions": 0, "succeeded": 0, "failed": 0, "open": 0, "cost_usd": 0.0}
        for i in range(days + 1)
    }
    for row in rows:
        started = row.get("started")
        if started is None:
            continue
        bucket = series.get(started.astimezone(_dt.timezone.utc).date())
        if bucket is None:
            continue
        bucket["sessions"] += 1
        status = row.get("status")
        bucket["succeeded" if status == "success" else "open" if status == "open" else "failed"] += 1
        bucket["cost_usd"] += row.get("cost_usd") or 0.0
    return [{"day": day.isoformat(), **v} for day, v in series.items()]


def iso(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def day_label(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y-%m-%d")
