"""`agentlog compare`: executors (or models) side by side."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .report import Result, Table, dataset, pct, scoped
from .source import Scope

GROUPINGS = ("executor", "model")

# Rates and averages are over ended sessions (an open one has no outcome and a partial
# cost yet); total cost counts every session.
_GROUPS = """
SELECT coalesce({key}, '(none)') AS name, count(*) AS sessions, count(*) FILTER (ended) AS ended,
       count(*) FILTER (success) AS succeeded, count(*) FILTER (first_shot) AS first_shot,
       avg(duration_ms) FILTER (ended) AS avg_duration_ms,
       avg(cost_usd) FILTER (ended) AS avg_cost_usd, coalesce(sum(cost_usd), 0) AS total_cost_usd,
       avg(total_tokens) FILTER (ended) AS avg_tokens, avg(errors) FILTER (ended) AS avg_errors
FROM sessions WHERE {where}
GROUP BY 1
"""

# The most common failure: the fingerprint seen most in the group's failed sessions.
_FAILURES = """
SELECT name, fingerprint FROM (
    SELECT coalesce({key}, '(none)') AS name, fingerprint,
           row_number() OVER (PARTITION BY coalesce({key}, '(none)') ORDER BY count(*) DESC, fingerprint) AS rank
    FROM error_events WHERE {where} AND session_status NOT IN ('success', 'open')
    GROUP BY 1, 2
) WHERE rank = 1
"""

COLUMNS = [
    "sessions",
    "ended",
    "success_pct",
    "first_shot_pct",
    "avg_duration_ms",
    "avg_cost_usd",
    "total_cost_usd",
    "avg_tokens",
    "avg_errors",
    "top_failure",
]


@dataclass
class Comparison(Result):
    by: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def tables(self) -> list[Table]:
        return [Table(f"By {self.by}", [self.by, *COLUMNS], self.rows)]


def compare(
    source, names: list[str] | tuple[str, ...] = (), scope: Scope = Scope(), by: str = "executor"
) -> Comparison:
    """One row per executor (or model); `names` picks and orders them (case-insensitive)."""
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(GROUPINGS)}, not {by!r}")
    data = dataset(source)
    groups = {r["name"]: r for r in scoped(data, _GROUPS.replace("{key}", by), scope, "started")}
    failures = {
        r["name"]: r["fingerprint"] for r in scoped(data, _FAILURES.replace("{key}", by), scope, "session_started")
    }
    rows = []
    for name in _order(names, groups):
        found = groups.get(name) or {"sessions": 0, "ended": 0, "succeeded": 0, "first_shot": 0, "total_cost_usd": 0.0}
        row = {
            by: name,
            "sessions": found["sessions"],
            "ended": found["ended"],
            "success_pct": pct(found["succeeded"], found["ended"]),
            "first_shot_pct": pct(found["first_shot"], found["ended"]),
            **{k: found.get(k) for k in ("avg_duration_ms", "avg_cost_usd", "avg_tokens", "avg_errors")},
            "total_cost_usd": float(found["total_cost_usd"]),
            "top_failure": failures.get(name),
        }
        rows.append(row)
    if not any(r["sessions"] for r in rows):
        rows = []
    return Comparison(by=by, rows=rows, malformed=data.malformed)


def _order(names, groups: dict[str, dict]) -> list[str]:
    """The asked-for names (matched case-insensitively), else all by sessions, most first."""
    if not names:
        return sorted(groups, key=lambda n: (-groups[n]["sessions"], n))
    by_upper = {n.upper(): n for n in groups}
    return [by_upper.get(n.upper(), n) for n in names]
