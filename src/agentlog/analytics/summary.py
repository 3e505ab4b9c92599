"""`agentlog summary`: sessions, success rate, duration, cost, errors; per executor; top errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .report import Result, Table, dataset, pct, scoped
from .source import Scope

_TOTALS = """
SELECT count(*) AS sessions,
       count(*) FILTER (ended) AS ended,
       count(*) FILTER (success) AS succeeded,
       avg(duration_ms) FILTER (ended) AS avg_duration_ms,
       coalesce(sum(cost_usd), 0) AS total_cost_usd
FROM sessions WHERE {where}
"""

_BY_EXECUTOR = """
SELECT coalesce(executor, '(none)') AS executor, count(*) AS sessions,
       count(*) FILTER (ended) AS ended, count(*) FILTER (success) AS succeeded
FROM sessions WHERE {where}
GROUP BY 1 ORDER BY sessions DESC, executor
"""

# Errors are picked by their own time; the sample is the earliest message.
TOP_ERRORS = """
SELECT fingerprint, count(*) AS occurrences,
       first(message ORDER BY ts NULLS LAST, message) AS sample,
       min(category) AS category
FROM error_events WHERE {where}
GROUP BY fingerprint ORDER BY occurrences DESC, fingerprint
"""


@dataclass
class Summary(Result):
    sessions: int
    ended: int
    open: int
    succeeded: int
    success_pct: float | None  # of ended sessions; open ones are neither
    avg_duration_ms: float | None  # of ended sessions
    total_cost_usd: float
    total_errors: int
    executors: list[dict[str, Any]] = field(default_factory=list)
    top_errors: list[dict[str, Any]] = field(default_factory=list)

    def tables(self) -> list[Table]:
        overview = {
            k: getattr(self, k)
            for k in (
                "sessions",
                "ended",
                "open",
                "succeeded",
                "success_pct",
                "avg_duration_ms",
                "total_cost_usd",
                "total_errors",
            )
        }
        return [
            Table("Summary", list(overview), [overview] if self.sessions or self.total_errors else []),
            Table("By executor", ["executor", "sessions", "ended", "succeeded", "success_pct"], self.executors),
            Table("Top errors", ["fingerprint", "occurrences", "category", "sample"], self.top_errors),
        ]


def summary(source, scope: Scope = Scope(), top: int = 5) -> Summary:
    data = dataset(source)
    totals = scoped(data, _TOTALS, scope, "started")[0]
    executors = scoped(data, _BY_EXECUTOR, scope, "started")
    for row in executors:
        row["success_pct"] = pct(row["succeeded"], row["ended"])
    errors = scoped(data, TOP_ERRORS, scope, "ts")
    return Summary(
        sessions=totals["sessions"],
        ended=totals["ended"],
        open=totals["sessions"] - totals["ended"],
        succeeded=totals["succeeded"],
        success_pct=pct(totals["succeeded"], totals["ended"]),
        avg_duration_ms=totals["avg_duration_ms"],
        total_cost_usd=float(totals["total_cost_usd"]),
        total_errors=sum(e["occurrences"] for e in errors),
        executors=executors,
        top_errors=errors[:top],
        malformed=data.malformed,
    )
