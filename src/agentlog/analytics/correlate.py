"""`agentlog correlate`: where each error fingerprint occurs — executor, model, task size."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .report import Result, Table, dataset, scoped
from .source import Scope

DIMENSIONS = {"executors": "executor", "models": "model", "sizes": "task_size"}

_BY = """
SELECT fingerprint, coalesce({column}, '(none)') AS value, count(*) AS n
FROM error_events WHERE {where} GROUP BY ALL ORDER BY fingerprint, n DESC, value
"""

# Average duration of the sessions the fingerprint occurred in, each session once.
_FINGERPRINTS = """
SELECT fingerprint, sum(n)::BIGINT AS occurrences, count(*) AS sessions,
       avg(session_duration_ms) AS avg_task_duration_ms
FROM (SELECT fingerprint, attempt_id, any_value(session_duration_ms) AS session_duration_ms, count(*) AS n
      FROM error_events WHERE {where} GROUP BY fingerprint, attempt_id)
GROUP BY fingerprint ORDER BY occurrences DESC, fingerprint
"""


@dataclass
class Correlation(Result):
    fingerprints: list[dict[str, Any]] = field(default_factory=list)

    def tables(self) -> list[Table]:
        columns = ["fingerprint", "occurrences", "sessions", "executors", "models", "sizes", "avg_task_duration_ms"]
        return [Table("Error correlation", columns, self.fingerprints)]


def correlate(source, scope: Scope = Scope(), top: int | None = None) -> Correlation:
    """Per fingerprint, its counts by executor, model and task size (`[xs|s|m|l|xl]` in the title)."""
    data = dataset(source)
    rows = scoped(data, _FINGERPRINTS, scope, "ts")
    by_fp = {r["fingerprint"]: r for r in rows}
    for name, column in DIMENSIONS.items():
        for row in by_fp.values():
            row[name] = {}
        for r in scoped(data, _BY.replace("{column}", column), scope, "ts"):
            by_fp[r["fingerprint"]][name][r["value"]] = r["n"]
    return Correlation(fingerprints=rows[:top] if top else rows, malformed=data.malformed)
