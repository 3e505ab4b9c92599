"""`agentlog import codex`: rollouts, cumulative token counts, tool failures."""

from __future__ import annotations

from pathlib import Path

from conftest import ROOT, SHARED, imported_events, read_jsonl, run_cli

FIXTURES = SHARED / "fixtures" / "codex"
CASES = ROOT / "tests" / "data" / "transcripts" / "codex"
CID = "0199aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee"


def _import(log_dir: Path, path: Path) -> str:
    args = ("import", "codex", str(path), "--log-dir", str(log_dir), "--open-after", "0")
    return run_cli(*args, check=True).stdout.decode()


def _events(log_dir: Path, name: str) -> list[dict]:
    return imported_events(log_dir, name)


def test_real_rollout_maps_calls_results_and_skips_unknown_records(log_dir: Path) -> None:
    out = _import(log_dir, FIXTURES)
    assert "unknown_type:future_synthetic_record 1" in out
    events = _events(log_dir, "11111111-1111-4111-8111-111111111111")
    assert events[0]["event_type"] == "session_start"
    assert events[0]["data"]["prompt"] == "List the synthetic files."
    assert events[0]["session_id"] == "11111111-1111-4111-8111-111111111111"
    assert {e["model"] for e in events} == {"synthetic-model"}
    calls = [(e["data"]["tool_name"], e["data"]["call_id"]) for e in events if e["event_type"] == "tool_call"]
    assert calls == [
        ("exec_command", "call-structured-001"),
        ("apply_patch", "call-custom-001"),
        ("mcp__synthetic__lookup", "call-mcp-001"),
    ]
    results = [e["data"] for e in events if e["event_type"] == "tool_result"]
    assert [r["tool_name"] for r in results] == [c[0] for c in calls]
    assert all(r["result"] == "success" for r in results)
    assert [e["data"]["thinking"] for e in events if e["event_type"] == "agent_thinking"] == [
        "I will inspect the synthetic directory."
    ]
    outputs = [e for e in events if e["event_type"] == "agent_output"]
    assert len(outputs) == 1  # agent_message and the assistant item are one message


def test_token_count_fixture_prices_a_known_model(log_dir: Path) -> None:
    _import(log_dir, FIXTURES)
    usage = [e for e in _events(log_dir, "rollout-token-count") if e["event_type"] == "usage"]
    assert len(usage) == 1
    data = usage[0]["data"]
    assert (data["input_tokens"], data["cache_read_tokens"], data["output_tokens"], data["reasoning_tokens"]) == (
        900,
        100,
        180,
        20,
    )
    assert data["cost_usd"] == 0.0043925 and usage[0]["model"] == "gpt-5.2"


def test_repeated_cumulative_counts_are_counted_once(log_dir: Path) -> None:
    out = _import(log_dir, CASES)
    assert "repeated_token_count 2" in out
    usage = [e["data"] for e in _events(log_dir, CID) if e["event_type"] == "usage"]
    assert [(u["input_tokens"], u["cache_read_tokens"], u["output_tokens"], u["reasoning_tokens"]) for u in usage] == [
        (800, 200, 200, 100),
        (500, 1000, 50, 0),
    ]
    metrics = read_jsonl(log_dir / "agent-metrics.jsonl")[0]["metrics"]
    assert metrics["total_tokens"] == 1300 + 1550  # Codex's own total_tokens at the end


def test_failed_command_is_an_error_and_context_is_kept(log_dir: Path) -> None:
    _import(log_dir, CASES)
    events = _events(log_dir, CID)
    start = events[0]
    assert start["data"]["prompt"] == "make the tests pass" and start["branch"] == "fix/auth"
    results = [e["data"] for e in events if e["event_type"] == "tool_result"]
    assert [r["result"] for r in results] == ["error", "success"]
    error = next(e for e in events if e["event_type"] == "error")
    assert "No module named 'jwt'" in error["data"]["error_message"]
    assert events[-1]["data"]["completion_status"] == "success"
    assert "0 events" in _import(log_dir, CASES)


LEGACY = [  # a rollout from before the envelope: header, state markers, bare items with no time
    {
        "id": "c27a914d-0000-4000-8000-00000000abcd",
        "timestamp": "2025-08-20T13:20:47.060Z",
        "instructions": None,
        "git": {"branch": "main", "commit_hash": "abc"},
    },
    {"record_type": "state"},
    {
        "type": "message",
        "id": None,
        "role": "user",
        "content": [{"type": "input_text", "text": "<environment_context>\n<cwd>/w</cwd>\n</environment_context>"}],
    },
    {"type": "message", "id": None, "role": "user", "content": [{"type": "input_text", "text": "index the files"}]},
    {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "list first"}]},
    {"type": "function_call", "id": "fc_1", "name": "shell", "arguments": '{"command":["ls"]}', "call_id": "call_1"},
    {
        "type": "function_call_output",
        "call_id": "call_1",
        "output": '{"output":"ls: cannot access \'x\'","metadata":{"exit_code":2,"duration_seconds":0.1}}',
    },
    {"record_type": "state"},
    {
        "type": "function_call",
        "id": "fc_2",
        "name": "shell",
        "arguments": '{"command":["ls","-a"]}',
        "call_id": "call_2",
    },
    {"type": "function_call_output", "call_id": "call_2", "output": "README.md"},
    {"type": "message", "id": None, "role": "assistant", "content": [{"type": "output_text", "text": "listed"}]},
]


def test_legacy_rollout_imports_fully_with_approximate_times(tmp_path: Path) -> None:
    import json

    src = tmp_path / "sessions" / "2025" / "08" / "20"
    src.mkdir(parents=True)
    rollout = src / "rollout-2025-08-20T13-20-47-c27a914d-0000-4000-8000-00000000abcd.jsonl"
    rollout.write_text("".join(json.dumps(r) + "\n" for r in LEGACY))
    out = _import(tmp_path / "logs", tmp_path / "sessions")
    assert "1 sessions" in out and "unknown_type" not in out and "known_ignored 3" in out
    events = _events(tmp_path / "logs", "c27a914d-0000-4000-8000-00000000abcd")
    assert [e["event_type"] for e in events] == [
        "session_start",
        "agent_thinking",
        "tool_call",
        "tool_result",
        "error",
        "tool_call",
        "tool_result",
        "agent_output",
        "session_end",
    ]
    assert events[0]["data"]["prompt"] == "index the files" and events[0]["branch"] == "main"
    assert events[0]["session_id"] == "c27a914d-0000-4000-8000-00000000abcd"
    assert [e["data"]["result"] for e in events if e["event_type"] == "tool_result"] == ["error", "success"]
    times = [e["timestamp"] for e in events]
    assert times == sorted(times) and times[0].startswith("2025-08-20T13:20:47.0")
    assert all(e["timestamp_quality"] == "approximate" for e in events)


def test_task_complete_is_the_end_of_a_turn(log_dir: Path) -> None:
    import json

    src = log_dir.parent / "codex"
    src.mkdir()
    lines = [
        {
            "timestamp": "2025-10-29T00:59:38.317Z",
            "type": "session_meta",
            "payload": {"id": "019a2d7a-41c4-78b1-b7cc-a45d62a89cd5"},
        },
        {
            "timestamp": "2025-10-29T00:59:38.318Z",
            "type": "event_msg",
            "payload": {"type": "user_message", "message": "2+2?"},
        },
        {
            "timestamp": "2025-10-29T00:59:39.644Z",
            "type": "response_item",
            "payload": {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "4"}]},
        },
        {
            "timestamp": "2025-10-29T00:59:39.700Z",
            "type": "event_msg",
            "payload": {"type": "task_complete", "last_agent_message": "4"},
        },
    ]
    (src / "rollout-2025-10-29T00-59-38-019a2d7a-41c4-78b1-b7cc-a45d62a89cd5.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in lines)
    )
    _import(log_dir, src)
    events = _events(log_dir, "019a2d7a-41c4-78b1-b7cc-a45d62a89cd5")
    assert [e["event_type"] for e in events] == ["session_start", "agent_output", "status_change", "session_end"]
    assert events[2]["data"]["status"] == "turn_complete" and events[2]["timestamp"] == "2025-10-29T00:59:39.700Z"
