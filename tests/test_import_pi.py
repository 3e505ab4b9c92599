"""`agentlog import pi` and `agentlog import openclaw`: one session format, v1 (pi's own
real sessions) and v3 (test-made by agentsview and codeburn), read the same way."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from agentlog.store import layout
from conftest import SHARED, read_jsonl, run_cli

PI = SHARED / "fixtures" / "pi"
OPENCLAW = SHARED / "fixtures" / "openclaw"
LARGE = next((PI / "pi-mono" / "sessions").glob("*/2025-11-20T23-33-50-805Z_*.jsonl"))


def _import(agent: str, path: Path, log_dir: Path) -> str:
    return run_cli("import", agent, str(path), "--log-dir", str(log_dir), check=True).stdout.decode()


def _events(log_dir: Path) -> list[dict]:
    return read_jsonl(log_dir / layout.STREAM)


def test_v1_real_session_tool_calls_usage_cost_and_errors_as_written(tmp_path: Path) -> None:
    out = _import("pi", LARGE, tmp_path / "logs")
    assert "1 sessions" in out and "known_ignored 103" in out  # thinking-level changes
    events = _events(tmp_path / "logs")
    records = [json.loads(line) for line in LARGE.read_text().splitlines()]
    assistants = [r["message"] for r in records if r["type"] == "message" and r["message"]["role"] == "assistant"]
    calls = sum(1 for m in assistants for p in m["content"] if p.get("type") == "toolCall")
    kinds = Counter(e["event_type"] for e in events)
    assert kinds["tool_call"] == calls == 391
    assert kinds["tool_result"] == 373
    usage = [e["data"] for e in events if e["event_type"] == "usage"]
    assert sum(u.get("input_tokens", 0) for u in usage) == sum(m["usage"]["input"] for m in assistants)
    assert sum(u.get("cache_read_tokens", 0) for u in usage) == sum(m["usage"]["cacheRead"] for m in assistants)
    assert sum(u["cost_usd"] for u in usage) == pytest.approx(sum(m["usage"]["cost"]["total"] for m in assistants))
    assert {u["cost_source"] for u in usage} == {"transcript"}
    tool_errors = sum(1 for r in records if r["type"] == "message" and r["message"].get("isError"))
    api_errors = sum(1 for m in assistants if m["stopReason"] == "error")
    assert kinds["error"] == tool_errors + api_errors == 20
    assert events[0]["session_id"] == "d703a1a9-1b7b-4fb1-b512-c9738b1fe617"
    assert events[0]["data"]["working_dir"] == "/Users/badlogic/workspaces/pi-mono"
    assert {e["executor"] for e in events} == {"PI"}


def test_v3_tree_with_a_malformed_line_and_an_unknown_entry(tmp_path: Path) -> None:
    out = _import("pi", PI / "agentsview", tmp_path / "logs")
    assert "malformed_json 1" in out and "unknown_type:unknown_future_entry_type 1" in out
    events = _events(tmp_path / "logs")
    assert events[0]["data"]["prompt"] == "Fix the login bug" and events[0]["data"]["format_version"] == 3
    thinking = [e["data"]["thinking"] for e in events if e["event_type"] == "agent_thinking"]
    assert thinking == ["Let me analyze this carefully."]  # the redacted one has nothing to show
    result = next(e for e in events if e["event_type"] == "tool_result")
    assert (result["data"]["tool_name"], result["data"]["call_id"]) == ("read", "toolu_01")
    assert sum(e["data"]["cost_usd"] for e in events if e["event_type"] == "usage") == pytest.approx(0.015)


def test_openclaw_sessions_a_repeated_id_counted_once_and_cost_priced_when_absent(tmp_path: Path) -> None:
    out = _import("openclaw", OPENCLAW, tmp_path / "logs")
    assert "2 sessions" in out and "repeated_entry 1" in out
    events = _events(tmp_path / "logs")
    assert {e["executor"] for e in events} == {"OPENCLAW"}
    mine = [e for e in events if e["attempt_id"].startswith("myagent-test-sess-1-")]
    usage = [e["data"] for e in mine if e["event_type"] == "usage"]
    assert [u["input_tokens"] for u in usage] == [500, 600]
    assert [u["cost_source"] for u in usage] == ["pricing_table", "transcript"]
    calls = [e["data"]["tool_name"] for e in mine if e["event_type"] == "tool_call"]
    assert calls == ["exec", "write", "exec"]
    assert "0 sessions, 0 events" in _import("openclaw", OPENCLAW, tmp_path / "logs")


def test_aborted_last_turn_ends_the_attempt_interrupted(tmp_path: Path) -> None:
    """Test-made, in pi's v3 shape."""
    lines = [
        {"type": "session", "version": 3, "id": "s1", "timestamp": "2026-01-01T00:00:00Z", "cwd": "/w"},
        {
            "type": "message",
            "id": "e1",
            "parentId": None,
            "timestamp": "2026-01-01T00:00:01Z",
            "message": {"role": "user", "content": "go"},
        },
        {
            "type": "message",
            "id": "e2",
            "parentId": "e1",
            "timestamp": "2026-01-01T00:00:02Z",
            "message": {
                "role": "assistant",
                "content": [],
                "model": "claude-sonnet-4-5",
                "stopReason": "aborted",
                "errorMessage": "Request was aborted",
                "usage": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0, "cost": {"total": 0}},
            },
        },
    ]
    path = tmp_path / "sessions" / "--w--" / "2026-01-01T00-00-00-000Z_s1.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    os.utime(path, (1e9, 1e9))  # left alone long ago: complete
    _import("pi", tmp_path / "sessions", tmp_path / "logs")
    events = _events(tmp_path / "logs")
    assert [e["event_type"] for e in events] == ["session_start", "session_end"]
    assert events[-1]["data"]["completion_status"] == "interrupted"


def test_an_unknown_entry_s_time_dates_the_untimed_messages_before_it(tmp_path: Path) -> None:
    """Made by the test (found by the shape fuzzer): every entry but an unknown one has a null
    timestamp; the unknown one's time still dates the session, which is imported, not lost."""
    entries = [
        {"type": "session", "id": "sess-0", "timestamp": None, "cwd": "/work/app"},
        {"type": "message", "timestamp": None, "message": {"role": "user", "content": "fix it"}},
        {"type": "thinking_level_change", "timestamp": None},
        {"type": "future_entry_0", "timestamp": "2025-01-01T00:00:04.000Z"},
    ]
    (tmp_path / "main" / "sessions").mkdir(parents=True)
    (tmp_path / "main" / "sessions" / "sess-0.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    log_dir = tmp_path / "logs"
    result = run_cli("import", "openclaw", str(tmp_path / "main"), "--log-dir", str(log_dir))
    assert result.returncode == 0, result.stderr
    events = read_jsonl(log_dir / layout.STREAM)
    assert [(e["event_type"], e["data"].get("prompt")) for e in events] == [("session_start", "fix it")]
