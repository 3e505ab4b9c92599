"""`agentlog hook` through the resident guard (guard/server.py): the same answers as the
hook's own process, a killed server replaced without a lost call, the idle exit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from guardkit import kill_servers, payload, run_hook, server_pid, servers, session_events, wait_for

AGENTLOG = str(Path(sys.executable).with_name("agentlog"))


def hook(cwd: Path, log_dir: Path, body: bytes, **env: str) -> subprocess.CompletedProcess:
    return run_hook([AGENTLOG, "hook", "claude-code", "PreToolUse", "--log-dir", str(log_dir)], cwd, body, **env)


@pytest.fixture(autouse=True)
def _no_stray_servers(tmp_path):
    (tmp_path / "agentlog.toml").write_text("[guard]\nrepeat_threshold = 3\n")
    yield
    kill_servers(tmp_path)


def test_served_calls_answer_exactly_as_the_hooks_own_process(tmp_path):
    served, alone = tmp_path / "served", tmp_path / "alone"
    hook(tmp_path, served, payload(session_id="warm-up"))  # in its own process; starts the server
    wait_for(lambda: server_pid(served), "the server")
    outputs = {}
    for log_dir, env in ((served, {}), (alone, {"AGENTLOG_GUARD_RESIDENT": "0"})):
        results = [hook(tmp_path, log_dir, payload(tool_use_id=f"call_{i}"), **env) for i in range(6)]
        assert all(r.returncode == 0 and r.stderr == b"" for r in results)
        outputs[log_dir] = [r.stdout for r in results]
    assert outputs[served] == outputs[alone]
    assert outputs[served][:2] == [b"", b""]
    for out in outputs[served][2:]:
        decision = json.loads(out)["hookSpecificOutput"]
        assert (
            decision["permissionDecision"] == "deny" and "times in this session" in decision["permissionDecisionReason"]
        )
    assert not servers(alone)
    assert [(e["event_type"], e["sequence_num"]) for e in session_events(served)] == [
        (e["event_type"], e["sequence_num"]) for e in session_events(alone)
    ]
    assert (served / "agent-alerts.jsonl").read_text().count("\n") == 4  # one alert per denied call

    # the server answered those calls: ask it directly, as the client does
    from agentlog.guard import client

    argv = ["claude-code", "PreToolUse", "--log-dir", str(served)]
    code, out, err = client.ask(str(served / "state" / client.SOCKET), argv, payload(tool_use_id="call_6"))
    assert (code, err) == (0, b"") and out == hook(
        tmp_path, alone, payload(tool_use_id="call_6"), AGENTLOG_GUARD_RESIDENT="0"
    ).stdout


def test_the_server_keeps_its_recorder_and_detectors_yet_follows_the_config_and_other_writers(tmp_path, log_dir):
    hook(tmp_path, log_dir, payload(session_id="warm-up"))
    pid = wait_for(lambda: server_pid(log_dir), "the server")
    assert hook(tmp_path, log_dir, payload(tool_use_id="call_0")).stdout == b""  # served: builds what it keeps
    alone = hook(tmp_path, log_dir, payload(tool_use_id="call_1"), AGENTLOG_GUARD_RESIDENT="0")
    assert alone.stdout == b""  # another process wrote to the session meanwhile
    (tmp_path / "agentlog.toml").write_text(
        '[guard]\nrepeat_threshold = 2\n[redact.patterns]\ninternal = "INTERNAL-[0-9]+"\n'
    )
    secret = {"command": "curl -H 'X-Key: INTERNAL-4242' http://build"}
    outputs = [hook(tmp_path, log_dir, payload(tool_use_id=f"call_{i}", tool_input=secret)).stdout for i in (2, 3)]
    assert server_pid(log_dir) == pid  # the same server answered them
    assert outputs[0] == b"" and json.loads(outputs[1])["hookSpecificOutput"]["permissionDecision"] == "deny"
    recorded = session_events(log_dir)
    assert [e["sequence_num"] for e in recorded] == list(range(1, 6))  # session_start + 4 calls, no gap
    text = "\n".join(json.dumps(e) for e in recorded) + (log_dir / "agent-alerts.jsonl").read_text()
    assert "INTERNAL-4242" not in text and "[REDACTED:internal]" in text  # the new pattern, the kept recorder
    assert not (log_dir / "state" / "hook-errors.log").exists()


@pytest.mark.slow
def test_a_killed_server_is_replaced_and_no_call_is_lost(tmp_path, log_dir):
    hook(tmp_path, log_dir, payload(session_id="warm-up"))
    first = wait_for(lambda: server_pid(log_dir), "the server")
    outputs = [hook(tmp_path, log_dir, payload(tool_use_id=f"call_{i}")).stdout for i in range(2)]
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: first not in servers(tmp_path), "the killed server to go")
    result = hook(tmp_path, log_dir, payload(tool_use_id="call_2"))  # in its own process
    assert result.returncode == 0 and result.stderr == b""
    outputs.append(result.stdout)
    assert outputs[:2] == [b"", b""]
    assert json.loads(outputs[2])["hookSpecificOutput"]["permissionDecision"] == "deny"
    second = wait_for(lambda: server_pid(log_dir), "a new server")
    assert second != first
    assert (
        json.loads(hook(tmp_path, log_dir, payload(tool_use_id="call_3")).stdout)["hookSpecificOutput"][
            "permissionDecision"
        ]
        == "deny"
    )
    recorded = session_events(log_dir)
    assert [e["sequence_num"] for e in recorded] == list(range(1, 6))  # session_start + 4 calls
    assert not (log_dir / "state" / "hook-errors.log").exists()


@pytest.mark.slow
def test_the_server_exits_when_idle(tmp_path, log_dir):
    hook(tmp_path, log_dir, payload(), AGENTLOG_GUARD_IDLE_S="1")
    pid = wait_for(lambda: server_pid(log_dir), "the server")
    wait_for(lambda: pid not in servers(tmp_path), "the idle exit")
    from agentlog.guard import client, server

    assert not (log_dir / "state" / client.SOCKET).exists() and not (log_dir / "state" / server.PID).exists()
    # the next call runs in its own process and starts a new server
    assert hook(tmp_path, log_dir, payload(tool_use_id="again")).returncode == 0
    assert wait_for(lambda: server_pid(log_dir), "a new server") != pid
