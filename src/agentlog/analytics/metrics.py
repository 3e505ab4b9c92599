"""`agentlog metrics`: one row per session with every metric, for spreadsheets and notebooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .report import Result, Table, dataset
from .source import Scope

COLUMNS = [
    "attempt_id",
    "task_id",
    "task_title",
    "task_size",
    "executor",
    "model",
    "started",
    "last_seen",
    "status",
    "success",
    "first_shot",
    "duration_ms",
    "input_tokens",
    "output_tokens",
    "cache_creation_tokens",
    "cache_read_tokens",
    "reasoning_tokens",
    "total_tokens",
    "cost_usd",
    "tool_calls",
    "tool_failures",
    "errors",
    "followups",
    "retries",
    "top_fingerprint",
]

_ROWS = """
CREATE OR REPLACE TEMP TABLE metrics_export AS
SELECT s.* EXCLUDE (ended, from_metrics),
       (SELECT e.fingerprint FROM error_events e WHERE e.attempt_id = s.attempt_id
        GROUP BY e.fingerprint ORDER BY count(*) DESC, e.fingerprint LIMIT 1) AS top_fingerprint
FROM sessions s WHERE {where}
ORDER BY started NULLS LAST, attempt_id
"""

FORMATS = {"csv": "(FORMAT csv, HEADER true)", "json": "(FORMAT json, ARRAY true)", "parquet": "(FORMAT parquet)"}
# Counts the store keeps as DOUBLE (producers disagree on types): whole ones go to CSV
# as integers (1200, not 1200.0); JSON and Parquet keep the column's type.
_WHOLE = [c for c in COLUMNS if c == "duration_ms" or c.endswith("_tokens")]


@dataclass
class SessionMetrics(Result):
    sessions: list[dict[str, Any]] = field(default_factory=list)

    def tables(self) -> list[Table]:
        return [Table("Sessions", COLUMNS, self.sessions)]


def _select(data, scope: Scope) -> None:
    where, params = scope.where("started")
    data.con.execute(_ROWS.replace("{where}", where), params)


def metrics(source, scope: Scope = Scope()) -> SessionMetrics:
    data = dataset(source)
    _select(data, scope)
    rows = data.query(f"SELECT {', '.join(COLUMNS)} FROM metrics_export")
    return SessionMetrics(sessions=rows, malformed=data.malformed)


def export_metrics(source, path: Path | str, fmt: str, scope: Scope = Scope()) -> int:
    """Write the session rows to `path` as csv, json (an array) or parquet; returns the row count."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    data = dataset(source)
    _select(data, scope)
    target = str(path).replace("'", "''")
    columns = [_whole(c) if fmt == "csv" and c in _WHOLE else c for c in COLUMNS]
    data.con.execute(f"COPY (SELECT {', '.join(columns)} FROM metrics_export) TO '{target}' {FORMATS[fmt]}")
    return data.con.execute("SELECT count(*) FROM metrics_export").fetchone()[0]


def _whole(column: str) -> str:
    return (
        f"CASE WHEN {column} = trunc({column}) AND abs({column}) < 1e38 THEN CAST({column} AS HUGEINT)::VARCHAR "
        f"ELSE CAST({column} AS VARCHAR) END AS {column}"
    )
