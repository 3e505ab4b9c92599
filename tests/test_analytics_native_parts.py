"""The native session parts (`_core.stream_parts`) against the SQL they replaced.

The oracle is the old `parts.scan` over DuckDB's `read_json`, kept here only: it is fed
each line as agentlog's own reader judges it (a line that reader rejects becomes a line
DuckDB rejects too; a field outside the read schema of a type analytics cannot use is
dropped), so both must make the same `stream_sessions`, `stream_errors` and `stream_usage`.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentlog import _core
from agentlog.analytics import parts
from agentlog.analytics.scan import STREAM_COLUMNS, SUCCEEDED_MACRO, relation
from agentlog.events import parse_datetime

_FIRSTS = ("task_id", "task_title", "executor", "model")
_SUMS = (*parts.TOKEN_FIELDS, "usage_cost")
_END_TIME = "coalesce(timestamp, '-infinity'::TIMESTAMPTZ)"


def _old_partial(rel: str, keys: str) -> str:
    t = parts.TOKEN_FIELDS
    return f"""
SELECT {keys}, {", ".join(f"min({c}) AS {c}" for c in _FIRSTS)},
       min(timestamp) AS started, max(timestamp) AS last_seen,
       count(*) FILTER (event_type = 'session_end') AS ends,
       max({_END_TIME}) FILTER (event_type = 'session_end') AS end_time,
       arg_max({{'completion_status': data.completion_status, 'duration_ms': data.duration_ms,
                 'total_tokens': data.total_tokens, 'cost_usd': data.cost_usd, 'success': data.success,
                 'outcome': data.outcome, 'metrics': data.metrics}}, {_END_TIME})
           FILTER (event_type = 'session_end') AS end_data,
       count(*) FILTER (event_type = 'tool_call') AS tool_calls,
       count(*) FILTER (event_type = 'tool_result' AND data.result = 'error') AS tool_failures,
       count(*) FILTER (event_type = 'error') AS errors,
       count(*) FILTER (event_type = 'followup_sent') AS followups,
       count(*) FILTER (event_type = 'session_start' AND data.prompt_type = 'retry') AS retries,
       {", ".join(f"sum(data.{c}) FILTER (event_type = 'usage') AS {c}" for c in t)},
       sum(data.cost_usd) FILTER (event_type = 'usage') AS usage_cost,
       list({{'ts': timestamp, 'message': data.error_message,
              'fingerprint': nullif(data.error_fingerprint, ''),
              'category': nullif(data.error_category, '')}}) FILTER (event_type = 'error') AS error_list,
       list({{'day': timestamp::DATE, {", ".join(f"'{c}': data.{c}" for c in t)},
              'usage_cost': data.cost_usd}}) FILTER (event_type = 'usage') AS usage_list,
       count(*) FILTER (event_type IS NULL) AS malformed
FROM {rel} GROUP BY {keys}
"""


def _old_scan(rel: str, keys: str = "attempt_id") -> str:
    return f"""WITH part AS MATERIALIZED ({_old_partial(rel, keys)})
SELECT 'session' AS kind, * EXCLUDE (error_list, usage_list) FROM part
UNION ALL BY NAME
SELECT 'error' AS kind, {keys}, unnest(error_list, recursive := true) FROM part WHERE error_list IS NOT NULL
UNION ALL BY NAME
SELECT 'usage' AS kind, {keys}, day, {", ".join(f"sum({c}) AS {c}" for c in _SUMS)}
FROM (SELECT {keys}, unnest(usage_list, recursive := true) FROM part WHERE usage_list IS NOT NULL)
GROUP BY {keys}, day
"""


def _connect():
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(SUCCEEDED_MACRO)
    return con


def _tables(con) -> dict:
    out = {}
    for table in ("stream_sessions", "stream_errors", "stream_usage"):
        cur = con.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cur.description]
        out[table] = sorted((tuple(zip(names, row)) for row in cur.fetchall()), key=repr)
    out["succeeded"] = con.execute(
        "SELECT attempt_id, agentlog_succeeded(end_data) FROM stream_sessions ORDER BY ALL"
    ).fetchall()
    return out


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, str) and isinstance(b, str) and a != b:  # JSON texts: as values
        try:
            return json.loads(a) == json.loads(b)
        except ValueError:
            return False
    return a == b


def _native(files: list[Path]) -> dict:
    con = _connect()
    parts.load(con, "p", files)
    parts.build(con, "p")
    return _tables(con)


def _oracle(files: list[Path]) -> dict:
    con = _connect()
    con.execute(f"CREATE TEMP TABLE p AS {_old_scan(relation(files, STREAM_COLUMNS))}")
    parts.build(con, "p")
    return _tables(con)


# --- generated streams ------------------------------------------------------------------

_BASE = 1_767_225_600  # 2026-01-01


def _time(i: int, shape: int) -> str | None:
    """The i-th event's time (an hour apart: sessions cross days) in one of the shapes
    timestamps come in, or no time."""
    t = dt.datetime.fromtimestamp(_BASE + i * 3671, dt.timezone.utc)
    return [
        t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{i % 1000:03d}Z",
        (t + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S") + "+02:00",
        t.strftime("%Y-%m-%dT%H:%M:%S"),
        t.strftime("%Y-%m-%d %H:%M:%S.%f"),
        "yesterday",
        None,
    ][shape]


_DATA = st.fixed_dictionaries(
    {},
    optional={
        "prompt_type": st.sampled_from(["retry", "initial"]),
        "result": st.sampled_from(["error", "success"]),
        "error_message": st.text(max_size=8),
        "error_fingerprint": st.sampled_from(["", "fp1", "fp2"]),
        "error_category": st.sampled_from(["", "cat"]),
        **{t: st.integers(0, 10**6) for t in (*parts.TOKEN_FIELDS, "total_tokens")},
        "cost_usd": st.floats(0, 10, allow_nan=False),
        "duration_ms": st.one_of(st.integers(0, 10**6), st.floats(0, 1e6)),
        "completion_status": st.sampled_from(["success", "failed", "timeout"]),
        "success": st.sampled_from([True, False, "true", None, 1, {"x": True}]),
        "outcome": st.sampled_from([{"status": "completed"}, {"status": "success"}, {"status": 3}, {}, "completed"]),
        "metrics": st.sampled_from([{"success": True}, {"success": "true"}, {"other": 1}, 5]),
    },
)

_EVENT = st.fixed_dictionaries(
    {
        "event_type": st.sampled_from(
            ["session_start", "session_end", "tool_call", "tool_result", "error", "followup_sent", "usage", "other"]
        )
    },
    optional={
        "attempt_id": st.sampled_from(["a1", "a2", "é3"]),
        "task_id": st.sampled_from(["t1", "t2", "T0"]),
        "task_title": st.sampled_from(["Fix [m]", "b", 7]),
        "executor": st.sampled_from(["CODEX", "CLAUDE"]),
        "model": st.sampled_from(["m1", "m2", None, 5]),
        "data": _DATA,
    },
)

_HOSTILE = [
    b"not json",
    b"[1, 2]",
    b'{"attempt_id": "a1", "timestamp": "2026-01-01T00:00:00.000Z"}',
    b'{"event_type": 5, "attempt_id": "a1"}',
    b'{"event_type": "usage", "attempt_id": "a1", "data": {"cost_usd": 1e7}}',
    b'{"event_type": "usage", "attempt_id": "a1", "data": {"input_tokens": -1}}',
    b'{"event_type": "usage", "attempt_id": "a1", "data": {"input_tokens": "5"}}',
    b'{"event_type": "usage", "attempt_id": "a1", "data": {"input_tokens": 1e3}}',
    b'{"event_type": "usage", "attempt_id": "a1", "data": {"cost_usd": 1e400}}',
    b'{"event_type": "error", "attempt_id": "a2", "data": null}',
    b'{"event_type": "error", "attempt_id": "a2", "data": {"error_message": "\xff"}}',
    b'{"event_type": "tool_call", "attempt_id": 3}',
    b'{"event_type": "tool_call", "attempt_id": "a2", "x": ' + b"[" * 70 + b"]" * 70 + b"}",
    b'{"event_type": "tool_call", "attempt_id": "a2", "x": ' + b"[" * 20 + b"]" * 20 + b"}",
    b'{"event_type": "tool_call", "attempt_id": "a2", "attempt_id": "a1"}',
    b'\xef\xbb\xbf{"event_type": "followup_sent", "attempt_id": "a1"}',
    b'{"event_type": "error", "attempt_id": "a1", "data": {"error_message": "\\ud83d\\ude00 \\"q\\"\\n"}}',
    b"",
    b"   \t",
    b'{"event_type": "tool_call", "attempt_id": "a1"',
]


def _normal(event: dict) -> dict:
    """The event as agentlog's reader reads it, in what DuckDB's pinned columns can hold."""
    event = dict(event)
    ts = event.get("timestamp")
    if ts is not None:
        try:
            parse_datetime(ts)
        except ValueError:
            del event["timestamp"]
    for name in ("task_title", "model"):
        if not isinstance(event.get(name), str):
            event.pop(name, None)
    data = event.get("data")
    if isinstance(data, dict):
        data = event["data"] = dict(data)
        if not isinstance(data.get("outcome"), dict):
            data.pop("outcome", None)
        elif not isinstance(data["outcome"].get("status"), str):
            data["outcome"] = {}
        if not isinstance(data.get("metrics"), dict):
            data.pop("metrics", None)
    return event


@st.composite
def _streams(draw):
    files = []
    i = 0
    for _ in range(draw(st.integers(1, 3))):
        lines, oracle = [], []
        for _ in range(draw(st.integers(0, 25))):
            if draw(st.integers(0, 4)) == 0:
                line = draw(st.sampled_from(_HOSTILE))
                lines.append(line)
                if _core.line_problem(line) is None and line.strip():
                    oracle.append(json.dumps(_normal(json.loads(line.decode("utf-8-sig")))).encode())
                else:
                    oracle.append(b"" if not line.strip() else b"{")
                continue
            event = draw(_EVENT)
            i += 1
            # ties of session_end times are DuckDB's pick: those always have a time of their own
            shape = draw(st.integers(0, 3 if event["event_type"] == "session_end" else 5))
            ts = _time(i, shape)
            if ts is not None:
                event["timestamp"] = ts
            lines.append(json.dumps(event).encode())
            oracle.append(json.dumps(_normal(event)).encode())
        gz = draw(st.booleans())
        tail = not gz and lines and draw(st.booleans())  # a last line without its newline
        files.append((lines, oracle, gz, tail))
    return files


def _write(folder: Path, files, which: int) -> list[Path]:
    paths = []
    for n, entry in enumerate(files):
        lines, gz, tail = entry[which], entry[2], entry[3]
        body = b"\n".join(lines) + (b"" if tail else b"\n")
        path = folder / f"s{n}.jsonl{'.gz' if gz else ''}"
        path.write_bytes(gzip.compress(body) if gz else body)
        paths.append(path)
    return paths


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=_streams())
def test_native_parts_equal_the_sql_parts(tmp_path_factory, files):
    folder = tmp_path_factory.mktemp("parts")
    (folder / "native").mkdir()
    (folder / "oracle").mkdir()
    native = _native(_write(folder / "native", files, 0))
    oracle = _oracle(_write(folder / "oracle", files, 1))
    for table in native:
        assert _same(native[table], oracle[table]), table


def test_a_big_file_cut_into_pieces_gives_the_parts_of_it_whole(tmp_path, monkeypatch):
    """Lines across piece boundaries are read once (pieces are 32 MiB: a 70 MiB file)."""
    event = {"event_type": "usage", "attempt_id": "a", "data": {"input_tokens": 1, "error_message": "x" * 900}}
    line = json.dumps(event).encode() + b"\n"
    count = (70 << 20) // len(line)
    path = tmp_path / "big.jsonl"
    path.write_bytes(line * count)
    con = _connect()
    parts.load(con, "p", [path])
    parts.build(con, "p")
    assert con.execute("SELECT input_tokens, malformed FROM stream_sessions").fetchall() == [(count, 0)]


def test_odd_times_read_as_python_reads_them_within_the_years_duckdb_keeps(tmp_path):
    times = [
        "2026-01-01T02:00:00+02:00",  # 00:00 UTC
        "2026-01-01 00:00:00.000001",  # naive: UTC
        "yesterday",  # no time; the event still counts
        "0001-01-01T00:30:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:30:00-01:00",  # after 9999 in UTC
    ]
    path = tmp_path / "s.jsonl"
    path.write_text(
        "".join(json.dumps({"event_type": "error", "attempt_id": "a", "timestamp": t}) + "\n" for t in times)
    )
    con = _connect()
    parts.load(con, "p", [path])
    rows = con.execute("SELECT epoch_us(ts) FROM p WHERE kind = 'error'").fetchall()
    assert rows == [(1_767_225_600_000_000,), (1_767_225_600_000_001,), (None,), (None,), (None,)]
