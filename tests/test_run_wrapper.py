"""`agentlog run -- COMMAND`: lifecycle, output lines, agents' JSON events, exit codes, signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import AGENTLOG, read_jsonl, run_cli


def _session(log_dir: Path, attempt: str) -> list[dict]:
    return read_jsonl(log_dir / "agent-sessions" / f"{attempt}.jsonl")


def _script(tmp_path: Path, body: str) -> list[str]:
    script = tmp_path / "agent.py"
    script.write_text(body)
    return [sys.executable, str(script)]


def test_lines_become_output_and_exit_code_is_the_agents(tmp_path: Path, log_dir: Path) -> None:
    cmd = _script(tmp_path, "import sys\nprint('working')\nprint('oops', file=sys.stderr)\nsys.exit(3)\n")
    result = run_cli(
        "run", "--log-dir", str(log_dir), "--attempt", "w1", "--executor", "MINE", "--task", "Fix login", "--", *cmd
    )
    assert result.returncode == 3
    assert result.stdout.decode() == "working\n" and "oops" in result.stderr.decode()
    events = _session(log_dir, "w1")
    assert events[0]["event_type"] == "session_start" and events[0]["task_title"] == "Fix login"
    outputs = {(e["data"]["stream_type"], e["data"]["output"]) for e in events if e["event_type"] == "agent_output"}
    assert outputs == {("stdout", "working"), ("stderr", "oops")}
    end = events[-1]["data"]
    assert end["completion_status"] == "failed" and end["exit_code"] == 3 and end["duration_ms"] >= 0
    assert read_jsonl(log_dir / "agent-metrics.jsonl")[0]["attempt_id"] == "w1"


def test_codex_exec_json_becomes_tool_calls_errors_and_usage(tmp_path: Path, log_dir: Path) -> None:
    lines = [
        {"type": "thread.started", "thread_id": "019a-thread"},
        {"type": "turn.started"},
        {"type": "item.completed", "item": {"id": "item_0", "type": "reasoning", "text": "run tests"}},
        {
            "type": "item.completed",
            "item": {
                "id": "item_1",
                "type": "command_execution",
                "command": "pytest",
                "aggregated_output": "E   ImportError: no jwt",
                "exit_code": 1,
                "status": "failed",
            },
        },
        {"type": "item.completed", "item": {"id": "item_2", "type": "agent_message", "text": "done"}},
        {"type": "turn.completed", "usage": {"input_tokens": 6032, "cached_input_tokens": 4992, "output_tokens": 114}},
    ]
    body = "".join(f"print({json.dumps(json.dumps(line))})\n" for line in lines)
    result = run_cli(
        "run",
        "--log-dir",
        str(log_dir),
        "-a",
        "c1",
        "-e",
        "CODEX",
        "--model",
        "gpt-5-codex",
        "--",
        *_script(tmp_path, body),
    )
    assert result.returncode == 0
    events = _session(log_dir, "c1")
    kinds = [e["event_type"] for e in events]
    assert kinds == [
        "session_start",
        "agent_thinking",
        "tool_call",
        "tool_result",
        "error",
        "agent_output",
        "usage",
        "session_end",
    ]
    usage = events[6]["data"]
    assert (usage["input_tokens"], usage["cache_read_tokens"], usage["output_tokens"]) == (1040, 4992, 114)
    assert usage["cost_usd"] > 0 and events[6]["session_id"] == "019a-thread"
    assert events[3]["data"]["result"] == "error" and "ImportError" in events[4]["data"]["error_message"]
    assert events[-1]["data"]["completion_status"] == "success"


def test_claude_stream_json_is_parsed_with_the_importer_mapping(tmp_path: Path, log_dir: Path) -> None:
    usage = {"input_tokens": 5, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 2000}
    msg = lambda block, out, stop: {
        "type": "assistant",
        "session_id": "s-1",
        "message": {
            "id": "msg_a",
            "model": "claude-sonnet-4-5-20250929",
            "role": "assistant",
            "stop_reason": stop,
            "content": [block],
            "usage": {**usage, "output_tokens": out},
        },
    }
    lines = [
        {"type": "system", "subtype": "init", "session_id": "s-1", "model": "claude-sonnet-4-5-20250929"},
        msg({"type": "text", "text": "Listing."}, 4, None),
        msg({"type": "tool_use", "id": "tu1", "name": "Bash", "input": {"command": "ls"}}, 60, "tool_use"),
        {
            "type": "user",
            "session_id": "s-1",
            "message": {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "tu1",
                        "content": "ls: cannot access: No such file",
                        "is_error": True,
                    }
                ],
            },
        },
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "session_id": "s-1",
            "total_cost_usd": 0.0123,
            "num_turns": 2,
            "result": "done",
        },
    ]
    body = "".join(f"print({json.dumps(json.dumps(line))})\n" for line in lines)
    run_cli(
        "run", "--log-dir", str(log_dir), "-a", "k1", "-e", "CLAUDE_CODE", "--", *_script(tmp_path, body), check=True
    )
    events = _session(log_dir, "k1")
    kinds = [e["event_type"] for e in events]
    assert kinds == ["session_start", "agent_output", "tool_call", "usage", "tool_result", "error", "session_end"]
    assert events[3]["data"]["output_tokens"] == 60 and events[3]["model"] == "claude-sonnet-4-5-20250929"
    assert events[4]["data"]["tool_name"] == "Bash"
    assert events[-1]["data"]["reported_cost_usd"] == 0.0123


def test_missing_command_fails_with_127(log_dir: Path) -> None:
    result = run_cli("run", "--log-dir", str(log_dir), "-a", "x1", "-e", "X", "--", "no-such-agent-binary")
    assert result.returncode == 127
    assert _session(log_dir, "x1")[-1]["data"]["completion_status"] == "failed"


@pytest.mark.slow
def test_sigterm_is_forwarded_and_recorded_as_interrupted(tmp_path: Path, log_dir: Path) -> None:
    marker = tmp_path / "got-term"
    body = (
        "import signal, sys, time\n"
        f"signal.signal(signal.SIGTERM, lambda *a: (open({str(marker)!r}, 'w').close(), sys.exit(143)))\n"
        "print('ready', flush=True)\ntime.sleep(30)\n"
    )
    proc = subprocess.Popen(
        [*AGENTLOG, "run", "--log-dir", str(log_dir), "-a", "t1", "-e", "X", "--", *_script(tmp_path, body)],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 143
    assert marker.exists()
    deadline = time.time() + 5
    while time.time() < deadline and not (log_dir / "agent-metrics.jsonl").exists():
        time.sleep(0.05)
    end = _session(log_dir, "t1")[-1]["data"]
    assert end["completion_status"] == "interrupted" and end["exit_code"] == 143


def test_a_command_that_cannot_start_says_why(tmp_path: Path, log_dir: Path) -> None:
    result = run_cli("run", "--log-dir", str(log_dir), "-a", "x2", "-e", "X", "--", "no-such-agent-binary")
    assert result.returncode == 127
    assert (
        result.stderr.decode().strip() == "agentlog run: cannot start no-such-agent-binary: No such file or directory"
    )
    script = tmp_path / "not-executable"
    script.write_text("echo hi\n")
    result = run_cli("run", "--log-dir", str(log_dir), "-a", "x3", "-e", "X", "--", str(script))
    assert result.returncode == 126 and b"Permission denied" in result.stderr
    assert "Permission denied" in _session(log_dir, "x3")[-2]["data"]["error_message"]
