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
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ..events import MAX_MS, MAX_TOKENS, MAX_USD
from ..store import layout
from ..store.reader import files_of

_TOKENS = "input_tokens DOUBLE, output_tokens DOUBLE, cache_creation_tokens DOUBLE, " \
          "cache_read_tokens DOUBLE, reasoning_tokens DOUBLE, total_tokens DOUBLE"
_SUCCESS_FIELDS = "completion_status VARCHAR, success JSON, outcome STRUCT(status VARCHAR), " \
                  "metrics STRUCT(success JSON)"

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
_BOUNDS = {"cost_usd": MAX_USD, "duration_ms": MAX_MS,
           **{t: MAX_TOKENS for t in ("input_tokens", "output_tokens", "cache_creation_tokens",
                                      "cache_read_tokens", "reasoning_tokens", "total_tokens")}}
IN_BOUNDS = " AND ".join(f"coalesce(data.{name} BETWEEN 0 AND {bound}, true)" for name, bound in _BOUNDS.items())

# `agentlog.events.succeeded` in SQL; `d` is any struct with the four success fields.
SUCCEEDED_MACRO = """
CREATE OR REPLACE TEMP MACRO agentlog_succeeded(d) AS
    coalesce(d.completion_status = 'success', false)
    OR coalesce(d.outcome.status IN ('completed', 'success'), false)
    OR coalesce(d.metrics.success::VARCHAR = 'true', false)
    OR coalesce(d.success::VARCHAR = 'true', false)
"""


@dataclass(frozen=True)
class Scope:
    """Which sessions and errors a report looks at; None means any.

    Sessions are picked by their start time, errors by their own time; executor and
    model match without regard to case, task is a task id.
    """

    since: float | None = None  # epoch seconds, inclusive
    until: float | None = None  # exclusive
    executor: str | None = None
    model: str | None = None
    task: str | None = None

    def where(self, time_column: str) -> tuple[str, list]:
        """A SQL condition on the sessions/errors columns, and its parameters."""
        parts, params = ["true"], []
        if self.since is not None:
            parts.append(f"{time_column} >= to_timestamp(?)")
            params.append(self.since)
        if self.until is not None:
            parts.append(f"{time_column} < to_timestamp(?)")
            params.append(self.until)
        for column, value in (("executor", self.executor), ("model", self.model)):
            if value is not None:
                parts.append(f"upper({column}) = upper(?)")
                params.append(value)
        if self.task is not None:
            parts.append("task_id = ?")
            params.append(self.task)
        return " AND ".join(parts), params


def _columns_sql(columns: dict[str, str]) -> str:
    return "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items()) + "}"


def relation(paths: list[Path], columns: dict[str, str], *, filename: bool = False) -> str:
    """A `read_json` of `paths` with the pinned `columns` (plus `filename` if asked); for the
    stream's columns, lines out of bounds have a NULL event_type (`IN_BOUNDS`)."""
    if not paths:
        extra = "NULL::VARCHAR AS filename, " if filename else ""
        return f"(SELECT {extra}" + ", ".join(f"NULL::{kind} AS \"{name}\"" for name, kind in columns.items()) \
            + " WHERE false)"
    files = ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths)
    read = (f"read_json([{files}], format='newline_delimited', ignore_errors=true, "
            f"compression='auto_detect', columns={_columns_sql(columns)}, filename={str(filename).lower()})")
    if columns is not STREAM_COLUMNS:
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


class LogSource:
    """One DuckDB connection with `events` (the stream) and `metric_lines` views.

    `stream_tables()` makes `stream_sessions` and `stream_errors` from the stream's parts
    (`analytics.parts`): from the incremental cache under `state/` when `cache` is on and
    the log dir is writable, else by parsing every file.
    """

    def __init__(self, log_dir: Path | str, *, archives: bool = True, cache: bool = True):
        self.log_dir = Path(log_dir)
        self.cache = cache
        self.stream_files = files_of(self.log_dir, layout.STREAM, archives=archives)
        self.metrics_files = files_of(self.log_dir, layout.METRICS, archives=archives)
        self.read_whole = list(self.stream_files)  # stream files DuckDB parsed whole this time
        self.con = duckdb.connect(config={"preserve_insertion_order": False})
        self.con.execute("SET TimeZone = 'UTC'")  # naive timestamps are UTC, as in events.parse_time
        self.con.execute(SUCCEEDED_MACRO)
        self._view("events", self.stream_files, STREAM_COLUMNS)
        self._view("metric_lines", self.metrics_files, METRICS_COLUMNS)

    def _view(self, name: str, paths: list[Path], columns: dict[str, str]) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {relation(paths, columns)}")

    @property
    def cache_folder(self) -> Path:
        from .cache import FOLDER

        return self.log_dir / layout.STATE / FOLDER

    def stream_tables(self) -> None:
        """Create the temp tables `stream_sessions` and `stream_errors`."""
        from . import cache, parts

        if self.cache and self.stream_files:
            folder = self.cache_folder
            for attempt in range(2):
                try:
                    self.read_whole = cache.refresh(self.con, self.stream_files, folder)
                    return
                except OSError:
                    self.cache = False
                    break  # a read-only log dir: parse everything
                except duckdb.Error:
                    if attempt or not cache.forget(folder):
                        break  # a damaged part: rebuilt once from the files
        self.read_whole = list(self.stream_files)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE stream_parts AS {parts.scan('events', keys='attempt_id')}")
        parts.build(self.con, "stream_parts")

    def unfinished_lines(self) -> int:
        return partial_tails(self.read_whole) + partial_tails(self.metrics_files)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "LogSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
