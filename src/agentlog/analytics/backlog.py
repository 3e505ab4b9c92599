"""`agentlog backlog`: per task, how its attempts went; and the totals over all tasks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .report import Result, Table, dataset, pct, scoped
from .source import Scope

# A task is first-shot when its first attempt (by start) succeeded with no follow-up.
TASKS = """
SELECT task_id, min(task_title) AS task_title, count(*) AS attempts,
       bool_or(success) AS solved,
       first(first_shot ORDER BY started NULLS LAST, attempt_id) AS first_shot,
       coalesce(sum(duration_ms), 0) AS total_duration_ms, coalesce(sum(cost_usd), 0) AS cost_usd,
       sum(errors)::BIGINT AS errors,
       count(*) FILTER (ended AND NOT success) AS failed_attempts,
       list(DISTINCT executor ORDER BY executor) FILTER (executor IS NOT NULL) AS executors
FROM sessions WHERE {where} AND task_id IS NOT NULL
GROUP BY task_id
"""

FINGERPRINTS = """
SELECT task_id, fingerprint, category, count(*) AS n
FROM error_events WHERE {where} AND task_id IS NOT NULL
GROUP BY ALL ORDER BY task_id, n DESC, fingerprint
"""


@dataclass
class Backlog(Result):
    unique_tasks: int
    solved: int
    success_pct: float | None
    first_shot_pct: float | None
    avg_attempts: float | None
    tasks: list[dict[str, Any]] = field(default_factory=list)

    def tables(self) -> list[Table]:
        totals = {
            k: getattr(self, k) for k in ("unique_tasks", "solved", "success_pct", "first_shot_pct", "avg_attempts")
        }
        columns = [
            "task_id",
            "task_title",
            "attempts",
            "solved",
            "first_shot",
            "total_duration_ms",
            "cost_usd",
            "errors",
            "executors",
            "main_fingerprints",
        ]
        return [
            Table("Tasks", columns, self.tasks),
            Table("Totals", list(totals), [totals] if self.unique_tasks else []),
        ]


def task_rows(data, scope: Scope) -> list[dict[str, Any]]:
    """Every task in scope with its attempts' figures and error fingerprints (most first)."""
    tasks = scoped(data, TASKS, scope, "started")
    errors: dict[str, list[dict]] = {}
    for row in scoped(data, FINGERPRINTS, scope, "session_started"):
        errors.setdefault(row["task_id"], []).append(row)
    for task in tasks:
        found = errors.get(task["task_id"], [])
        task["fingerprints"] = {r["fingerprint"]: r["n"] for r in found}
        task["categories"] = {}
        for r in found:
            task["categories"][r["category"]] = task["categories"].get(r["category"], 0) + r["n"]
        task["executors"] = task["executors"] or []
    return tasks


def backlog(source, scope: Scope = Scope(), limit: int | None = 10) -> Backlog:
    """Unsolved tasks first, then by attempts; totals cover every task, not just the shown."""
    data = dataset(source)
    tasks = task_rows(data, scope)
    tasks.sort(key=lambda t: (t["solved"], -t["attempts"], -t["cost_usd"], t["task_id"]))
    shown = []
    for task in tasks[:limit] if limit else tasks:
        row = {
            k: task[k]
            for k in (
                "task_id",
                "task_title",
                "attempts",
                "solved",
                "first_shot",
                "total_duration_ms",
                "cost_usd",
                "errors",
                "executors",
            )
        }
        row["main_fingerprints"] = list(task["fingerprints"])[:3]
        shown.append(row)
    n = len(tasks)
    solved = sum(t["solved"] for t in tasks)
    return Backlog(
        unique_tasks=n,
        solved=solved,
        success_pct=pct(solved, n),
        first_shot_pct=pct(sum(bool(t["first_shot"]) for t in tasks), n),
        avg_attempts=sum(t["attempts"] for t in tasks) / n if n else None,
        tasks=shown,
        malformed=data.malformed,
    )
