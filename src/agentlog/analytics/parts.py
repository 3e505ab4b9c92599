"""Per-attempt partial aggregates: what a stretch of the stream says about each session.

A part is one row per attempt (and source file) with only mergeable aggregates: counts,
sums, min/max, the latest `session_end` with its time; then a row per error and a row
per day of the attempt's `usage` events (its tokens and cost that day: a session that
crosses midnight is charged to both days). The `kind` of each row says which.  Parts of
any stretches of any files merge into the part of their union (`merge` is associative),
and `finish` turns the merged parts into the `stream_sessions` table.  This is what lets
`analytics.cache` parse only the bytes appended since the last run.

The parts of files are computed natively (`_core.stream_parts`, native/src/parts.rs), in
one pass over the bytes on every core: parsing every line with DuckDB's `read_json` and
grouping in SQL was most of a report's time, while the parts are few rows.  Each line is
judged by the reader every other command uses: a malformed line only counts in `malformed`.

Sums stay NULL when a stretch has no `usage` event, so a merged sum is NULL exactly when
the whole session has none; `FINISH` makes that 0.
"""

from __future__ import annotations

import datetime as _dt
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .. import _core
from ..events import parse_datetime

TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "reasoning_tokens")
_SUMS = (*TOKEN_FIELDS, "usage_cost")
_COUNTS = ("ends", "tool_calls", "tool_failures", "errors", "followups", "retries", "malformed")
_FIRSTS = ("task_id", "task_title", "executor", "model")

_END_DATA = (
    "STRUCT(completion_status VARCHAR, duration_ms DOUBLE, total_tokens DOUBLE, cost_usd DOUBLE, "
    "success JSON, outcome STRUCT(status VARCHAR), metrics STRUCT(success JSON))"
)
# The flat parts' columns: `file` is the index of the file in the list the parts were made of.
COLUMNS = {
    "kind": "VARCHAR",
    "file": "INTEGER",
    "attempt_id": "VARCHAR",
    **{c: "VARCHAR" for c in _FIRSTS},
    "started": "TIMESTAMPTZ",
    "last_seen": "TIMESTAMPTZ",
    "ends": "BIGINT",
    "end_time": "TIMESTAMPTZ",
    "end_data": _END_DATA,
    **{c: "BIGINT" for c in _COUNTS[1:]},
    **{c: "DOUBLE" for c in _SUMS},
    "ts": "TIMESTAMPTZ",
    "message": "VARCHAR",
    "fingerprint": "VARCHAR",
    "category": "VARCHAR",
    "day": "DATE",
}
# Parts made by another version of the native code are not reused (cache, columnar).
VERSION = f"{_core.version()}-parts-1:{COLUMNS}"
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_FIRST_US = (_dt.datetime.min.replace(tzinfo=_dt.timezone.utc) - _EPOCH) // _dt.timedelta(microseconds=1)
_LAST_US = (_dt.datetime.max.replace(tzinfo=_dt.timezone.utc) - _EPOCH) // _dt.timedelta(microseconds=1)
_MIN_OBJECT = 16 << 20  # DuckDB's default maximum_object_size


def load(con, table: str, paths: list[Path]) -> None:
    """The temp table `table` of the flat parts of the stream files `paths`, one row per
    file and attempt (`file`: its index in `paths`), error, and attempt and day."""
    columns = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in COLUMNS.items()) + "}"
    if not paths:
        nulls = ", ".join(f'NULL::{kind} AS "{name}"' for name, kind in COLUMNS.items())
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {nulls} WHERE false")
        return
    with _scratch() as rows:
        longest = _core.stream_parts([os.fspath(p) for p in paths], rows, _odd_time)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM read_json(?, format='newline_delimited', "
            f"columns={columns}, maximum_object_size={max(_MIN_OBJECT, longest + 1)})",
            [rows],
        )


@contextmanager
def _scratch() -> Iterator[str]:
    """The path of a private temporary file for the rows. On Linux the file never has a name
    (O_TMPFILE) and lives only while this process holds it (the Rust side and DuckDB open it
    as /proc/self/fd/N), so a report killed mid-way leaves nothing in the temp folder;
    elsewhere it is a named file, removed afterwards."""
    if os.path.isdir("/proc/self/fd"):
        with tempfile.TemporaryFile(prefix="agentlog-parts-") as handle:
            yield f"/proc/self/fd/{handle.fileno()}"
        return
    fd, path = tempfile.mkstemp(prefix="agentlog-parts-", suffix=".jsonl")
    os.close(fd)
    try:
        yield path
    finally:
        os.unlink(path)


def _odd_time(text: str) -> int | None:
    """Microseconds since the epoch of a timestamp not in the stream's format, as
    `events.parse_time` reads it; None if it reads as no time, or as one outside the years
    1-9999 in UTC (an offset can push a time there; DuckDB would read it as BC or not at all)."""
    try:
        micros = (parse_datetime(text) - _EPOCH) // _dt.timedelta(microseconds=1)
    except (ValueError, TypeError, OverflowError):
        return None
    return micros if _FIRST_US <= micros <= _LAST_US else None


def merge(relation: str) -> str:
    """Flat parts in `relation` merged: one session row per attempt, one usage row per
    attempt and day, the error rows as they are."""
    return f"""
SELECT 'session' AS kind, attempt_id,
       {", ".join(f"min({c}) AS {c}" for c in _FIRSTS)},
       min(started) AS started, max(last_seen) AS last_seen,
       max(end_time) AS end_time, arg_max(end_data, end_time) AS end_data,
       {", ".join(f"sum({c})::BIGINT AS {c}" for c in _COUNTS)},
       {", ".join(f"sum({c}) AS {c}" for c in _SUMS)}
FROM {relation} WHERE kind = 'session'
GROUP BY attempt_id
UNION ALL BY NAME
SELECT * FROM {relation} WHERE kind = 'error'
UNION ALL BY NAME
{usage(relation, "'usage' AS kind, ")}
"""


def finish(relation: str) -> str:
    """The `stream_sessions` columns from the flat parts in `relation`."""
    return f"""
SELECT attempt_id, {", ".join(_FIRSTS)}, started, last_seen, ends > 0 AS has_end, end_data,
       tool_calls, tool_failures, errors, followups, retries,
       {", ".join(f"coalesce({c}, 0) AS {c}" for c in _SUMS)}, malformed
FROM ({merge(relation)}) WHERE kind = 'session'
"""


def errors(relation: str) -> str:
    """The error events (attempt_id, ts, message, fingerprint, category) in the flat parts."""
    return f"SELECT attempt_id, ts, message, fingerprint, category FROM {relation} WHERE kind = 'error'"


def usage(relation: str, extra: str = "") -> str:
    """Tokens and cost of each attempt's `usage` events per day (UTC) in the flat parts."""
    return f"""
SELECT {extra}attempt_id, day, {", ".join(f"sum({c}) AS {c}" for c in _SUMS)}
FROM {relation} WHERE kind = 'usage' GROUP BY attempt_id, day
"""


def build(con, relation: str) -> None:
    """The temp tables `stream_sessions`, `stream_errors` and `stream_usage` from the flat
    parts in `relation`."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE stream_sessions AS {finish(relation)}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE stream_errors AS {errors(relation)}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE stream_usage AS {usage(relation)}")
