"""`hooks install` and `agentlog hook` for the agents whose hooks differ from Claude Code's
(Gemini CLI, Copilot CLI) or follow them (Factory Droid, Qwen Code): the real CLI on real
files, payloads written from each agent's hook reference (tests/data/hooks/README.md)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import SHARED
from test_hooks import AGENTLOG, alerts, hook, session_events, write_config
from test_hooks_install import run

PAYLOADS = Path(__file__).resolve().parent / "data" / "hooks"
GEMINI_CHAT = next((SHARED / "fixtures" / "gemini-cli" / "vibecodingtracker").rglob("session-*.jsonl"))
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
}
EXECUTORS = {"gemini-cli": "GEMINI_CLI", "copilot-cli": "COPILOT_CLI", "droid": "DROID", "qwen-code": "QWEN_CODE"}
PRE_TOOL = {"gemini-cli": "BeforeTool", "copilot-cli": "PreToolUse", "droid": "PreToolUse", "qwen-code": "PreToolUse"}


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
        handlers = entries if agent == "copilot-cli" else [h for g in entries for h in g["hooks"]]
        for handler in handlers:
            command = handler.get("bash" if agent == "copilot-cli" else "command", "")
            if command.endswith(f"hook {agent} {event}"):
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
    assert outputs == [b""] * len(outputs), "no decision expected"
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
    recorded = session_events(log_dir, body["session_id"])
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
    return answer["hookSpecificOutput"]["permissionDecision"], answer["hookSpecificOutput"]["permissionDecisionReason"]


@pytest.mark.parametrize("agent", sorted(SESSIONS))
def test_the_nth_identical_tool_call_is_denied_in_the_agents_format(agent, tmp_path, log_dir):
    write_config(tmp_path, "[guard]\nrepeat_threshold = 3\n")
    event = PRE_TOOL[agent]
    outputs = [hook(agent, event, payload(agent, event), tmp_path, log_dir).stdout for _ in range(3)]
    assert outputs[:2] == [b"", b""]
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
