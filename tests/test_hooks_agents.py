"""`hooks install` and `agentlog hook` for the agents whose hooks differ from Claude Code's
(Gemini CLI, Copilot CLI, Cursor) or follow them (Factory Droid, Qwen Code): the real CLI on
real files, payloads written from each agent's hook reference (tests/data/hooks/README.md)."""

from __future__ import annotations

import json
import re
import os
import shutil
import socket
import threading
from pathlib import Path

import pytest

from agentlog.guard.client import SOCKET
from conftest import SHARED
from test_hooks import AGENTLOG, alerts, hook, session_events, write_config
from test_hooks_install import run

PAYLOADS = Path(__file__).resolve().parent / "data" / "hooks"
GEMINI_CHAT = next((SHARED / "fixtures" / "gemini-cli" / "vibecodingtracker").rglob("session-*.jsonl"))
CURSOR_TRANSCRIPT = next((SHARED / "fixtures" / "cursor-agent").rglob("agent-transcripts/*/*.jsonl"))
# each agent's events in the order of a session: (event as the agent names it, what it becomes)
SESSIONS = {
    "gemini-cli": [
        "SessionStart",
        "BeforeAgent",
        "BeforeTool",
        "AfterTool",
        "Notification",
        "PreCompress",
        "AfterAgent",
        "SessionEnd",
    ],
    "copilot-cli": [
        "SessionStart",
        "UserPromptSubmit",
        "PreToolUse",
        "PostToolUse",
        "PostToolUseFailure",
        "PreCompact",
        "SubagentStop",
        "Stop",
        "SessionEnd",
    ],
    "droid": [
        "SessionStart",
        "UserPromptSubmit",
        "PreToolUse",
        "PostToolUse",
        "Notification",
        "PreCompact",
        "SubagentStop",
        "Stop",
        "SessionEnd",
    ],
    "qwen-code": [
        "SessionStart",
        "UserPromptSubmit",
        "PreToolUse",
        "PostToolUse",
        "PostToolUseFailure",
        "Stop",
        "SessionEnd",
    ],
    "cursor-agent": [
        "sessionStart",
        "beforeSubmitPrompt",
        "preToolUse",
        "postToolUse",
        "postToolUseFailure",
        "subagentStop",
        "preCompact",
        "stop",
        "sessionEnd",
    ],
}
EXECUTORS = {
    "gemini-cli": "GEMINI_CLI",
    "copilot-cli": "COPILOT_CLI",
    "droid": "DROID",
    "qwen-code": "QWEN_CODE",
    "cursor-agent": "CURSOR_AGENT",
}
PRE_TOOL = {
    "gemini-cli": "BeforeTool",
    "copilot-cli": "PreToolUse",
    "droid": "PreToolUse",
    "qwen-code": "PreToolUse",
    "cursor-agent": "preToolUse",
}
FLAT = ("copilot-cli", "cursor-agent")  # handlers listed directly, not in matcher groups
# Cursor reads no output from a hook as "invalid JSON" and blocks: it is told to go on instead
CURSOR_GO_ON = b'{"permission": "allow", "continue": true}\n'
QUIET = {"cursor-agent": CURSOR_GO_ON}  # what a call that decides nothing prints (else nothing)


def payload(agent: str, event: str, **changes) -> dict:
    return {**json.loads((PAYLOADS / agent / f"{event}.json").read_text()), **changes}


def chat_copy(tmp_path: Path) -> Path:
    """A Gemini chat file where Gemini keeps it (the hook names it in transcript_path)."""
    target = tmp_path / "gemini" / "tmp" / "9da8b3df" / "chats" / GEMINI_CHAT.name
    target.parent.mkdir(parents=True)
    shutil.copyfile(GEMINI_CHAT, target)
    return target


def run_session(agent: str, tmp_path: Path, log_dir: Path, **changes) -> list:
    outputs = []
    for event in SESSIONS[agent]:
        result = hook(agent, event, payload(agent, event, **changes), tmp_path, log_dir)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    return outputs


# -- install, status, uninstall ----------------------------------------------------------------

GEMINI_SETTINGS = b"""{
  "general": {"vimMode": true},
  "hooks": {
    "enabled": true,
    "BeforeTool": [{"matcher": "write_file", "hooks": [{"type": "command", "command": "./check-write.sh", "timeout": 5000}]}]
  }
}
"""
QWEN_SETTINGS = b"""{
  "model": {"name": "qwen3-coder-plus"},
  "hooks": {"PreToolUse": [{"matcher": "^run_shell_command$", "hooks": [{"type": "command", "command": "./check-shell.sh"}]}]}
}
"""
DROID_SETTINGS = b"""{
  "model": "claude-sonnet-4-5",
  "hooks": {"PostToolUse": [{"matcher": "Edit|Create", "hooks": [{"type": "command", "command": "npx prettier --write"}]}]}
}
"""
CURSOR_SETTINGS = b"""{
  "version": 1,
  "hooks": {"afterFileEdit": [{"command": "./hooks/format.sh"}], "preToolUse": [{"command": "./hooks/audit.sh", "matcher": "Shell"}]}
}
"""
COPILOT_OURS = b"""{
  "version": 1,
  "hooks": {"preToolUse": [{"type": "command", "bash": "./scripts/audit.sh", "timeoutSec": 30}]}
}
"""


@pytest.mark.parametrize(
    "agent,rel,flag,existing,timeout",
    [
        ("gemini-cli", ".gemini/settings.json", "--user", GEMINI_SETTINGS, ("timeout", 10000)),
        ("gemini-cli", ".gemini/settings.json", "--project", GEMINI_SETTINGS, ("timeout", 10000)),
        ("qwen-code", ".qwen/settings.json", "--project", QWEN_SETTINGS, ("timeout", 10000)),
        ("droid", ".factory/settings.json", "--user", DROID_SETTINGS, ("timeout", 10)),
        ("droid", ".factory/settings.local.json", "--local", DROID_SETTINGS, ("timeout", 10)),
        ("copilot-cli", ".github/hooks/agentlog.json", "--project", COPILOT_OURS, ("timeoutSec", 10)),
        ("copilot-cli", ".copilot/hooks/agentlog.json", "--user", None, ("timeoutSec", 10)),
        ("cursor-agent", ".cursor/hooks.json", "--project", CURSOR_SETTINGS, ("timeout", 10)),
        ("cursor-agent", ".cursor/hooks.json", "--user", CURSOR_SETTINGS, ("timeout", 10)),
        ("cursor-agent", ".cursor/hooks.json", "--user", None, ("timeout", 10)),
    ],
)
def test_install_keeps_the_users_settings_and_uninstall_restores_them(agent, rel, flag, existing, timeout, dirs):
    project, home = dirs
    path = (home if flag == "--user" else project) / rel
    if existing is not None:
        path.parent.mkdir(parents=True)
        path.write_bytes(existing)
    result = run("install", agent, flag, project=project, home=home)
    assert result.returncode == 0, result.stderr
    settings = json.loads(path.read_bytes())
    ours = _our_handlers(agent, settings)
    assert sorted(ours) == sorted(_installed(agent))
    assert all(h[timeout[0]] == timeout[1] and h["type"] == "command" for h in ours.values())
    if existing is not None:  # the user's own content is all still there
        before = json.loads(existing)
        for key, value in before.items():
            if key != "hooks":
                assert settings[key] == value
        for event, entries in before["hooks"].items():
            assert (
                all(entry in settings["hooks"][event] for entry in entries)
                if isinstance(entries, list)
                else (settings["hooks"][event] == entries)
            )
    installed = path.read_bytes()
    assert "already installed" in run("install", agent, flag, project=project, home=home).stdout
    assert path.read_bytes() == installed
    status = run("status", agent, project=project, home=home)
    line = next(line for line in status.stdout.splitlines() if line.endswith(str(path)))
    assert status.returncode == 0 and line.split()[2].rstrip(",") == "installed" and "not installed" not in line
    assert run("uninstall", agent, flag, project=project, home=home).returncode == 0
    assert path.read_bytes() == existing if existing is not None else not path.exists()


def _installed(agent: str) -> list[str]:
    from agentlog.agents import get

    return list(get(agent).hooks.events)


def _our_handlers(agent: str, settings: dict) -> dict[str, dict]:
    """Event -> agentlog's handler in it, whatever the agent's layout."""
    found = {}
    for event, entries in settings["hooks"].items():
        if not isinstance(entries, list):
            continue
        handlers = entries if agent in FLAT else [h for g in entries for h in g["hooks"]]
        for handler in handlers:
            command = handler.get("bash" if agent == "copilot-cli" else "command", "")
            if re.search(rf"hook {agent} {event}( --fail-open .*)?$", command, re.S):
                found[event] = handler
    return found


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    return project, home


def test_gemini_tool_hooks_have_no_matcher_and_copilot_has_no_groups(dirs):
    """Gemini's tool matcher is a regex (no matcher: every tool); Copilot lists handlers directly
    and starts its own file with `"version": 1`."""
    project, home = dirs
    run("install", "gemini-cli", project=project, home=home)
    gemini = json.loads((project / ".gemini" / "settings.json").read_bytes())["hooks"]
    assert set(gemini) == {
        "SessionStart",
        "BeforeAgent",
        "BeforeTool",
        "AfterTool",
        "AfterAgent",
        "PreCompress",
        "Notification",
        "SessionEnd",
    }
    assert "matcher" not in gemini["BeforeTool"][0]
    run("install", "copilot-cli", project=project, home=home)
    copilot = json.loads((project / ".github" / "hooks" / "agentlog.json").read_bytes())
    assert copilot["version"] == 1 and copilot["hooks"]["PreToolUse"][0]["bash"].endswith("hook copilot-cli PreToolUse")


def test_cursor_gets_a_versioned_file_of_its_generic_events_without_matchers(dirs):
    """Cursor's preToolUse and postToolUse fire for every tool (shell, MCP, reads and edits too),
    so the older per-kind events are left out: each call would be recorded twice."""
    project, home = dirs
    assert run("install", "cursor-agent", "--user", project=project, home=home).returncode == 0
    settings = json.loads((home / ".cursor" / "hooks.json").read_bytes())
    assert settings["version"] == 1
    assert set(settings["hooks"]) == set(SESSIONS["cursor-agent"])
    for event, handlers in settings["hooks"].items():
        (handler,) = handlers
        assert re.search(rf"hook cursor-agent {event} --fail-open '.*'$", handler["command"], re.S)
        assert "matcher" not in handler


def test_copilot_file_edited_after_install_keeps_the_users_entries(dirs):
    project, home = dirs
    run("install", "copilot-cli", project=project, home=home)
    path = project / ".github" / "hooks" / "agentlog.json"
    settings = json.loads(path.read_bytes())
    mine = {"type": "command", "bash": "./scripts/audit.sh"}
    settings["hooks"]["PreToolUse"].append(mine)
    path.write_text(json.dumps(settings))
    result = run("uninstall", "copilot-cli", project=project, home=home)
    assert "edited since install" in result.stdout
    assert json.loads(path.read_bytes()) == {"version": 1, "hooks": {"PreToolUse": [mine]}}


def test_mcp_is_only_offered_where_agentlog_knows_the_agents_servers(dirs):
    project, home = dirs
    result = run("install", "gemini-cli", "--mcp", project=project, home=home)
    assert result.returncode == 2 and "--mcp" in result.stderr
    assert not (project / ".gemini").exists()


# -- agentlog hook ------------------------------------------------------------------------------


@pytest.mark.parametrize("agent", sorted(SESSIONS))
def test_a_documented_session_is_recorded_as_agentlog_events(agent, tmp_path, log_dir):
    changes = {"transcript_path": str(chat_copy(tmp_path))} if agent == "gemini-cli" else {}
    outputs = run_session(agent, tmp_path, log_dir, **changes)
    assert outputs == [QUIET.get(agent, b"")] * len(outputs), "no decision expected"
    assert not (log_dir / "state" / "hook-errors.log").exists()
    stream = [json.loads(line) for line in (log_dir / "agent-work-stream.jsonl").read_text().splitlines()]
    assert {e["executor"] for e in stream} == {EXECUTORS[agent]}
    attempts = {e["attempt_id"] for e in stream}
    assert len(attempts) == 1
    recorded = session_events(log_dir, attempts.pop())
    kinds = [e["event_type"] for e in recorded]
    assert kinds[0] == "session_start" and recorded[0]["data"]["prompt"] == "Make the failing auth test pass"
    assert recorded[0]["data"]["working_dir"] == "/home/dev/app"
    call = next(e for e in recorded if e["event_type"] == "tool_call")
    assert "pytest tests/test_auth.py -x" == call["data"]["tool_params"]["command"]
    result = next(e for e in recorded if e["event_type"] == "tool_result")
    assert result["data"]["result"] == "success" and result["data"]["tool_name"] == call["data"]["tool_name"]
    assert "1 passed" in result["data"]["result_data"]
    assert ("status_change", "turn_complete") in [(e["event_type"], e["data"].get("status")) for e in recorded]
    assert kinds[-1] == "session_end"


def test_gemini_events_join_the_attempt_agentlog_import_gives_the_chat(tmp_path, log_dir):
    """The chat's name holds 8 hex digits of the session id, so `agentlog import` names the attempt
    after the file; the hooks find that file in transcript_path and record under the same attempt."""
    chat = chat_copy(tmp_path)
    run_session("gemini-cli", tmp_path, log_dir, transcript_path=str(chat))
    import subprocess

    done = subprocess.run(
        [AGENTLOG, "import", "gemini-cli", str(chat), "--log-dir", str(log_dir), "-q"], capture_output=True
    )
    assert done.returncode == 0, done.stderr
    stream = [json.loads(line) for line in (log_dir / "agent-work-stream.jsonl").read_text().splitlines()]
    assert len({e["attempt_id"] for e in stream}) == 1
    answer = [e for e in stream if e["event_type"] == "agent_output"]
    assert any(e["data"]["output"].startswith("The auth test passes now") for e in answer)


def test_gemini_without_its_chat_file_records_under_the_session_id(tmp_path, log_dir):
    run_session("gemini-cli", tmp_path, log_dir, transcript_path=str(tmp_path / "missing.jsonl"))
    assert session_events(log_dir, payload("gemini-cli", "BeforeAgent")["session_id"])


@pytest.mark.parametrize(
    "agent,event,changes,message",
    [
        (
            "gemini-cli",
            "AfterTool",
            {
                "tool_response": {
                    "llmContent": "",
                    "error": {"message": "File not found: src/x.py", "type": "FILE_NOT_FOUND"},
                }
            },
            "File not found: src/x.py",
        ),
        (
            "copilot-cli",
            "PostToolUse",
            {"tool_result": {"result_type": "failure", "text_result_for_llm": "exit status 1: 1 failed"}},
            "exit status 1: 1 failed",
        ),
        ("copilot-cli", "PostToolUseFailure", {}, "No match found for old_str"),
        ("qwen-code", "PostToolUseFailure", {}, "old_string not found"),
        ("cursor-agent", "postToolUseFailure", {}, "old_string not found in src/auth.py"),
        ("cursor-agent", "postToolUse", {"tool_output": "Exit code: 1\nE   AssertionError"}, "AssertionError"),
        (
            "droid",
            "PostToolUse",
            {"tool_response": {"success": False, "error": "Command failed with exit code 2"}},
            "exit code 2",
        ),
    ],
)
def test_a_failed_tool_is_a_failed_result_and_an_error(agent, event, changes, message, tmp_path, log_dir):
    body = payload(agent, event, **changes)
    assert hook(agent, event, body, tmp_path, log_dir).returncode == 0
    recorded = session_events(log_dir, body.get("session_id") or body["conversation_id"])
    result = next(e for e in recorded if e["event_type"] == "tool_result")
    error = next(e for e in recorded if e["event_type"] == "error")
    assert result["data"]["result"] == "error" and message in error["data"]["error_message"]


def _deny(agent: str, output: bytes) -> tuple[str, str]:
    """(decision, reason) from the agent's documented answer to a tool call."""
    answer = json.loads(output)
    if agent == "gemini-cli":
        return answer["decision"], answer["reason"]
    if agent == "copilot-cli":
        assert answer["hookSpecificOutput"]["permissionDecision"] == answer["permissionDecision"]
        return answer["permissionDecision"], answer["permissionDecisionReason"]
    if agent == "cursor-agent":
        assert answer["user_message"] == answer["agent_message"]
        return answer["permission"], answer["agent_message"]
    return answer["hookSpecificOutput"]["permissionDecision"], answer["hookSpecificOutput"]["permissionDecisionReason"]


@pytest.mark.parametrize("agent", sorted(SESSIONS))
def test_the_nth_identical_tool_call_is_denied_in_the_agents_format(agent, tmp_path, log_dir):
    write_config(tmp_path, "[guard]\nrepeat_threshold = 3\n")
    event = PRE_TOOL[agent]
    outputs = [hook(agent, event, payload(agent, event), tmp_path, log_dir).stdout for _ in range(3)]
    assert outputs[:2] == [QUIET.get(agent, b"")] * 2
    decision, reason = _deny(agent, outputs[2])
    assert decision == "deny" and "3 times" in reason and "pytest tests/" in reason
    found = alerts(log_dir)
    assert [(a["type"], a["decision"], a["executor"]) for a in found] == [("guard_repeat", "deny", EXECUTORS[agent])]


def test_gemini_and_copilot_have_no_ask_so_an_ask_is_a_warning_or_the_agents_own(tmp_path, log_dir):
    """An error loop asks before the next call: Copilot has `permissionDecision: "ask"`, Gemini
    has no ask, so the user is warned (systemMessage) and the call goes on."""
    write_config(tmp_path, '[guard]\nerror_loop = "ask"\n')
    for agent, failed in (
        (
            "gemini-cli",
            {"tool_response": {"llmContent": "", "error": {"message": "ModuleNotFoundError: No module named 'jwt'"}}},
        ),
        (
            "copilot-cli",
            {
                "tool_result": {
                    "result_type": "failure",
                    "text_result_for_llm": "ModuleNotFoundError: No module named 'jwt'",
                }
            },
        ),
    ):
        post, pre = ("AfterTool", "BeforeTool") if agent == "gemini-cli" else ("PostToolUse", "PreToolUse")
        for _ in range(4):
            assert hook(agent, pre, payload(agent, pre), tmp_path, log_dir).returncode == 0
            assert hook(agent, post, payload(agent, post, **failed), tmp_path, log_dir).returncode == 0
        answer = json.loads(
            hook(agent, pre, payload(agent, pre, tool_input={"command": "ls"}), tmp_path, log_dir).stdout
        )
        if agent == "gemini-cli":
            assert set(answer) == {"systemMessage"} and "jwt" in answer["systemMessage"]
        else:
            assert answer["permissionDecision"] == "ask"


def test_qwen_records_only_what_the_user_typed_as_a_prompt(tmp_path, log_dir):
    """Qwen's UserPromptSubmit also fires when tool results go to the model: without
    `submitted_prompt` it is not the user's prompt and nothing is recorded."""
    body = payload("qwen-code", "UserPromptSubmit")
    body.pop("submitted_prompt")
    body["prompt"] = "[tool result] 1 passed"
    assert hook("qwen-code", "UserPromptSubmit", body, tmp_path, log_dir).stdout == b""
    assert not session_events(log_dir, body["session_id"])
    typed = payload("qwen-code", "UserPromptSubmit", prompt="expanded [Pasted text #1]", submitted_prompt="fix it")
    hook("qwen-code", "UserPromptSubmit", typed, tmp_path, log_dir)
    assert session_events(log_dir, body["session_id"])[0]["data"]["prompt"] == "fix it"


def test_droid_camel_case_fields_are_read(tmp_path, log_dir):
    body = payload("droid", "PreToolUse")
    camel = {
        "sessionId": body.pop("session_id"),
        "transcriptPath": body.pop("transcript_path"),
        "hookEventName": body.pop("hook_event_name"),
    }
    assert hook("droid", "PreToolUse", {**body, **camel}, tmp_path, log_dir).returncode == 0
    recorded = session_events(log_dir, camel["sessionId"])
    assert [e["event_type"] for e in recorded] == ["session_start", "tool_call"]
    assert "hook" not in recorded[-1]["data"]  # nothing left over as an unknown field


# -- Cursor: an explicit answer on every path ----------------------------------------------------


def cursor_transcript(tmp_path: Path) -> Path:
    """The fixture transcript where Cursor keeps it: `agent-transcripts/<conversation id>/<id>.jsonl`."""
    name = CURSOR_TRANSCRIPT.parent.name
    target = tmp_path / ".cursor" / "projects" / "home-dev-app" / "agent-transcripts" / name / f"{name}.jsonl"
    target.parent.mkdir(parents=True)
    shutil.copyfile(CURSOR_TRANSCRIPT, target)
    return target


def test_cursor_events_join_the_attempt_agentlog_import_gives_the_transcript(tmp_path, log_dir):
    """The transcript is named after the conversation, which every hook payload carries: hooks
    and `agentlog import cursor-agent` record one attempt."""
    transcript = cursor_transcript(tmp_path)
    conversation = transcript.stem
    run_session("cursor-agent", tmp_path, log_dir, conversation_id=conversation, transcript_path=str(transcript))
    import subprocess

    done = subprocess.run(
        [AGENTLOG, "import", "cursor-agent", str(transcript), "--log-dir", str(log_dir), "-q"], capture_output=True
    )
    assert done.returncode == 0, done.stderr
    stream = [json.loads(line) for line in (log_dir / "agent-work-stream.jsonl").read_text().splitlines()]
    assert {e["attempt_id"] for e in stream} == {conversation}
    assert {e["executor"] for e in stream} == {"CURSOR_AGENT"}
    assert not [e for e in stream if e["event_type"] == "usage"]  # Cursor's transcript has no tokens
    hooked = session_events(log_dir, conversation)
    assert all("dev@example.com" not in json.dumps(e) for e in hooked)  # the user's e-mail is not kept


def test_cursor_answers_a_prompt_and_a_stop_its_way(tmp_path, log_dir):
    """A denied prompt is `continue: false`; a stop cannot be refused, only followed up."""
    from agentlog.agents import get
    from agentlog.guard.policies import Decision

    spec = get("cursor-agent").hooks
    deny = Decision("repeat", "deny", "looping", "high", "manual_review", "s", {})
    assert spec.render("UserPromptSubmit", deny) == {"continue": False, "user_message": "looping"}
    assert spec.render("Stop", deny) == {"followup_message": "looping"}
    warn = deny._replace(action="warn")
    assert spec.render("PreToolUse", warn) == {
        "permission": "allow",
        "user_message": "looping",
        "agent_message": "looping",
    }
    assert spec.render("Stop", warn) is None  # the hook prints its "go on"


def _unwritable(tmp_path: Path) -> Path:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the log dir should be")
    return blocker / "logs"


@pytest.mark.parametrize(
    "case",
    ["garbage", "not an object", "no conversation", "bad config", "time budget", "unwritable log dir", "huge"],
)
def test_cursor_is_told_to_go_on_whatever_goes_wrong(case, tmp_path, log_dir):
    """Every way a call can fail open answers Cursor `allow` (an empty answer would block the
    tool); Claude Code, which reads no answer as "go on", still gets nothing."""
    body = payload("cursor-agent", "preToolUse")
    if case == "garbage":
        body = b'{"conversation_id": "c2f1e8a4", "tool_na'
    elif case == "not an object":
        body = b"[1, 2, 3]"
    elif case == "no conversation":
        body.pop("conversation_id")
    elif case == "bad config":
        write_config(tmp_path, '[guard]\nrepeat = "sometimes"\n')
    elif case == "time budget":
        write_config(tmp_path, "[guard]\ntimeout_ms = 1\n")
    elif case == "unwritable log dir":
        log_dir = _unwritable(tmp_path)
    elif case == "huge":  # over 16 MiB: cut down and recorded in the client's own process
        body["tool_input"]["command"] = "echo " + "x" * (17 * 1024 * 1024)
    # a warm resident guard may answer within the 1 ms budget: that case runs in its own process
    env = {} if case == "time budget" else {"AGENTLOG_GUARD_RESIDENT": "1"}
    result = hook("cursor-agent", "preToolUse", body, tmp_path, log_dir, env=env)
    assert (result.returncode, result.stdout) == (0, CURSOR_GO_ON), result.stderr
    if case == "huge":
        call = next(e for e in session_events(log_dir, body["conversation_id"]) if e["event_type"] == "tool_call")
        assert "truncated" in call["data"]["tool_params"]["command"]
    elif case == "unwritable log dir":
        assert b"failed open" in result.stderr
    else:
        assert (log_dir / "state" / "hook-errors.log").exists()
    claude = hook("claude-code", "PreToolUse", body, tmp_path, tmp_path / "claude-logs")
    assert (claude.returncode, claude.stdout) == (0, b"")


def test_cursor_is_told_to_go_on_when_the_resident_guard_takes_the_call_and_dies(tmp_path, log_dir):
    """The guard confirmed the call (so it is never run twice) and then closed without an
    answer: the client fails open, and for Cursor that is an explicit allow."""
    state = log_dir / "state"
    state.mkdir(parents=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(state / SOCKET))
    server.listen(1)
    confirmed = threading.Event()

    def take_the_call_and_die() -> None:
        conn, _ = server.accept()
        with conn:
            size = int.from_bytes(conn.recv(8, socket.MSG_WAITALL), "big")
            conn.recv(size, socket.MSG_WAITALL)
            conn.sendall(b"A")
            if conn.recv(1) == b"G":
                confirmed.set()

    thread = threading.Thread(target=take_the_call_and_die, daemon=True)
    thread.start()
    try:
        body = payload("cursor-agent", "preToolUse")
        result = hook("cursor-agent", "preToolUse", body, tmp_path, log_dir, env={"AGENTLOG_GUARD_RESIDENT": "1"})
    finally:
        thread.join(timeout=30)
        server.close()
    assert confirmed.is_set()
    assert (result.returncode, result.stdout) == (0, CURSOR_GO_ON), result.stderr
    assert (state / "hook-errors.log").exists()
    assert not session_events(log_dir, body["conversation_id"])  # taken by the guard: not run again here
    assert os.path.exists(state / SOCKET)  # nobody started a server in its place
