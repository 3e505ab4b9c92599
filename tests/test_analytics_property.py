"""Property: on random logs, the DuckDB reports equal a plain-Python reference computation.

The reference reads the files with `store.reader` and applies `events.succeeded` and
`intel.analyze_error` directly, so the SQL version of every rule is checked against
the Python one.
"""

from __future__ import annotations

import gzip
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from agentlog import analytics
from agentlog.events import encode, parse_time, succeeded
from agentlog.intel import analyze_error
from agentlog.store.reader import read_kind

MESSAGES = [
    "401 Unauthorized: invalid api key",
    "fatal: not a git repository",
    "npm ERR! network timeout",
    "AssertionError: expected 1 == 2",
    "something odd happened 42",
]
ENDS = [
    {"completion_status": "success"},
    {"completion_status": "failed"},
    {"completion_status": "timeout"},
    {"completion_status": "interrupted"},
    {"completion_status": "setup_failed"},
    {"outcome": {"status": "completed"}},
    {"metrics": {"success": True}},
    {"success": True},
    {"completion_status": "failed", "outcome": {"status": "failed"}},
    {},
]

event = st.fixed_dictionaries(
    {
        "attempt": st.integers(0, 7),
        "second": st.integers(0, 5 * 86400),
        "kind": st.sampled_from(
            [
                "session_start",
                "tool_call",
                "tool_result",
                "error",
                "usage",
                "followup_sent",
                "session_end",
                "agent_output",
            ]
        ),
        "message": st.sampled_from(MESSAGES),
        "with_fingerprint": st.booleans(),
        "end": st.sampled_from(ENDS),
        "duration": st.one_of(st.none(), st.integers(0, 10**6)),
        "cost": st.floats(0, 1, allow_nan=False).map(lambda x: round(x, 4)),
        "tokens": st.integers(0, 10**5),
        "retry": st.booleans(),
        "failed_tool": st.booleans(),
    }
)


def to_line(e: dict) -> dict:
    a = e["attempt"]
    seconds = 1767225600 + e["second"]
    line = {
        "timestamp": f"2026-01-0{1 + seconds // 86400 - 20454}T{(seconds % 86400) // 3600:02d}:"
        f"{(seconds % 3600) // 60:02d}:{seconds % 60:02d}.{a:03d}Z",
        "event_type": e["kind"],
        "attempt_id": f"a{a}",
        "task_id": f"t{a % 3}",
        "task_title": f"[{'s' if a % 2 else 'l'}] task",
        "executor": ["CODEX", "COPILOT", "GEMINI"][a % 3],
        "model": f"m{a % 2}",
    }
    kind = e["kind"]
    data = {
        "session_start": {"prompt_type": "retry" if e["retry"] else "initial"},
        "tool_call": {"tool_name": "bash"},
        "tool_result": {"tool_name": "bash", "result": "error" if e["failed_tool"] else "success"},
        "usage": {"input_tokens": e["tokens"], "output_tokens": 1, "cost_usd": e["cost"]},
        "followup_sent": {"message": "more"},
        "agent_output": {"output": "x"},
        "session_end": {**e["end"], **({"duration_ms": e["duration"]} if e["duration"] is not None else {})},
        "error": {
            "error_message": e["message"],
            **(
                {"error_fingerprint": "given-" + e["message"][:5], "error_category": "given"}
                if e["with_fingerprint"]
                else {}
            ),
        },
    }[kind]
    return {**line, "data": data}


def reference(log_dir: Path) -> dict:
    """Sessions, summary, error clusters and the executor comparison, in plain Python."""
    by_attempt = defaultdict(list)
    for ev in read_kind(log_dir, "stream"):
        by_attempt[ev["attempt_id"]].append(ev)
    sessions, errors = {}, []
    for attempt, evs in by_attempt.items():
        times = [parse_time(ev["timestamp"]) for ev in evs]
        kinds = Counter(ev["event_type"] for ev in evs)
        ends = [ev for ev in evs if ev["event_type"] == "session_end"]
        end = max(ends, key=lambda ev: parse_time(ev["timestamp"]))["data"] if ends else None
        ok = bool(end is not None and succeeded(end))
        written = (end or {}).get("completion_status")
        status = (
            "open"
            if end is None
            else "success"
            if ok
            else written
            if written in ("failed", "timeout", "interrupted")
            else "failed"
        )
        usage = [ev["data"] for ev in evs if ev["event_type"] == "usage"]
        tokens = sum(u["input_tokens"] + u["output_tokens"] for u in usage)
        cost = sum(u["cost_usd"] for u in usage)
        retries = sum(1 for ev in evs if ev["event_type"] == "session_start" and ev["data"]["prompt_type"] == "retry")
        duration = (end or {}).get("duration_ms")
        sessions[attempt] = {
            "executor": evs[0]["executor"],
            "task_id": evs[0]["task_id"],
            "started": min(times),
            "ended": end is not None,
            "success": ok,
            "status": status,
            "first_shot": ok and kinds["followup_sent"] == 0 and retries == 0,
            "duration_ms": duration if duration is not None else round((max(times) - min(times)) * 1000),
            "total_tokens": tokens,
            "cost_usd": cost,
            "errors": kinds["error"],
            "tool_calls": kinds["tool_call"],
            "tool_failures": sum(
                1 for ev in evs if ev["event_type"] == "tool_result" and ev["data"]["result"] == "error"
            ),
        }
        for ev in evs:
            if ev["event_type"] == "error":
                d, info = ev["data"], analyze_error(ev["data"]["error_message"])
                errors.append(
                    {
                        "fingerprint": d.get("error_fingerprint") or info.fingerprint,
                        "category": d.get("error_category") or info.category,
                        "attempt": attempt,
                        "task": ev["task_id"],
                        "ts": parse_time(ev["timestamp"]),
                        "session_status": status,
                        "executor": ev["executor"],
                    }
                )
    return {"sessions": sessions, "errors": errors}


def mean(values):
    values = list(values)
    return sum(values) / len(values) if values else None


def close(a, b):
    return (a is None and b is None) or (a is not None and b is not None and a == pytest.approx(b, rel=1e-9, abs=1e-9))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event, min_size=1, max_size=60), st.integers(0, 60))
def test_duckdb_equals_python_reference(events, archived):
    with tempfile.TemporaryDirectory() as tmp:
        log_dir = Path(tmp)
        lines = [encode(to_line(e)) + b"\n" for e in events]
        (log_dir / "archive").mkdir()
        with gzip.open(log_dir / "archive" / "agent-work-stream-20260101T000000Z.jsonl.gz", "wb") as out:
            out.write(b"".join(lines[:archived]))
        (log_dir / "agent-work-stream.jsonl").write_bytes(b"".join(lines[archived:]))
        ref = reference(log_dir)
        data = analytics.load(log_dir)
        check_sessions(data, ref)
        check_summary(data, ref)
        check_errors(data, ref)
        check_compare(data, ref)


def check_sessions(data, ref):
    rows = {r["attempt_id"]: r for r in analytics.metrics(data).sessions}
    assert set(rows) == set(ref["sessions"])
    for attempt, want in ref["sessions"].items():
        got = rows[attempt]
        assert got["started"].timestamp() == pytest.approx(want["started"])
        for key in ("status", "success", "first_shot", "errors", "tool_calls", "tool_failures", "executor", "task_id"):
            assert got[key] == want[key], (attempt, key)
        for key in ("duration_ms", "total_tokens", "cost_usd"):
            assert close(got[key], want[key]), (attempt, key, got[key], want[key])


def check_summary(data, ref):
    s, sessions = analytics.summary(data, top=100), ref["sessions"].values()
    ended = [x for x in sessions if x["ended"]]
    assert (s.sessions, s.ended, s.succeeded) == (len(ref["sessions"]), len(ended), sum(x["success"] for x in ended))
    assert close(s.avg_duration_ms, mean(x["duration_ms"] for x in ended))
    assert close(s.total_cost_usd, sum(x["cost_usd"] for x in sessions))
    assert s.total_errors == len(ref["errors"])
    counts = Counter(e["fingerprint"] for e in ref["errors"])
    assert {e["fingerprint"]: e["occurrences"] for e in s.top_errors} == dict(counts)


def check_errors(data, ref):
    clusters = {c["fingerprint"]: c for c in analytics.errors(data, top=0).clusters}
    groups = defaultdict(list)
    for e in ref["errors"]:
        groups[e["fingerprint"]].append(e)
    assert set(clusters) == set(groups)
    for fp, evs in groups.items():
        c = clusters[fp]
        assert c["occurrences"] == len(evs)
        assert c["attempts"] == len({e["attempt"] for e in evs}) and c["tasks"] == len({e["task"] for e in evs})
        assert c["first_seen"].timestamp() == pytest.approx(min(e["ts"] for e in evs))
        assert c["last_seen"].timestamp() == pytest.approx(max(e["ts"] for e in evs))
        assert c["categories"] == sorted({e["category"] for e in evs})


def check_compare(data, ref):
    rows = {r["executor"]: r for r in analytics.compare(data).rows}
    by = defaultdict(list)
    for x in ref["sessions"].values():
        by[x["executor"]].append(x)
    assert set(rows) == set(by)
    for name, group in by.items():
        ended = [x for x in group if x["ended"]]
        row = rows[name]
        assert row["sessions"] == len(group) and row["ended"] == len(ended)
        pct = (lambda n: 100 * n / len(ended)) if ended else (lambda n: None)
        assert close(row["success_pct"], pct(sum(x["success"] for x in ended)))
        assert close(row["first_shot_pct"], pct(sum(x["first_shot"] for x in ended)))
        for key, field in (
            ("avg_duration_ms", "duration_ms"),
            ("avg_cost_usd", "cost_usd"),
            ("avg_tokens", "total_tokens"),
            ("avg_errors", "errors"),
        ):
            assert close(row[key], mean(x[field] for x in ended)), (name, key)
        failures = Counter(
            e["fingerprint"]
            for e in ref["errors"]
            if e["executor"] == name and e["session_status"] not in ("success", "open")
        )
        top = min(failures.items(), key=lambda kv: (-kv[1], kv[0]))[0] if failures else None
        assert row["top_failure"] == top
