"""DuckDB relations over the live and archived log files, with a pinned schema.

DuckDB's type inference samples the first lines of a file, so a field that first appears
late (a `session_end` after thousands of tool calls) breaks it.  Every column analytics
reads is therefore declared here, and nothing else is parsed into typed columns.  With
`ignore_errors` a malformed line becomes a row of NULLs: a stream line without an
`event_type` (or a metrics line without an `attempt_id`) is counted as malformed.

The success flags are read as JSON, not BOOLEAN, so that `"success": "true"` (a string)
stays not-true, exactly as `agentlog.events.succeeded` judges it.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..events import MAX_MS, MAX_TOKENS, MAX_USD

_TOKENS = (
    "input_tokens DOUBLE, output_tokens DOUBLE, cache_creation_tokens DOUBLE, "
    "cache_read_tokens DOUBLE, reasoning_tokens DOUBLE, total_tokens DOUBLE"
)
_SUCCESS_FIELDS = (
    "completion_status VARCHAR, success JSON, outcome STRUCT(status VARCHAR), metrics STRUCT(success JSON)"
)

STREAM_COLUMNS = {
    "timestamp": "TIMESTAMPTZ",
    "event_type": "VARCHAR",
    "attempt_id": "VARCHAR",
    "task_id": "VARCHAR",
    "task_title": "VARCHAR",
    "executor": "VARCHAR",
    "model": "VARCHAR",
    "data": f"STRUCT(prompt_type VARCHAR, result VARCHAR, error_message VARCHAR, "
    f"error_fingerprint VARCHAR, error_category VARCHAR, {_TOKENS}, cost_usd DOUBLE, "
    f"duration_ms DOUBLE, {_SUCCESS_FIELDS})",
}

METRICS_COLUMNS = {
    "timestamp": "TIMESTAMPTZ",
    "attempt_id": "VARCHAR",
    "task_id": "VARCHAR",
    "task_title": "VARCHAR",
    "executor": "VARCHAR",
    "model": "VARCHAR",
    "completion_status": "VARCHAR",
    "success": "JSON",
    "outcome": "STRUCT(status VARCHAR)",
    "metrics": f"STRUCT(completion_status VARCHAR, success JSON, duration_ms DOUBLE, total_tokens DOUBLE, "
    f"cost_usd DOUBLE, errors DOUBLE, tool_calls DOUBLE, tool_failures DOUBLE, "
    f"followups DOUBLE, retry_count DOUBLE, {_TOKENS.replace(', total_tokens DOUBLE', '')})",
}

# A stream line with a number out of the schema's bounds (`events.ReadData`: finite, >= 0, within
# reason) is malformed, as every other reader says: its event_type reads as NULL, so no aggregate
# counts it (1e308 twice would make every sum infinite) and `malformed` does.
_BOUNDS = {
    "cost_usd": MAX_USD,
    "duration_ms": MAX_MS,
    **{
        t: MAX_TOKENS
        for t in (
            "input_tokens",
            "output_tokens",
            "cache_creation_tokens",
            "cache_read_tokens",
            "reasoning_tokens",
            "total_tokens",
        )
    },
}
IN_BOUNDS = " AND ".join(f"coalesce(data.{name} BETWEEN 0 AND {bound}, true)" for name, bound in _BOUNDS.items())

# `agentlog.events.succeeded` in SQL; `d` is any struct with the four success fields.
SUCCEEDED_MACRO = """
CREATE OR REPLACE TEMP MACRO agentlog_succeeded(d) AS
    coalesce(d.completion_status = 'success', false)
    OR coalesce(d.outcome.status IN ('completed', 'success'), false)
    OR coalesce(d.metrics.success::VARCHAR = 'true', false)
    OR coalesce(d.success::VARCHAR = 'true', false)
"""


def _columns_sql(columns: dict[str, str]) -> str:
    return "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items()) + "}"


def relation(paths: list[Path], columns: dict[str, str], *, filename: bool = False) -> str:
    """A `read_json` of `paths` with the pinned `columns` (plus `filename` if asked); with the
    stream's `data` column, lines out of bounds have a NULL event_type (`IN_BOUNDS`)."""
    if not paths:
        extra = "NULL::VARCHAR AS filename, " if filename else ""
        return (
            f"(SELECT {extra}"
            + ", ".join(f'NULL::{kind} AS "{name}"' for name, kind in columns.items())
            + " WHERE false)"
        )
    files = ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths)
    read = (
        f"read_json([{files}], format='newline_delimited', ignore_errors=true, "
        f"compression='auto_detect', columns={_columns_sql(columns)}, filename={str(filename).lower()})"
    )
    if columns.get("data") != STREAM_COLUMNS["data"]:
        return read
    return f"(SELECT * REPLACE (CASE WHEN {IN_BOUNDS} THEN event_type END AS event_type) FROM {read})"


def ends_complete(path: Path, size: int) -> bool:
    """Whether a file of `size` bytes ends with a whole line (gzip archives always do)."""
    if path.suffix == ".gz" or size == 0:
        return True
    with open(path, "rb") as handle:
        return os.pread(handle.fileno(), 1, size - 1) == b"\n"


def partial_tails(paths: list[Path]) -> int:
    """Live files whose last line has no newline yet: a writer is still appending it.

    DuckDB reads that unfinished line as one malformed row; it is not corrupt, so the
    malformed count leaves it out (as `store.reader` does).
    """
    count = 0
    for path in paths:
        try:
            count += not ends_complete(path, path.stat().st_size)
        except OSError:
            continue
    return count
