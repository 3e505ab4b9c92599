"""`LogSource`, one DuckDB connection over the live and archived log files (their
relations, with the pinned schema, come from scan.py), and `Scope`, which part of them a
report looks at.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from ..store import layout
from ..store.reader import files_of
from . import columnar
from .scan import METRICS_COLUMNS, STREAM_COLUMNS, SUCCEEDED_MACRO, partial_tails, relation


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


class LogSource:
    """One DuckDB connection with `events` (the stream) and `metric_lines` views.

    `stream_tables()` makes `stream_sessions` and `stream_errors` from the stream's parts
    (`analytics.parts`): from the incremental cache under `state/` when `cache` is on and
    the log dir is writable, else by parsing every file. A compacted fleet archive
    (`analytics.columnar`) is read from its Parquet parts plus the stream after them.
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
        self.columnar = columnar.open_snapshot(self.log_dir)
        if self.columnar is not None:
            self.read_whole = []  # its copied tail holds complete lines only
            self.con.execute(f"CREATE OR REPLACE TEMP VIEW events AS SELECT * FROM {self.columnar.relation()}")
        else:
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

        if self.columnar is not None:  # a compacted fleet archive: its session parts, and the tail's
            snapshot = self.columnar
            try:
                parts.build(self.con, f"({snapshot.session_parts(self.con)})")
                return
            except duckdb.Error:  # a damaged part: the JSONL holds every event too
                self.columnar = None
                self.read_whole = list(self.stream_files)
                self._view("events", self.stream_files, STREAM_COLUMNS)
            finally:
                snapshot.close()  # read into tables: a compaction may now retire its parts
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
        parts.load(self.con, "stream_parts", self.stream_files)
        parts.build(self.con, "stream_parts")

    def unfinished_lines(self) -> int:
        return partial_tails(self.read_whole) + partial_tails(self.metrics_files)

    def close(self) -> None:
        self.con.close()
        if self.columnar is not None:
            self.columnar.close()

    def __enter__(self) -> "LogSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
