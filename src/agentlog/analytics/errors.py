"""`agentlog errors`: error clusters by fingerprint (derived from the message when missing),
each with its readable template; `--explain FINGERPRINT`: the variants behind one cluster."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .report import Result, Table, dataset, scoped
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
class ErrorClusters(Result):
    total_errors: int
    total_clusters: int
    clusters: list[dict[str, Any]] = field(default_factory=list)

    def tables(self) -> list[Table]:
        columns = [
            "fingerprint",
            "template",
            "occurrences",
            "tasks",
            "attempts",
            "first_seen",
            "last_seen",
            "categories",
            "sample",
        ]
        return [Table("Error clusters", columns, self.clusters)]


def errors(source, scope: Scope = Scope(), top: int = 10) -> ErrorClusters:
    """Clusters by fingerprint, most frequent first; first/last seen by time, not file order."""
    data = dataset(source)
    rows = scoped(data, _CLUSTERS, scope, "ts")
    shown = rows[:top] if top else rows
    for row in shown:
        row["template"] = _template(row["sample"]) or row["fingerprint"]
    return ErrorClusters(
        total_errors=sum(r["occurrences"] for r in rows),
        total_clusters=len(rows),
        clusters=shown,
        malformed=data.malformed,
    )


_VARIANTS = """
SELECT message, count(*) AS occurrences, count(DISTINCT attempt_id) AS attempts,
       min(ts) AS first_seen, max(ts) AS last_seen,
       list(DISTINCT category ORDER BY category) AS categories
FROM error_events WHERE {where} AND fingerprint = ?
GROUP BY message ORDER BY occurrences DESC, message
"""


@dataclass
class ErrorVariants(Result):
    fingerprint: str
    template: str | None
    occurrences: int
    variants: list[dict[str, Any]] = field(default_factory=list)

    def tables(self) -> list[Table]:
        columns = ["occurrences", "attempts", "first_seen", "last_seen", "categories", "message"]
        return [Table(f"Variants of {self.fingerprint}: {self.template}", columns, self.variants)]


def explain(source, fingerprint: str, scope: Scope = Scope(), top: int = 20) -> ErrorVariants:
    """The distinct messages grouped under one fingerprint, most frequent first."""
    data = dataset(source)
    rows = scoped(data, _VARIANTS, scope, "ts", [fingerprint])
    return ErrorVariants(
        fingerprint=fingerprint,
        template=_template(rows[0]["message"]) if rows else None,
        occurrences=sum(r["occurrences"] for r in rows),
        variants=rows[:top] if top else rows,
        malformed=data.malformed,
    )


def _template(message: str | None) -> str | None:
    """The message with its variable parts masked: what every member of the cluster shares.

    (`analyze_error(message).template` without its classification, which costs more.)
    """
    from ..intel import normalize

    return " ".join(normalize(message)) if message else None
