"""What the pages show, from the analytics library; one DuckDB scan reused until the files change."""

from __future__ import annotations

import datetime as _dt
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, replace
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
        query = cls(**{k: (params.get(k) or "").strip()[:200] for k in cls.__dataclass_fields__ if params.get(k)})
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

    def where(self, inside: set[str]) -> tuple[str, list]:
        """The SQL condition on `sessions s` (and `top_fingerprint`) of these filters, with
        its parameters; `inside` are the sessions a search of their events found."""
        scope = scope_for(self.window, executor=self.executor, model=self.model, task=self.task)
        where, params = scope.where("s.started")
        if self.status:
            where += " AND s.status = ?"
            params.append(self.status)
        if self.q:
            fields = ("s.attempt_id", "s.task_id", "s.task_title", "top_fingerprint")
            found = " OR ".join(f"contains(lower({f}), ?)" for f in fields)
            where += f" AND ({found} OR list_contains(?::VARCHAR[], s.attempt_id))"
            params += [self.q.lower()] * len(fields) + [sorted(inside)]
        return where, params


# the most frequent error fingerprint of each session (ties: the first by name), which a search matches
_TOP_FINGERPRINT = """
SELECT attempt_id, fingerprint AS top_fingerprint FROM (
    SELECT attempt_id, fingerprint,
           row_number() OVER (PARTITION BY attempt_id ORDER BY count(*) DESC, fingerprint) AS rank
    FROM error_events GROUP BY attempt_id, fingerprint
) WHERE rank = 1
"""


def sessions(data, query: SessionQuery, limit: int = PAGE_SIZE) -> tuple[list[dict[str, Any]], int]:
    """The page `query.page` (of `limit` rows) of the matching sessions in its order, and how
    many matched: filtered, sorted and cut in SQL, so a page costs the same on any log.
    Sessions without the sorted value come last either way; ties keep the start order."""
    where, params = query.where(search_sessions(data, query.q) if query.q else set())
    top = f"LEFT JOIN ({_TOP_FINGERPRINT}) USING (attempt_id)" if query.q else ""
    matching = f"FROM sessions s {top} WHERE {where}"
    matched = data.query(f"SELECT count(*) AS n {matching}", params)[0]["n"]
    order = f"s.{query.sort} {query.dir.upper()} NULLS LAST, s.started NULLS LAST, s.attempt_id"
    rows = data.query(
        f"SELECT s.* EXCLUDE (ended, from_metrics) {matching} ORDER BY {order} LIMIT ? OFFSET ?",
        [*params, limit, (int(query.page) - 1) * limit],
    )
    return rows, matched


SEARCHED = ("error", "tool_call", "tool_result")  # error text, tool input, tool output
_SEARCH_COLUMNS = {"event_type": "VARCHAR", "attempt_id": "VARCHAR", "data": "JSON"}


def search_sessions(data, text: str) -> set[str]:
    """Attempts with an error, tool call or tool result whose data holds `text` (any case):
    one scan of the stream's files (archives included)."""
    from ..analytics.source import relation

    events = relation(data.source.stream_files, _SEARCH_COLUMNS)
    kinds = ", ".join(f"'{k}'" for k in SEARCHED)
    rows = data.query(
        f"SELECT DISTINCT attempt_id FROM {events} WHERE event_type IN ({kinds}) "
        "AND attempt_id IS NOT NULL AND contains(lower(CAST(data AS VARCHAR)), ?)",
        [text.lower()],
    )
    return {r["attempt_id"] for r in rows}


OVERVIEW_COLUMNS = ("started", "status", "cost_usd", "errors", "duration_ms")
USAGE_COLUMNS = (
    "attempt_id",
    "day",
    "executor",
    "model",
    "input_tokens",
    "output_tokens",
    "cache_creation_tokens",
    "cache_read_tokens",
    "cost_usd",
)


def session_rows(data, scope: Scope, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    """Only `columns` of the sessions in `scope`: what a chart needs, without the per-session
    extras of `analytics.metrics` (its top fingerprint costs a lookup per session)."""
    where, params = scope.where("started")
    return data.query(f"SELECT {', '.join(columns)} FROM sessions WHERE {where}", params)


def usage_rows(data, scope: Scope) -> list[dict[str, Any]]:
    """Tokens and cost per session and day of its usage (`usage_days`: a session crossing
    midnight is two rows), for the days `scope` touches (its first day counts whole)."""
    day_scope = replace(scope, since=None if scope.since is None else scope.since // 86400 * 86400)
    where, params = day_scope.where("day::TIMESTAMPTZ")
    return data.query(f"SELECT {', '.join(USAGE_COLUMNS)} FROM usage_days WHERE {where}", params)


def session_count(data) -> int:
    """Sessions in the whole log, whatever their time."""
    return data.query("SELECT count(*) AS n FROM sessions")[0]["n"]


def choices(data) -> dict[str, list[str]]:
    """The executors and models seen in the logs, for the filter menus."""
    return {
        column: [
            r["v"]
            for r in data.query(f"SELECT DISTINCT {column} AS v FROM sessions WHERE {column} IS NOT NULL ORDER BY 1")
        ]
        for column in ("executor", "model")
    }


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
    return {
        "x": xs,
        "step": step,
        **{
            name: [buckets[x][name] if x in buckets else 0 for x in xs]
            for name in ("sessions", "success", "failed", "open", "cost", "errors")
        },
    }


TOKEN_KINDS = (
    ("input_tokens", "input"),
    ("output_tokens", "output"),
    ("cache_creation_tokens", "cache write"),
    ("cache_read_tokens", "cache read"),
)
USAGE_GROUPS = ("model", "executor")
MAX_SERIES = 6  # groups drawn on their own in the cost chart; the rest are summed as "other"


def usage(rows: list[dict[str, Any]], by: str) -> dict[str, Any]:
    """Cost and tokens per day (of the usage, from `usage_rows`) and per `by` (model or
    executor): `table` rows (day, group, sessions with usage that day, each token kind,
    cost), `totals` per group (a session counted once), and the charts' columns (x in
    epoch seconds; cost per group; each token kind)."""
    cells: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    members: dict[str, set[str]] = defaultdict(set)  # group -> its sessions
    for row in rows:
        day = row["day"].strftime("%Y-%m-%d") if row.get("day") is not None else "unknown"
        group = row.get(by) or "(none)"
        members[group].add(row["attempt_id"])
        cell = cells[day, group]
        cell["sessions"] += 1
        for key, _ in TOKEN_KINDS:
            cell[key] += row.get(key) or 0
        cell["cost_usd"] += row.get("cost_usd") or 0
    columns = ["sessions", *(k for k, _ in TOKEN_KINDS), "cost_usd"]
    table = [
        {"day": day, by: group, **_tidy(cells[day, group], columns)}
        for day, group in sorted(cells, key=lambda k: (k[0], -cells[k]["cost_usd"]), reverse=True)
    ]
    totals: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(columns, 0.0))
    for (_, group), cell in cells.items():
        for c in columns:
            totals[group][c] += cell[c]
    for group, sessions in members.items():
        totals[group]["sessions"] = len(sessions)
    ranked = sorted(totals, key=lambda g: -totals[g]["cost_usd"])
    drawn = ranked[:MAX_SERIES]
    days = sorted({day for day, _ in cells if day != "unknown"})
    x = [int(_dt.datetime.strptime(d, "%Y-%m-%d").replace(tzinfo=_dt.timezone.utc).timestamp()) for d in days]
    cost = {g: [round(cells[d, g]["cost_usd"], 6) if (d, g) in cells else 0 for d in days] for g in drawn}
    if len(ranked) > MAX_SERIES:
        cost["other"] = [
            round(sum(cells[d, g]["cost_usd"] for g in ranked[MAX_SERIES:] if (d, g) in cells), 6) for d in days
        ]
    tokens = {
        label: [int(sum(cells[d, g][key] for g in totals if (d, g) in cells)) for d in days]
        for key, label in TOKEN_KINDS
    }
    # series as [name, values] pairs: their order is the legend's (a JSON object's keys get sorted)
    return {
        "table": table,
        "totals": [{by: g, **_tidy(totals[g], columns)} for g in ranked],
        "chart": {"x": x, "cost": list(cost.items()), "tokens": list(tokens.items())},
    }


def _tidy(cell: dict[str, float], columns: list[str]) -> dict[str, Any]:
    """Counts as whole numbers, cost to the micro-dollar (sums of floats leave 0.8999...)."""
    return {c: round(cell[c], 6) if c == "cost_usd" else int(cell[c]) for c in columns}


def date_scope(params, now: float | None = None, **filters: str | None) -> tuple[Scope, str, str, str]:
    """The scope of a page's `from`/`to` dates (YYYY-MM-DD, UTC, `to` inclusive) when given,
    else of its `window`: (scope, window, from, to) with the values understood."""
    window = params.get("window", DEFAULT_WINDOW)
    window = window if window in WINDOWS else DEFAULT_WINDOW
    start, end = _day(params.get("from")), _day(params.get("to"))
    if start is None and end is None:
        return scope_for(window, now, **filters), window, "", ""
    since = start.timestamp() if start else None
    until = (end + _dt.timedelta(days=1)).timestamp() if end else None
    scope = Scope(since=since, until=until, **{k: v or None for k, v in filters.items()})
    return scope, window, start.strftime("%Y-%m-%d") if start else "", end.strftime("%Y-%m-%d") if end else ""


def _day(value: str | None) -> _dt.datetime | None:
    try:
        return _dt.datetime.strptime((value or "").strip(), "%Y-%m-%d").replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        return None


def export_rows(rows: list[dict[str, Any]], columns: list[str], kind: str) -> bytes:
    """`rows` as CSV (a header, then one line each) or a JSON array, `columns` only."""
    import csv
    import io

    import msgspec

    picked = [{c: _plain(row.get(c)) for c in columns} for row in rows]
    if kind == "json":
        return msgspec.json.encode(picked)
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({c: _inert(v) for c, v in row.items()} for row in picked)
    return out.getvalue().encode()


def _inert(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (`=HYPERLINK(...)` in a task title)
    is quoted, so it opens as the text it is."""
    return "'" + value if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, _dt.datetime) else value


ENTRIES_PER_PAGE = 500


@dataclass
class EntriesPage:
    """One page of a session's timeline entries, after the search `q` (if any)."""

    entries: list[Any]
    page: int
    pages: int
    matched: int  # entries matching q (all of them without q)
    total: int


def entries_page(entries: list[Any], q: str = "", page: str = "1", size: int = ENTRIES_PER_PAGE) -> EntriesPage:
    if q:
        needle = q.lower()
        found = [e for e in entries if needle in _entry_text(e)]
    else:
        found = entries
    pages = max(1, -(-len(found) // size))
    number = min(max(1, int(page)) if page.isdigit() else 1, pages)
    return EntriesPage(found[(number - 1) * size : number * size], number, pages, len(found), len(entries))


def _entry_text(entry: Any) -> str:
    """What a search in a session looks at: the line shown, the folded detail (tool input,
    output, stack trace), and the same of a tool call's result."""
    parts = [entry.kind, entry.title, entry.detail or ""]
    if entry.result is not None:
        parts += [entry.result.title, entry.result.detail or ""]
    return "\n".join(parts).lower()


MAX_POINTS = 1500  # per session chart: a 60k-event session still sends a few KB


def session_charts(entries: list[Any]) -> dict[str, list]:
    """Per step of a session (its events in time order): cumulative cost and tokens, and the
    seconds each step took (the gap since the step before). Long sessions are thinned to
    MAX_POINTS steps, each keeping the largest gap of those it stands for."""
    x, cost, tokens, gap = [], [], [], []
    spent = used = 0.0
    before = None
    for entry in entries:
        t = entry.t
        if t is None or entry.kind == "alert":
            continue
        spent += entry.cost_usd or 0
        used += entry.tokens or 0
        x.append(t)
        cost.append(round(spent, 6))
        tokens.append(used)
        gap.append(round(t - before, 3) if before is not None and t >= before else 0)
        before = t
    step = max(1, -(-len(x) // MAX_POINTS))
    if step > 1:  # the last step of each run of `step` (the totals there), and the run's longest gap
        ends = [min(i + step, len(x)) - 1 for i in range(0, len(x), step)]
        gap = [max(gap[i : i + step]) for i in range(0, len(gap), step)]
        x, cost, tokens = [x[i] for i in ends], [cost[i] for i in ends], [tokens[i] for i in ends]
    return {"x": x, "cost": cost, "tokens": tokens, "step_s": gap}
