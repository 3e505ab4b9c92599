"""`agentlog import swe-agent`: trajectories with and without `trajectory`, model stats, exits."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import SHARED, imported_events, read_jsonl, run_cli

FIXTURES = SHARED / "fixtures" / "swe-agent"


def _import(log_dir: Path, path: Path) -> str:
    return run_cli("import", "swe-agent", str(path), "--log-dir", str(log_dir), check=True).stdout.decode()


def _events(log_dir: Path, name: str) -> list[dict]:
    return imported_events(log_dir, name)


def test_all_fixtures_import_and_again_adds_nothing(log_dir: Path) -> None:
    assert "5 sessions" in _import(log_dir, FIXTURES)
    assert "0 sessions, 0 events" in _import(log_dir, FIXTURES)


def test_failed_edit_is_an_error_and_submitted_is_success(log_dir: Path) -> None:
    _import(log_dir, FIXTURES)
    events = _events(log_dir, "marshmallow-1867-function_calling_replace")
    assert {e["executor"] for e in events} == {"SWE_AGENT"} and events[-1]["model"] == "gpt-4o"
    assert events[0]["data"]["prompt"].startswith("We're currently solving the following issue")
    calls = [e["data"]["tool_name"] for e in events if e["event_type"] == "tool_call"]
    assert calls[:3] == ["create", "insert", "python"] and calls[-1] == "submit"
    errors = [e["data"]["error_message"] for e in events if e["event_type"] == "error"]
    assert len(errors) == 1 and "syntax error" in errors[0]
    end = events[-1]["data"]
    assert end["completion_status"] == "success" and end["outcome"]["status"] == "submitted"
    assert end["duration_ms"] > 0


def test_history_only_file_still_gives_tool_calls(log_dir: Path) -> None:
    _import(log_dir, FIXTURES / "function_calling_simple.traj")
    events = _events(log_dir, "function_calling_simple")
    calls = [e["data"]["tool_params"]["command"] for e in events if e["event_type"] == "tool_call"]
    assert calls[-2:] == ["python tests/missing_colon.py", "submit"]


def test_model_stats_become_usage_and_a_growing_file_adds_only_new_steps(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    doc = json.loads((FIXTURES / "humanevalfix-python-0.traj").read_text())
    info = doc.pop("info")
    steps = doc["trajectory"]
    traj = tmp_path / "run.traj"
    traj.write_text(json.dumps({**doc, "trajectory": steps[:2]}))
    _import(log_dir, traj)
    assert [e["event_type"] for e in _events(log_dir, "run")].count("tool_call") == 2
    info["model_stats"] = {"instance_cost": 0.42, "tokens_sent": 5000, "tokens_received": 700, "api_calls": 5}
    info["exit_status"] = "exit_cost"
    traj.write_text(json.dumps({**doc, "trajectory": steps, "info": info}))
    _import(log_dir, traj)
    events = _events(log_dir, "run")
    assert [e["event_type"] for e in events].count("tool_call") == len(steps)
    usage = [e["data"] for e in events if e["event_type"] == "usage"]
    assert usage == [
        {"input_tokens": 5000, "output_tokens": 700, "cost_usd": 0.42, "api_calls": 5, "cost_source": "transcript"}
    ]
    assert events[-1]["data"]["completion_status"] == "failed"


def test_made_up_step_times_are_marked_synthetic_derived_ones_approximate(log_dir: Path) -> None:
    _import(log_dir, FIXTURES)
    untimed = _events(log_dir, "BabyEncryption")  # 0.x: no execution_time, steps placed 1 s apart
    steps = [e for e in untimed if e["event_type"] in ("tool_call", "tool_result", "agent_thinking")]
    assert steps and {e["timestamp_quality"] for e in steps} == {"synthetic"}
    timed = _events(log_dir, "marshmallow-1867-function_calling_replace")  # execution_time on every step
    steps = [e for e in timed if e["event_type"] in ("tool_call", "tool_result")]
    assert steps and {e["timestamp_quality"] for e in steps} == {"approximate"}
    assert "timestamp_quality" not in timed[-1]  # the end is the file's own last write
    stream = read_jsonl(log_dir / "agent-work-stream.jsonl")
    assert sum(1 for e in stream if e.get("timestamp_quality") == "synthetic") == sum(
        1 for e in untimed if e.get("timestamp_quality") == "synthetic"
    ) + sum(
        1
        for name in ("humanevalfix-python-0", "warmup", "function_calling_simple")
        for e in _events(log_dir, name)
        if e.get("timestamp_quality") == "synthetic"
    )
