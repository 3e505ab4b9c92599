"""`agentlog errors`: error clusters by fingerprint (derived from the message when missing)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .report import Report, Table, dataset, scoped
from .source import Scope

_CLUSTERS = """
SELECT fingerprint, count(*) AS occurrences,
       count(DISTINCT task_id) AS tasks, count(DISTINCT attempt_id) AS attempts,
       min(ts) AS first_seen, max(ts) AS last_seen,
       first(message ORDER BY ts NULLS LAST, message) AS sample,
       list(DISTINCT category ORDER BY category) AS categories
FROM error_events WHERE {where}
GROUP BY fingerprint ORDER BY occurrences DESC, fingerprint
"""


@dataclass
class ErrorClusters(Report):
    total_errors: int
    total_clusters: int
    clusters: list[dict[str, Any]] = field(default_factory=list)

    def tables(self) -> list[Table]:
        columns = ["fingerprint", "occurrences", "tasks", "attempts", "first_seen", "last_seen",
                   "categories", "sample"]
        return [Table("Error clusters", columns, self.clusters)]


def errors(source, scope: Scope = Scope(), top: int = 10) -> ErrorClusters:
    """Clusters by fingerprint, most frequent first; first/last seen by time, not file order."""
    data = dataset(source)
    rows = scoped(data, _CLUSTERS, scope, "ts")
    return ErrorClusters(total_errors=sum(r["occurrences"] for r in rows), total_clusters=len(rows),
                         clusters=rows[:top] if top else rows, malformed=data.malformed)
