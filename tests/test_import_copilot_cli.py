"""`agentlog import copilot-cli`: a real events.jsonl of copilot 1.0.34 and a real legacy
history-session-state JSON (../shared/fixtures/copilot-cli)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import SHARED, imported_events, read_jsonl, run_cli

FIXTURES = SHARED / "fixtures" / "copilot-cli" / "vibecodingtracker"
EVENTS = next(FIXTURES.glob("session-state/*/events.jsonl"))
LEGACY = next(FIXTURES.glob("history-session-state/*.json"))


def _import(log_dir: Path, path: Path, *extra: str) -> str:
    return run_cli("import", "copilot-cli", str(path), "--log-dir", str(log_dir), *extra, check=True).stdout.decode()


def test_all_fixtures_import_and_again_adds_nothing(log_dir: Path) -> None:
    assert "2 sessions" in _import(log_dir, FIXTURES)
    assert "0 sessions, 0 events" in _import(log_dir, FIXTURES)


def test_output_per_message_and_the_rest_at_shutdown_add_up_to_the_sessions_totals(log_dir: Path) -> None:
    _import(log_dir, EVENTS)
    events = imported_events(log_dir, EVENTS.parent.name)
    lines = read_jsonl(EVENTS)
    shutdown = next(r["data"] for r in lines if r["type"] == "session.shutdown")
    totals = shutdown["modelMetrics"]["claude-sonnet-4.6"]["usage"]
    usage = [e["data"] for e in events if e["event_type"] == "usage"]
    per_message = [r["data"]["outputTokens"] for r in lines if r["type"] == "assistant.message"]
    assert [u["output_tokens"] for u in usage[:-1]] == per_message
    assert sum(u.get("output_tokens", 0) for u in usage) == totals["outputTokens"]
    assert sum(u.get("input_tokens", 0) + u.get("cache_read_tokens", 0) for u in usage) == totals["inputTokens"]
    assert usage[-1]["cache_read_tokens"] == totals["cacheReadTokens"] and usage[-1]["premium_requests"] == 2
    assert all(u["model"] == "claude-sonnet-4-6" and u["cost_source"] == "pricing_table" for u in usage)
    start, end = events[0], events[-1]
    assert start["session_id"] == EVENTS.parent.name and start["branch"] == "refactor/gemini-copilot-new-formats"
    assert start["data"]["agent_version"] == "1.0.34" and start["data"]["prompt"].startswith("請不要修改任何代碼")
    assert end["data"]["premium_requests"] == 2 and end["data"]["completion_status"] == "success"
    calls = {e["data"]["call_id"]: e["data"]["tool_name"] for e in events if e["event_type"] == "tool_call"}
    results = {e["data"]["call_id"]: e["data"]["tool_name"] for e in events if e["event_type"] == "tool_result"}
    assert results.items() <= calls.items() and "web_search" in calls.values()


def test_a_session_killed_before_its_shutdown_keeps_its_output_tokens(tmp_path: Path) -> None:
    lines = EVENTS.read_bytes().splitlines(keepends=True)
    cut = tmp_path / "session-state" / EVENTS.parent.name / "events.jsonl"
    cut.parent.mkdir(parents=True)
    cut.write_bytes(b"".join(raw for raw in lines if b'"session.shutdown"' not in raw))
    _import(tmp_path / "log", cut, "--open-after", "0")
    usage = [e["data"] for e in read_jsonl(tmp_path / "log" / "agent-work-stream.jsonl") if e["event_type"] == "usage"]
    per_message = sum(json.loads(raw)["data"]["outputTokens"] for raw in lines if b'"assistant.message"' in raw)
    assert sum(u["output_tokens"] for u in usage) == per_message
    assert not any(u.get("input_tokens") or u.get("cache_read_tokens") for u in usage)  # not known: not written


def test_a_failed_tool_is_an_error(tmp_path: Path) -> None:
    """Made by the test: one tool completion of the real file turned into a failure."""
    lines = read_jsonl(EVENTS)
    done = next(r for r in lines if r["type"] == "tool.execution_complete")
    done["data"].update(success=False, error={"message": "Permission denied: /etc/x", "code": "denied"})
    done["data"].pop("result")
    path = tmp_path / "session-state" / "s1" / "events.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    _import(tmp_path / "log", path, "--open-after", "0")
    errors = [e["data"] for e in read_jsonl(tmp_path / "log" / "agent-errors.jsonl")]
    assert [(e["error_message"], e["tool_name"]) for e in errors] == [("Permission denied: /etc/x", "report_intent")]
    assert errors[0]["error_fingerprint"]


def test_legacy_document_has_tool_calls_and_no_tokens(log_dir: Path) -> None:
    _import(log_dir, LEGACY)
    events = imported_events(log_dir, LEGACY.stem)
    assert sum(e["event_type"] == "tool_call" for e in events) == 59
    assert not [e for e in events if e["event_type"] == "usage"]  # absent, never zero
    assert events[0]["data"]["prompt"].startswith("專案經過了多輪跌代")
