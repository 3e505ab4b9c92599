"""`agentlog import claude-code`: real transcripts, streaming duplicates, sub-agents, increments."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from conftest import ROOT, SHARED, imported_attempt, imported_events, read_jsonl, run_cli

FIXTURES = SHARED / "fixtures" / "claude-code"
CASES = ROOT / "tests" / "data" / "transcripts" / "claude-code"
SID = "5e55a0a1-0000-4000-8000-000000000001"


def _import(log_dir: Path, path: Path, *extra: str) -> str:
    result = run_cli("import", "claude-code", str(path), "--log-dir", str(log_dir), *extra, check=True)
    return result.stdout.decode()


def _events(log_dir: Path, name: str) -> list[dict]:
    return imported_events(log_dir, name)


def test_real_fixtures_import_without_crashing_and_count_skips(log_dir: Path) -> None:
    # a fresh checkout gives the fixtures a recent mtime: without --open-after 0 they would stay open
    out = _import(log_dir, FIXTURES, "--open-after", "0")
    assert "5 sessions" in out and "malformed" in out and "not_an_object 3" in out
    edge = _events(log_dir, "edge_cases")
    kinds = [e["event_type"] for e in edge]
    assert kinds[0] == "session_start" and kinds[-1] == "session_end"
    assert edge[0]["data"]["prompt"].startswith("Here's a message with some **markdown**")
    assert all(e["executor"] == "CLAUDE_CODE" for e in edge)
    failed = [e for e in edge if e["event_type"] == "tool_result" and e["data"]["result"] == "error"]
    assert [e["data"]["tool_name"] for e in failed] == ["FailingTool"]
    errors = [e for e in edge if e["event_type"] == "error"]
    assert errors[0]["data"]["error_message"].startswith("Error: Tool execution failed")
    sample = _events(log_dir, "sample_session")
    calls = [e["data"]["tool_name"] for e in sample if e["event_type"] == "tool_call"]
    assert calls == ["Write", "Bash"]
    assert sample[-1]["data"]["completion_status"] == "success"


def test_importing_again_adds_nothing(log_dir: Path) -> None:
    _import(log_dir, FIXTURES)
    before = (log_dir / "agent-work-stream.jsonl").read_bytes()
    out = _import(log_dir, FIXTURES)
    assert "0 sessions, 0 events" in out
    assert (log_dir / "agent-work-stream.jsonl").read_bytes() == before


def test_each_model_call_is_counted_once(log_dir: Path) -> None:
    _import(log_dir, CASES, "--open-after", "0")
    parent = _events(log_dir, SID)
    usage = [e["data"] for e in parent if e["event_type"] == "usage"]
    # msg_1 is three lines (first without requestId, output 3 -> 9 -> 250): one call, the largest output
    assert [u["message_id"] for u in usage] == ["msg_1", "msg_2", "msg_3"]
    assert [u["output_tokens"] for u in usage] == [250, 120, 80]
    assert usage[0]["cache_read_tokens"] == 20000 and usage[0]["cost_usd"] > 0
    # the sub-agent's call, echoed into the parent and into the Task result, is counted in its own file
    child = _events(log_dir, f"{SID}-agent-a1b2c3")
    assert child[0]["data"]["parent_attempt_id"] == imported_attempt(log_dir, SID)
    assert [e["data"]["output_tokens"] for e in child if e["event_type"] == "usage"] == [400]
    assert child[-1]["model"] == "claude-haiku-4-5-20251001"


def test_tool_error_becomes_result_and_error_and_unknown_records_are_counted(log_dir: Path) -> None:
    out = _import(log_dir, CASES, "--open-after", "0")
    assert "unknown_type:brand_new_record_type 1" in out and "malformed_json 1" in out
    parent = _events(log_dir, SID)
    result = next(e for e in parent if e["event_type"] == "tool_result" and e["data"]["call_id"] == "toolu_1")
    assert result["data"]["result"] == "error" and result["data"]["tool_name"] == "Bash"
    error = next(e for e in parent if e["event_type"] == "error")
    assert "expected 200, got 401" in error["data"]["error_message"]
    assert error["data"]["error_fingerprint"]
    assert parent[-1]["event_type"] == "session_end"
    assert parent[-1]["data"]["completion_status"] == "success"  # it went on and fixed it


def test_event_ids_are_stable_across_log_dirs(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _import(a, CASES, "--open-after", "0")
    _import(b, CASES, "--open-after", "0")
    ids = lambda d: [e["event_id"] for e in read_jsonl(d / "agent-work-stream.jsonl")]
    assert ids(a) == ids(b) and len(set(ids(a))) == len(ids(a))


def test_open_session_ends_on_a_later_import_and_growth_adds_only_new_lines(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    src = tmp_path / "projects" / "-proj"
    src.mkdir(parents=True)
    lines = (FIXTURES / "claude-code-transcripts" / "sample_session.jsonl").read_text().splitlines(keepends=True)
    live = src / "live.jsonl"
    live.write_text("".join(lines[:4]))  # being written right now
    assert "1 still open" in _import(log_dir, src)
    assert "session_end" not in [e["event_type"] for e in _events(log_dir, "live")]
    with open(live, "a") as handle:
        handle.write("".join(lines[4:]))
    old = time.time() - 3600
    os.utime(live, (old, old))  # quiet for an hour: the session is over
    _import(log_dir, src)
    events = _events(log_dir, "live")
    kinds = [e["event_type"] for e in events]
    assert kinds.count("session_start") == 1 and kinds[-1] == "session_end"
    assert kinds.count("tool_call") == 2 and kinds.count("tool_result") == 2
    assert [e["sequence_num"] for e in events] == list(range(1, len(events) + 1))
    metrics = read_jsonl(log_dir / "agent-metrics.jsonl")
    assert len(metrics) == 1 and metrics[0]["attempt_id"] == imported_attempt(log_dir, "live")


def test_replaced_file_is_read_from_the_start(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    src = tmp_path / "p"
    src.mkdir()
    shutil.copy(FIXTURES / "claude-code-log" / "session_b.jsonl", src / "s.jsonl")
    _import(log_dir, src, "--open-after", "0")
    (src / "s.jsonl").unlink()
    shutil.copy(FIXTURES / "claude-code-log" / "representative_messages.jsonl", src / "s.jsonl")
    out = _import(log_dir, src, "--open-after", "0")
    assert "1 sessions" in out


def test_a_reply_that_ends_the_turn_is_a_turn_complete_status(log_dir: Path) -> None:
    _import(log_dir, FIXTURES, "--open-after", "0")
    events = _events(log_dir, "representative_messages")
    turns = [e for e in events if e["event_type"] == "status_change"]
    assert len(turns) == 3 and {e["data"]["status"] for e in turns} == {"turn_complete"}
    after = [events[events.index(t) - 1]["event_type"] for t in turns]
    assert set(after) <= {"usage", "agent_output"}  # right after the reply that ended the turn
    assert len({e["event_id"] for e in turns}) == 3
