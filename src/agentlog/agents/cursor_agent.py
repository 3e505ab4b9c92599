"""Cursor agent (cursor-agent CLI and the editor's agent): transcripts in
`~/.cursor/projects/<workspace-slug>/agent-transcripts/<id>/<id>.jsonl` (the same on macOS;
without the slug folder for a workspace-less run).

One `{role, message: {content: [...]}}` per line: the user's text wrapped in `<user_query>`,
the assistant's `text` and `tool_use` parts, `tool_result` parts; `{"type": "turn_ended"}`
lines close a turn. The transcript carries no time, no tokens and no cost:
- time: the lines read in one pass are stamped with the file's modification time at that
  read (`timestamp_quality: approximate`: written no later than that), so a transcript
  followed while it grows gets times close to the truth, and an old one its last write;
- tokens and cost: absent (no usage event is made up; a report says it does not know).

Hooks (`agentlog hooks install cursor-agent`): see the end of this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..events import now_iso
from ..capture.importers.base import Context, Importer, Mapper
from ._parts import PartsMapper
from .base import Hooks

CURSOR_AGENT = "CURSOR_AGENT"


class CursorMapper(PartsMapper):
    executor = CURSOR_AGENT

    def feed(self, record: dict[str, Any], where: int | str) -> list[dict[str, Any]]:
        self.time_quality = "approximate"
        ts = self.seen_time(self.state.get("read_time"))
        if record.get("type") == "turn_ended":
            return [*self.ensure_started(None, ts), self.turn_complete(ts, where)]
        role = record.get("role")
        message = record.get("message")
        if role not in ("user", "assistant"):
            self.ctx.skip(f"unknown_type:{record.get('type') or role}")
            return []
        if not isinstance(message, dict):
            self.ctx.skip("malformed_record")
            return []
        content = message.get("content")
        return self.user(content, ts, where) if role == "user" else self.assistant(content, ts, where)


class CursorAgentImporter(Importer):
    name = "cursor-agent"
    executor = CURSOR_AGENT
    default_path = "~/.cursor/projects"
    tokens = "absent"
    cost = "absent"
    hooks = True

    def files(self, root: Path, **options: Any) -> list[Path]:
        found = super().files(root, **options)
        return found if root.is_file() else [p for p in found if "agent-transcripts" in p.parts]

    def mapper(self, path: Path, ctx: Context, state: dict[str, Any] | None) -> Mapper:
        mapper = CursorMapper(self.attempt_id(path), ctx, state)
        mapper.state["read_time"] = now_iso(path.stat().st_mtime)  # this read's clock (see the docstring)
        return mapper


# -- hooks -----------------------------------------------------------------------------------------
# https://cursor.com/docs/agent/hooks: `.cursor/hooks.json` (project) and `~/.cursor/hooks.json`
# (user), all of them run; `{"version": 1, "hooks": {event: [{"command": ..., "timeout": s}]}}`,
# handlers listed directly, camelCase event names. Every payload carries `conversation_id` (the
# session: sessionStart's `session_id` is the same value), `generation_id` (one turn),
# `hook_event_name`, `workspace_roots`, `model`, `cursor_version`, `user_email`, `transcript_path`.
# The generic tool events (preToolUse, postToolUse, postToolUseFailure) fire for every tool,
# shell and MCP included, with `tool_use_id`: agentlog installs those and not the older
# beforeShellExecution / beforeMCPExecution / beforeReadFile / afterFileEdit, which would record
# each call twice. Answers: preToolUse `{"permission": allow|deny|ask, "user_message",
# "agent_message"}`, beforeSubmitPrompt `{"continue": bool, "user_message"}`, stop and
# subagentStop `{"followup_message"}` (a stop cannot be refused, only followed by a message).
# A permission hook's stdout must be that JSON: empty or other output is "invalid JSON" and the
# action is blocked for safety (aovestdipaperino/tokensave#187, stablyai/orca#15462,
# ruvnet/ruflo#2613), so every call that decides nothing, or fails, prints `fail_open`.
_HOOK_EVENTS = {
    "sessionStart": "SessionStart",
    "beforeSubmitPrompt": "UserPromptSubmit",
    "preToolUse": "PreToolUse",
    "postToolUse": "PostToolUse",
    "postToolUseFailure": "PostToolUseFailure",
    "subagentStop": "SubagentStop",
    "preCompact": "PreCompact",
    "stop": "Stop",
    "sessionEnd": "SessionEnd",
}
# Cursor's bookkeeping, not the session's: the user's e-mail is never recorded
_DROPPED = ("conversation_id", "generation_id", "workspace_roots", "cursor_version", "user_email")
# Cursor's field -> Claude Code's, per event
_RENAMED = {
    "PostToolUse": {"tool_output": "tool_response"},
    "PostToolUseFailure": {"error_message": "error"},
    "SubagentStop": {"subagent_type": "agent_type", "result": "last_assistant_message"},
}


def _hook_payload(event: str, payload: dict[str, Any]) -> dict[str, Any]:
    conversation = payload.get("conversation_id")
    if isinstance(conversation, str) and conversation:
        payload["session_id"] = conversation
    roots = payload.get("workspace_roots")
    if not payload.get("cwd") and isinstance(roots, list) and roots and isinstance(roots[0], str):
        payload["cwd"] = roots[0]
    for key in _DROPPED:
        payload.pop(key, None)
    for cursor_key, claude_key in _RENAMED.get(event, {}).items():
        if cursor_key in payload:
            payload[claude_key] = payload.pop(cursor_key)
    return payload


def _hook_attempt(payload: dict[str, Any]) -> str | None:
    """The attempt `agentlog import cursor-agent` gives the transcript in `transcript_path`
    (`<conversation id>.jsonl`: that id), else None (the conversation id)."""
    path = payload.get("transcript_path")
    if not isinstance(path, str) or not path:
        return None
    file = Path(path).expanduser()
    return CursorAgentImporter().attempt_id(file) if file.is_file() else None


def _hook_answer(event: str, decision: Any) -> dict[str, Any] | None:
    action, reason = decision.action, decision.reason
    if event == "PreToolUse":
        return {"permission": "allow" if action == "warn" else action, "user_message": reason, "agent_message": reason}
    if event == "UserPromptSubmit" and action == "deny":
        return {"continue": False, "user_message": reason}
    if event in ("Stop", "SubagentStop") and action == "deny":
        return {"followup_message": reason}
    return None  # the hook prints FAIL_OPEN


# What Cursor reads as "go on" at every event: permission for the tool hooks, continue for the prompt.
FAIL_OPEN = '{"permission": "allow", "continue": true}\n'

HOOKS = Hooks(
    ".cursor/hooks.json",
    ".cursor/hooks.json",
    tuple(_HOOK_EVENTS),
    None,  # no matcher: every tool
    native=_HOOK_EVENTS,
    flat=True,
    skeleton={"version": 1},
    adapt=_hook_payload,
    render=_hook_answer,
    attempt_id=_hook_attempt,
    fail_open=FAIL_OPEN,
)
