"""`agentlog import mini-swe-agent`: `messages[]` trajectories (mini-swe-agent-1), per-call usage, exits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import ROOT, imported_events, run_cli

FIXTURES = ROOT / "tests" / "data" / "mini-swe-agent"


def _import(log_dir: Path, path: Path) -> str:
    return run_cli("import", "mini-swe-agent", str(path), "--log-dir", str(log_dir), check=True).stdout.decode()


def test_real_runs_import_once(log_dir: Path) -> None:
    assert "2 sessions" in _import(log_dir, FIXTURES)
    assert "0 sessions, 0 events" in _import(log_dir, FIXTURES)


def test_each_model_call_is_thinking_usage_and_one_bash_call(log_dir: Path) -> None:
    _import(log_dir, FIXTURES)
    events = imported_events(log_dir, "astropy__astropy-12907")
    assert {e["executor"] for e in events} == {"MINI_SWE_AGENT"}
    assert events[0]["event_type"] == "session_start"
    assert events[0]["data"]["prompt"].startswith("<pr_description>")
    usage = [e for e in events if e["event_type"] == "usage"]
    assert len(usage) == 20  # one per model call (api_calls)
    assert abs(sum(u["data"]["cost_usd"] for u in usage) - 0.2305142) < 1e-6  # = info.model_stats.instance_cost
    assert usage[0]["data"]["input_tokens"] == 1662 and usage[0]["data"]["output_tokens"] == 106
    assert usage[0]["timestamp"].startswith("2025-11-19") and "timestamp_quality" not in usage[0]
    calls = [e["data"]["tool_params"]["command"] for e in events if e["event_type"] == "tool_call"]
    assert calls[0] == "ls -R" and calls[-1].startswith("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT")
    results = [e for e in events if e["event_type"] == "tool_result"]
    assert results[0]["timestamp_quality"] == "approximate"
    assert events[-1]["model"] == "google/gemini-3-pro-preview"
    end = events[-1]["data"]
    assert end["completion_status"] == "success" and end["outcome"] == {"status": "Submitted", "submitted": True}


def test_failed_commands_and_format_errors_are_errors(log_dir: Path) -> None:
    _import(log_dir, FIXTURES)
    events = imported_events(log_dir, "astropy__astropy-13398")
    failed = [e for e in events if e["event_type"] == "tool_result" and e["data"]["result"] == "error"]
    errors = [e["data"]["error_message"] for e in events if e["event_type"] == "error"]
    assert failed and len(errors) >= len(failed)
    assert any(m.startswith("Please always provide EXACTLY ONE action") for m in errors)
    calls = [e for e in events if e["event_type"] == "tool_call"]
    usage = [e for e in events if e["event_type"] == "usage"]
    assert len(usage) == 36 and len(calls) < 36  # a reply with two actions ran none


def test_a_run_still_going_stays_open_and_ends_once_info_is_written(tmp_path: Path) -> None:
    log_dir, folder = tmp_path / "logs", tmp_path / "trajs"
    folder.mkdir()
    doc = json.loads((FIXTURES / "astropy__astropy-12907.traj.json").read_text())
    path = folder / "astropy__astropy-12907.traj.json"
    path.write_text(json.dumps({"messages": doc["messages"][:10], "info": {}}))
    assert "(1 still open)" in _import(log_dir, folder)
    path.write_text(json.dumps(doc))
    _import(log_dir, folder)
    events = imported_events(log_dir, "astropy__astropy-12907")
    assert [e["event_type"] for e in events].count("session_end") == 1
    assert len([e for e in events if e["event_type"] == "usage"]) == 20  # none counted twice


def test_broken_files_are_reported_and_skipped(tmp_path: Path) -> None:
    log_dir, folder = tmp_path / "logs", tmp_path / "trajs"
    folder.mkdir()
    shutil.copy(FIXTURES / "astropy__astropy-12907.traj.json", folder)
    (folder / "cut.traj.json").write_text('{"messages": [{"role": "system", "content": "x"')
    (folder / "list.traj.json").write_text("[1, 2]")
    (folder / "notimes.traj.json").write_text(
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": "s"},
                    {"role": "user", "content": "task"},
                    {"role": "assistant", "content": "```bash\nls\n```"},
                    7,
                ]
            }
        )
    )
    out = _import(log_dir, folder)
    assert "1 sessions" in out and "not_json 1" in out and "not_a_trajectory 1" in out and "no_timestamp 1" in out
