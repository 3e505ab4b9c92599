"""What the pages show, from the analytics library; one DuckDB scan reused until the files change."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .. import analytics
from ..analytics.source import Scope
from ..store import layout
from ..store.reader import files_of

WINDOWS = {"24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "90d": 90 * 86400, "all": None}
DEFAULT_WINDOW = "7d"
STATUSES = ("success", "failed", "timeout", "interrupted", "open")
SORTABLE = ("started", "attempt_id", "executor", "model", "status", "duration_ms", "total_tokens", "cost_usd", "errors")
PAGE_SIZE = 100


def scope_for(window: str, now: float | None = None, **filters: str | None) -> Scope:
    seconds = WINDOWS.get(window, WINDOWS[DEFAULT_WINDOW])
    since = None if seconds is None else (time.time() if now is None else now) - seconds
    return Scope(since=since, **{k: v or None for k, v in filters.items()})


class DataCache:
    """The analytics `Dataset`, rebuilt only when a stream or metrics file changed.

    DuckDB connections are not for concurrent use, and pages are served from a thread
    pool: `use()` hands the dataset to one request at a time.
    """

    def __init__(self, log_dir: Path):
        self.log_dir = Path(log_dir)
        self._lock = threading.Lock()
        self._data: analytics.Dataset | None = None
        self._signature: tuple | None = None

    def _files_signature(self) -> tuple:
        paths = files_of(self.log_dir, layout.STREAM) + files_of(self.log_dir, layout.METRICS)
        signature = []
        for path in paths:
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            signature.append((str(path), st.st_ino, st.st_size, st.st_mtime_ns))
        return tuple(signature)

    @contextmanager
    def use(self) -> Iterator[analytics.Dataset]:
        with self._lock:
            signature = self._files_signature()
            if self._data is None or signature != self._signature:
                if self._data is not None:
                    self._data.source.close()
                self._data, self._signature = analytics.load(self.log_dir), signature
            yield self._data

    def close(self) -> None:
        with self._lock:
            if self._data is not None:
                self._data.source.close()
                self._data = None


@dataclass
class SessionQuery:
    """The sessions page's filters (all optional)."""

    window: str = DEFAULT_WINDOW
    executor: str = ""
    model: str = ""
    status: str = ""
    task: str = ""
    q: str = ""
    sort: str = "started"  # one of SORTABLE
    dir: str = "desc"
    page: str = "1"

    @classmethod
    def from_params(cls, params) -> "SessionQuery":
        query = cls(**{k: (params.get(k) or "").strip()[:200] for k in cls.__dataclass_fields__
                       if params.get(k)})
        if query.sort not in SORTABLE:
            query.sort = "started"
        if query.dir not in ("asc", "desc"):
            query.dir = "desc"
        query.page = str(max(1, int(query.page))) if query.page.isdigit() else "1"
        return query

    def link(self, **changes: str) -> str:
        """This query's URL with `changes` (a new sort starts at page 1)."""
        from urllib.parse import urlencode

        values = {**{k: getattr(self, k) for k in self.__dataclass_fields__}, **changes}
        return "/sessions?" + urlencode({k: v for k, v in values.items() if v})

    def matches(self, row: dict[str, Any]) -> bool:
        if self.status and row.get("status") != self.status:
            return False
        if self.q:
            needle = self.q.lower()
            haystack = (row.get(k) for k in ("attempt_id", "task_id", "task_title", "top_fingerprint"))
            return any(needle in str(v).lower() for v in haystack if v)
        return True


def sessions(data, query: SessionQuery, limit: int = PAGE_SIZE) -> tuple[list[dict[str, Any]], int]:
    """The page `query.page` (of `limit` rows) of the matching sessions in its order, and how
    many matched. Sessions without the sorted value come last either way."""
    scope = scope_for(query.window, executor=query.executor, model=query.model, task=query.task)
    rows = [r for r in analytics.metrics(data, scope).sessions if query.matches(r)]
    missing = [r for r in rows if r.get(query.sort) is None]
    rows = [r for r in rows if r.get(query.sort) is not None]
    rows.sort(key=lambda r: r[query.sort], reverse=query.dir == "desc")
    rows += missing
    start = (int(query.page) - 1) * limit
    return rows[start:start + limit], len(rows)


def session_count(data) -> int:
    """Sessions in the whole log, whatever their time."""
    return data.query("SELECT count(*) AS n FROM sessions")[0]["n"]


def choices(data) -> dict[str, list[str]]:
    """The executors and models seen in the logs, for the filter menus."""
    return {column: [r["v"] for r in data.query(
        f"SELECT DISTINCT {column} AS v FROM sessions WHERE {column} IS NOT NULL ORDER BY 1")]
        for column in ("executor", "model")}


def series(rows: list[dict[str, Any]], since: float | None, now: float | None = None) -> dict[str, list]:
    """Sessions by outcome, cost and errors per time bucket (hours for a day, else days),
    as uPlot's columns: x in epoch seconds, then one list per series."""
    now = time.time() if now is None else now
    starts = [r["started"].timestamp() for r in rows if r.get("started") is not None]
    first = since if since is not None else min(starts, default=now)
    step = 3600 if now - first <= 2 * 86400 else 86400
    base = int(first // step * step)
    buckets: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        if row.get("started") is None:
            continue
        b = buckets[int(row["started"].timestamp() // step * step)]
        b["sessions"] += 1
        b[row["status"] if row["status"] in ("success", "open") else "failed"] += 1
        b["cost"] += row.get("cost_usd") or 0
        b["errors"] += row.get("errors") or 0
    xs = list(range(base, int(now // step * step) + step, step))
    return {"x": xs, "step": step, **{name: [buckets[x][name] if x in buckets else 0 for x in xs]
                                      for name in ("sessions", "success", "failed", "open", "cost", "errors")}}
