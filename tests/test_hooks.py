"""`agentlog hook` as the agents run it: fixture payloads through the real command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "data" / "hooks"
AGENTLOG = str(Path(sys.executable).with_name("agentlog"))
ORDER = [
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",
    "Notification",
    "PreCompact",
    "SubagentStop",
    "Stop",
    "SessionEnd",
]


def payload(agent: str, event: str, **changes) -> dict:
    data = json.loads((FIXTURES / agent / f"{event}.json").read_text())
    data.update(changes)
    return data


def hook(agent: str, event: str, body, cwd: Path, log_dir: Path, env: dict | None = None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return subprocess.run(
        [AGENTLOG, "hook", agent, event, "--log-dir", str(log_dir)],
        input=raw,
        capture_output=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def session_events(log_dir: Path, attempt: str) -> list[dict]:
    from agentlog.store.layout import session_path

    path = session_path(log_dir, attempt)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def alerts(log_dir: Path) -> list[dict]:
    path = log_dir / "agent-alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def write_config(cwd: Path, text: str) -> None:
    (cwd / "agentlog.toml").write_text(text)


@pytest.mark.parametrize("agent", ["claude-code", "codex"])
def test_every_documented_event_is_recorded_with_the_session_id_as_attempt(agent, tmp_path, log_dir):
    events = [e for e in ORDER if (FIXTURES / agent / f"{e}.json").exists()]
    for event in events:
        result = hook(agent, event, payload(agent, event), tmp_path, log_dir)
        assert result.returncode == 0, result.stderr
        assert result.stdout == b"", f"{event}: no decision expected, got {result.stdout!r}"
    assert not (log_dir / "state" / "hook-errors.log").exists()
    session = payload(agent, "SessionStart")["session_id"]
    recorded = session_events(log_dir, session)
    kinds = [e["event_type"] for e in recorded]
    assert kinds[0] == "session_start"
    assert recorded[0]["data"]["prompt"].startswith(("Make the failing", "Fix the flaky"))
    assert {"tool_call", "tool_result", "status_change", "agent_output"} <= set(kinds)
    assert all(
        e["attempt_id"] == session and e["executor"] == ("CLAUDE_CODE" if agent == "claude-code" else "CODEX")
        for e in recorded
    )
    assert [e["sequence_num"] for e in recorded] == list(range(1, len(recorded) + 1))
    call = next(e for e in recorded if e["event_type"] == "tool_call")
    assert call["data"]["tool_name"] == "Bash" and "pytest" in call["data"]["tool_params"]["command"]
    if agent == "claude-code":
        assert kinds[-1] == "session_end"
        failed = [e for e in recorded if e["event_type"] == "error"]
        assert "hash_password" in failed[0]["data"]["error_message"]
        assert any(e["data"].get("hook", {}).get("notification_type") == "permission_prompt" for e in recorded)
    else:  # the Codex PostToolUse output says "Exit code: 1"
        result = next(e for e in recorded if e["event_type"] == "tool_result")
        assert result["data"]["result"] == "error"


@pytest.mark.parametrize("agent", ["claude-code", "codex"])
def test_stop_ends_the_turn_so_a_person_taking_their_time_is_not_a_stuck_agent(agent, tmp_path, log_dir):
    """`Stop` records a status_change to turn_complete; the watchdog then takes the quiet that
    follows as the person's turn. The same quiet in the middle of a turn (no Stop) is stuck."""
    for session, events in (
        ("turn-over", ("UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop")),
        ("mid-turn", ("UserPromptSubmit", "PreToolUse", "PostToolUse")),
    ):
        for event in events:
            result = hook(agent, event, payload(agent, event, session_id=session), tmp_path, log_dir)
            assert result.returncode == 0, result.stderr
    last = session_events(log_dir, "turn-over")[-1]
    assert (last["event_type"], last["data"]["status"]) == ("status_change", "turn_complete")
    from agentlog.watch import Engine

    engine = Engine()
    found = engine.feed((log_dir / "agent-work-stream.jsonl").read_bytes().splitlines())
    found += engine.tick(time.time() + 3600)  # an hour later, nothing more from either
    assert [(a.type, a.attempt_id) for a in found] == [("stuck_agent", "mid-turn")]


@pytest.mark.parametrize("agent", ["claude-code", "codex"])
def test_the_nth_identical_call_is_denied_in_the_documented_format(agent, tmp_path, log_dir):
    write_config(tmp_path, "[guard]\nrepeat_threshold = 3\n")
    outputs = []
    for i in range(4):
        body = payload(agent, "PreToolUse", tool_use_id=f"call_{i}")
        result = hook(agent, "PreToolUse", body, tmp_path, log_dir)
        assert result.returncode == 0
        outputs.append(result.stdout)
    assert outputs[:2] == [b"", b""]
    decision = json.loads(outputs[2])["hookSpecificOutput"]
    assert decision["hookEventName"] == "PreToolUse" and decision["permissionDecision"] == "deny"
    assert "3 times" in decision["permissionDecisionReason"] and "pytest tests/" in decision["permissionDecisionReason"]
    assert json.loads(outputs[3])["hookSpecificOutput"]["permissionDecision"] == "deny"
    # a different call is not denied
    other = payload(agent, "PreToolUse", tool_use_id="call_x", tool_input={"command": "git status"})
    assert hook(agent, "PreToolUse", other, tmp_path, log_dir).stdout == b""
    found = alerts(log_dir)
    assert [a["type"] for a in found] == ["guard_repeat", "guard_repeat"]
    assert found[0]["decision"] == "deny" and found[0]["occurrences"] == 3 and found[0]["tool_name"] == "Bash"
    assert len({a["alert_id"] for a in found}) == 2


def test_secrets_in_a_repeated_call_never_reach_disk(tmp_path, log_dir):
    """The guard's alert quotes the call it denies; that quote is scrubbed like any event."""
    secret = "sk-ant-api03-" + "Q" * 90
    write_config(tmp_path, "[guard]\nrepeat_threshold = 2\n")
    for i in range(3):
        body = payload(
            "claude-code",
            "PreToolUse",
            tool_use_id=f"c{i}",
            tool_input={"command": f"curl -H 'x-api-key: {secret}' https://api.anthropic.com"},
        )
        assert hook("claude-code", "PreToolUse", body, tmp_path, log_dir).returncode == 0
    assert [a["type"] for a in alerts(log_dir)] == ["guard_repeat", "guard_repeat"]
    leaked = [p for p in log_dir.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert leaked == []


def test_repeat_threshold_defaults_to_the_watchdogs(tmp_path, log_dir):
    outputs = [
        hook(
            "claude-code",
            "PreToolUse",
            payload("claude-code", "PreToolUse", tool_use_id=f"t{i}"),
            tmp_path,
            log_dir,
            env={"AGENT_TOOL_LOOP_THRESHOLD": "2"},
        ).stdout
        for i in range(2)
    ]
    assert outputs[0] == b"" and b'"deny"' in outputs[1]


def test_warn_and_off_actions(tmp_path, log_dir):
    write_config(tmp_path, '[guard]\nrepeat_threshold = 2\nrepeat = "warn"\n')
    out = [
        hook(
            "claude-code", "PreToolUse", payload("claude-code", "PreToolUse", tool_use_id=f"t{i}"), tmp_path, log_dir
        ).stdout
        for i in range(2)
    ]
    warned = json.loads(out[1])
    assert "permissionDecision" not in warned["hookSpecificOutput"] and "2 times" in warned["systemMessage"]
    assert alerts(log_dir)[0]["decision"] == "warn"
    write_config(tmp_path, '[guard]\nrepeat_threshold = 2\nrepeat = "off"\n')
    assert (
        hook(
            "claude-code", "PreToolUse", payload("claude-code", "PreToolUse", tool_use_id="t9"), tmp_path, log_dir
        ).stdout
        == b""
    )


def _transcript(path: Path, session: str, calls: int) -> None:
    """A Claude Code transcript with `calls` finished model calls of 1M input tokens each."""
    lines = []
    for i in range(calls):
        lines.append(
            {
                "type": "assistant",
                "sessionId": session,
                "uuid": f"u{i}",
                "timestamp": f"2026-03-01T10:00:0{i}.000Z",
                "message": {
                    "id": f"msg_{i}",
                    "model": "claude-sonnet-4-5",
                    "role": "assistant",
                    "stop_reason": "tool_use",
                    "content": [{"type": "text", "text": "ok"}],
                    "usage": {"input_tokens": 1_000_000, "output_tokens": 1000},
                },
            }
        )
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_spend_cap_warns_then_denies_from_transcript_usage(tmp_path, log_dir):
    session = payload("claude-code", "PreToolUse")["session_id"]
    transcript = tmp_path / "t.jsonl"
    write_config(tmp_path, "[guard]\nspend_cap_usd = 10.0\nspend_warn_fraction = 0.5\n")
    results = []
    for calls in (1, 2, 4):  # sonnet input is $3 / M tokens: $3.015, $6.03, $12.06
        _transcript(transcript, session, calls)
        body = payload(
            "claude-code",
            "PreToolUse",
            transcript_path=str(transcript),
            tool_use_id=f"c{calls}",
            tool_input={"command": f"step {calls}"},
        )
        results.append(hook("claude-code", "PreToolUse", body, tmp_path, log_dir).stdout)
    assert results[0] == b""
    assert "of its $10 spend cap" in json.loads(results[1])["systemMessage"]
    denied = json.loads(results[2])["hookSpecificOutput"]
    assert denied["permissionDecision"] == "deny" and "past its $10 spend cap" in denied["permissionDecisionReason"]
    usage = [e for e in session_events(log_dir, session) if e["event_type"] == "usage"]
    assert len(usage) == 4  # each model call counted once, however often the transcript was read
    assert [a["type"] for a in alerts(log_dir)] == ["guard_spend", "guard_spend"]


def test_error_loop_asks_before_the_next_call_and_stop_is_nudged(tmp_path, log_dir):
    write_config(tmp_path, "[guard]\nerror_loop_threshold = 3\n")
    for i in range(3):
        body = payload(
            "claude-code",
            "PostToolUseFailure",
            tool_use_id=f"f{i}",
            error=f"ImportError: cannot import name 'hash_password' (attempt {i})",
        )
        assert hook("claude-code", "PostToolUseFailure", body, tmp_path, log_dir).stdout == b""
    asked = json.loads(
        hook("claude-code", "PreToolUse", payload("claude-code", "PreToolUse"), tmp_path, log_dir).stdout
    )["hookSpecificOutput"]
    assert asked["permissionDecision"] == "ask" and "3 times" in asked["permissionDecisionReason"]
    stop = json.loads(hook("claude-code", "Stop", payload("claude-code", "Stop"), tmp_path, log_dir).stdout)
    assert stop["decision"] == "block" and "unresolved" in stop["reason"]
    again = payload("claude-code", "Stop", stop_hook_active=True)
    assert hook("claude-code", "Stop", again, tmp_path, log_dir).stdout == b""
    assert [a["type"] for a in alerts(log_dir)] == ["guard_error_loop", "guard_stop_nudge"]


def test_a_success_resolves_the_loop(tmp_path, log_dir):
    write_config(tmp_path, '[guard]\nerror_loop_threshold = 2\nerror_loop = "off"\n')
    for i in range(2):
        hook(
            "claude-code",
            "PostToolUseFailure",
            payload("claude-code", "PostToolUseFailure", tool_use_id=f"f{i}"),
            tmp_path,
            log_dir,
        )
    hook("claude-code", "PostToolUse", payload("claude-code", "PostToolUse"), tmp_path, log_dir)
    assert hook("claude-code", "Stop", payload("claude-code", "Stop"), tmp_path, log_dir).stdout == b""


@pytest.mark.parametrize(
    "body", [b"{not json", b"[1, 2]", b"", b'{"hook_event_name": "PreToolUse"}', b"\xff\xfe garbage"]
)
def test_a_corrupted_payload_fails_open(body, tmp_path, log_dir):
    result = hook("claude-code", "PreToolUse", body, tmp_path, log_dir)
    assert result.returncode == 0 and result.stdout == b""
    assert (log_dir / "state" / "hook-errors.log").read_text().count("\n") == 1


@pytest.mark.parametrize("resident", ["0", "1"])
def test_a_payload_over_16_mib_is_recorded_cut_down_with_a_marker(tmp_path, log_dir, resident):
    """A huge tool output is not a reason to lose the call: its largest strings are cut."""
    big = payload("claude-code", "PostToolUse", tool_response={"stdout": "x" * (20 << 20), "stderr": "boom"})
    result = hook("claude-code", "PostToolUse", big, tmp_path, log_dir, env={"AGENTLOG_GUARD_RESIDENT": resident})
    assert result.returncode == 0 and not (log_dir / "state" / "hook-errors.log").exists(), result.stderr
    results = [e for e in session_events(log_dir, big["session_id"]) if e["event_type"] == "tool_result"]
    assert [r["data"]["call_id"] for r in results] == ["toolu_01ABCD"]
    assert results[0]["data"]["result_data"].startswith("xxx") and "…[" in results[0]["data"]["result_data"]


def test_a_huge_payload_is_cut_to_16_mib_with_a_visible_marker():
    from agentlog.guard.hook import MAX_PAYLOAD, _payload

    raw = json.dumps({"session_id": "s", "tool_response": {"stdout": "x" * (20 << 20), "stderr": "boom"}}).encode()
    cut = _payload(raw)
    assert len(json.dumps(cut).encode()) <= MAX_PAYLOAD
    assert (
        cut["tool_response"]["stdout"].endswith("chars]") and "…[agentlog: truncated" in cut["tool_response"]["stdout"]
    )
    assert cut["tool_response"]["stderr"] == "boom" and cut["session_id"] == "s"


def test_an_unwritable_log_dir_fails_open(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the log dir should be")
    write_config(tmp_path, "[guard]\nrepeat_threshold = 1\n")
    result = hook("claude-code", "PreToolUse", payload("claude-code", "PreToolUse"), tmp_path, blocker / "logs")
    assert result.returncode == 0 and result.stdout == b""
    assert b"failed open" in result.stderr


def test_a_bad_guard_config_or_usage_fails_open(tmp_path, log_dir):
    write_config(tmp_path, '[guard]\nrepeat = "sometimes"\n')
    result = hook("claude-code", "PreToolUse", payload("claude-code", "PreToolUse"), tmp_path, log_dir)
    assert result.returncode == 0 and result.stdout == b""
    assert "sometimes" in (log_dir / "state" / "hook-errors.log").read_text()
    result = subprocess.run([AGENTLOG, "hook", "claude-code"], input=b"{}", capture_output=True, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == b""


def test_the_time_budget_fails_open(tmp_path, log_dir):
    write_config(tmp_path, "[guard]\ntimeout_ms = 1\n")
    result = hook("claude-code", "PreToolUse", payload("claude-code", "PreToolUse"), tmp_path, log_dir)
    assert result.returncode == 0 and result.stdout == b""
    assert "HookTimeout" in (log_dir / "state" / "hook-errors.log").read_text()


def test_unknown_fields_are_kept_and_missing_ones_never_crash(tmp_path, log_dir):
    body = {"session_id": "s-1", "hook_event_name": "PreToolUse", "future_field": {"x": 1}}
    assert hook("claude-code", "PreToolUse", body, tmp_path, log_dir).returncode == 0
    for event in ORDER:
        assert hook("codex", event, {"session_id": "s-1", "hook_event_name": event}, tmp_path, log_dir).stdout == b""
    assert not (log_dir / "state" / "hook-errors.log").exists()
    call = next(e for e in session_events(log_dir, "s-1") if e["event_type"] == "tool_call")
    assert call["data"]["tool_name"] == "unknown" and call["data"]["hook"] == {"future_field": {"x": 1}}


@pytest.mark.slow
def test_parallel_hook_calls_keep_one_gap_free_sequence(tmp_path, log_dir):
    write_config(tmp_path, "[guard]\ntimeout_ms = 60000\n")  # sequencing, not the budget, is tested here
    procs = [
        subprocess.Popen(
            [AGENTLOG, "hook", "claude-code", "PreToolUse", "--log-dir", str(log_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=tmp_path,
        )
        for _ in range(8)
    ]
    for i, proc in enumerate(procs):
        body = payload("claude-code", "PreToolUse", tool_use_id=f"p{i}", tool_input={"command": f"cmd {i}"})
        proc.communicate(json.dumps(body).encode(), timeout=60)
    recorded = session_events(log_dir, payload("claude-code", "PreToolUse")["session_id"])
    assert [e["sequence_num"] for e in recorded] == list(range(1, 10))  # session_start + 8 calls
