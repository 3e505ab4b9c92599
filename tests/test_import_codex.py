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
    assert calls == [("exec_command", "call-structured-001"), ("apply_patch", "call-custom-001"),
                     ("mcp__synthetic__lookup", "call-mcp-001")]
    results = [e["data"] for e in events if e["event_type"] == "tool_result"]
    assert [r["tool_name"] for r in results] == [c[0] for c in calls]
    assert all(r["result"] == "success" for r in results)
    assert [e["data"]["thinking"] for e in events if e["event_type"] == "agent_thinking"] == [
        "I will inspect the synthetic directory."]
    outputs = [e for e in events if e["event_type"] == "agent_output"]
    assert len(outputs) == 1  # agent_message and the assistant item are one message


def test_token_count_fixture_prices_a_known_model(log_dir: Path) -> None:
    _import(log_dir, FIXTURES)
    usage = [e for e in _events(log_dir, "rollout-token-count") if e["event_type"] == "usage"]
    assert len(usage) == 1
    data = usage[0]["data"]
    assert (data["input_tokens"], data["cache_read_tokens"], data["output_tokens"], data["reasoning_tokens"]) == (
        900, 100, 180, 20)
    assert data["cost_usd"] == 0.0043925 and usage[0]["model"] == "gpt-5.2"


def test_repeated_cumulative_counts_are_counted_once(log_dir: Path) -> None:
    out = _import(log_dir, CASES)
    assert "repeated_token_count 2" in out
    usage = [e["data"] for e in _events(log_dir, CID) if e["event_type"] == "usage"]
    assert [(u["input_tokens"], u["cache_read_tokens"], u["output_tokens"], u["reasoning_tokens"]) for u in usage] == [
        (800, 200, 200, 100), (500, 1000, 50, 0)]
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
