"""Hook payloads -> agentlog events, on the importers' `Mapper` (same event shapes, same
session lifecycle, same outcome tracking as an imported transcript).

Claude Code and Codex send one JSON object per hook call with common fields
(`session_id`, `transcript_path`, `cwd`, `hook_event_name`, Codex also `model` and
`turn_id`) plus the event's own. A missing field never fails a call; fields this
module does not know are kept, clipped, under `data.hook` of the event they came with.

    SessionStart       -> (remembered) session_start, written with the first prompt; stamps
                          context_sha256 (capture.context) of what shapes the agent
    UserPromptSubmit   -> session_start(prompt) the first time, then followup_sent
    PreToolUse         -> tool_call (tool_params normalised: keys sorted)
    PostToolUse        -> tool_result success|error (+ error when it failed)
    PostToolUseFailure -> tool_result error + error
    Stop/SubagentStop/PreCompact/Notification -> status_change
    SessionEnd         -> session_end
Token usage is not in any payload: hook.py reads it from the transcript with the agent's
importer (only the part written since the last call).
"""

from __future__ import annotations

from typing import Any, Callable

from ..capture.importers.base import Mapper, clip
from ..events import now_iso

COMMON = frozenset({"session_id", "transcript_path", "cwd", "hook_event_name", "permission_mode", "model", "turn_id"})
EXTRA_CHARS = 500  # per unknown field kept


def normalise(value: Any) -> Any:
    """Tool input with dict keys sorted, so the same call always encodes to the same bytes."""
    if isinstance(value, dict):
        return {k: normalise(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def tool_failed(response: Any) -> tuple[bool, str]:
    """(failed?, text) of a PostToolUse `tool_response`, whatever shape the tool gave it."""
    if isinstance(response, str):
        from ..agents.codex import output_failed  # "Exit code: 1" and friends

        return output_failed(response)
    if isinstance(response, dict):
        text = "\n".join(
            str(response[k])
            for k in ("stdout", "stderr", "output", "error", "content", "result")
            if response.get(k) not in (None, "", [])
        )
        code = next((response[k] for k in ("exit_code", "exitCode", "returncode") if k in response), None)
        failed = (
            response.get("success") is False
            or response.get("is_error") is True
            or bool(response.get("error"))
            or (isinstance(code, int) and not isinstance(code, bool) and code != 0)
        )
        return failed, text or _json(response)
    if isinstance(response, list):
        from ..agents.claude_code import _text_of

        return False, _text_of(response)
    return False, "" if response is None else str(response)


def _json(value: Any) -> str:
    from ..events import encode

    return encode(value).decode()


def _status(status: str, reason_field: str | None = None) -> Callable:
    """A handler recording one status_change (the reason from a payload field)."""

    def handler(self: "HookMapper", p: dict[str, Any], now: str) -> list[dict[str, Any]]:
        reason = p.get(reason_field) if reason_field else None
        data = {"status": status, "reason": reason if isinstance(reason, str) else None}
        return [*self.begin(None, now), self.event("status_change", data, now)]

    return handler


class HookMapper(Mapper):
    """One session's hook payloads -> events; `state` is kept in the guard's session state."""

    def __init__(self, attempt_id: str, executor: str, ctx: Any, state: dict[str, Any]):
        super().__init__(attempt_id, ctx, state, lifecycle=True, stable_ids=True)
        self.executor = executor

    def feed(self, payload: dict[str, Any], where: int | str = "") -> list[dict[str, Any]]:
        name = payload.get("hook_event_name") or where
        for src, dst in (("model", "model"), ("session_id", "session_id")):
            if isinstance(payload.get(src), str) and payload[src]:
                self.state[dst] = payload[src]
        handler = HANDLERS.get(name)
        if handler is None:
            return []  # an event this version does not map: recorded nowhere, never an error
        now = now_iso()
        events = handler(self, payload, now)
        extra = {
            k: clip(v, EXTRA_CHARS) for k, v in payload.items() if k not in COMMON and k not in _KNOWN.get(name, ())
        }
        if extra and events:
            events[-1]["data"]["hook"] = extra
        return events

    def event(self, event_type: str, data: dict[str, Any], timestamp: str | None, key: Any = None) -> dict[str, Any]:
        if key is not None:
            key = (self.executor, key)  # the importers' ids never collide with the hooks'
        return super().event(event_type, data, timestamp, key)

    # -- lifecycle ------------------------------------------------------------------------

    def _session_start(self, p: dict[str, Any], now: str) -> list[dict[str, Any]]:
        source = p.get("source")
        start = {
            "working_dir": p.get("cwd"),
            "source": source,
            "permission_mode": p.get("permission_mode"),
            "agent_type": p.get("agent_type"),
        }
        if source in ("resume", "compact") and self.state.get("started"):
            return []  # the same session goes on
        if source in ("clear", "startup") and self.state.get("started"):
            self.state["started"] = False  # a new session under the same id: start again
        cwd = p.get("cwd")
        if isinstance(cwd, str) and cwd:
            from ..capture.context import context_sha256

            model = p.get("model") if isinstance(p.get("model"), str) else self.state.get("model")
            start["context_sha256"] = context_sha256(cwd, model)  # for natural A/B tests (`agentlog ab`)
        self.state["start_data"] = {k: v for k, v in start.items() if v is not None}
        self.state["start_pending"] = True
        return []

    def _prompt(self, p: dict[str, Any], now: str) -> list[dict[str, Any]]:
        prompt = p.get("prompt")
        prompt = prompt if isinstance(prompt, str) else None
        if not self.state.get("started"):
            return self.begin(prompt, now)
        return [self.event("followup_sent", {"message": prompt, "reason": "user"}, now)]

    def begin(self, prompt: str | None, now: str) -> list[dict[str, Any]]:
        """session_start, once, before anything else of the session (also when hooks were
        installed mid-session and SessionStart never came)."""
        self.state.pop("start_pending", None)
        return self.ensure_started(prompt, now)

    def _end(self, p: dict[str, Any], now: str) -> list[dict[str, Any]]:
        events = self.begin(None, now)
        events.append(
            self.event("session_end", {"completion_status": self.end_status(), "reason": p.get("reason")}, now)
        )
        self.state["started"] = False
        return events

    # -- tools ----------------------------------------------------------------------------

    def _pre_tool(self, p: dict[str, Any], now: str) -> list[dict[str, Any]]:
        name = p.get("tool_name") if isinstance(p.get("tool_name"), str) and p.get("tool_name") else "unknown"
        call_id = p.get("tool_use_id")
        self.state.setdefault("tools", {})[str(call_id)] = name
        _cap(self.state["tools"])
        data = {"tool_name": name, "tool_params": normalise(p.get("tool_input")), "call_id": call_id}
        return [*self.begin(None, now), self.event("tool_call", data, now, key=("call", call_id) if call_id else None)]

    def _post_tool(self, p: dict[str, Any], now: str) -> list[dict[str, Any]]:
        failed, text = tool_failed(p.get("tool_response"))
        return self._result(p, now, failed, text)

    def _post_tool_failure(self, p: dict[str, Any], now: str) -> list[dict[str, Any]]:
        error = p.get("error")
        return self._result(p, now, True, error if isinstance(error, str) else _json(error))

    def _result(self, p: dict[str, Any], now: str, failed: bool, text: str) -> list[dict[str, Any]]:
        call_id = p.get("tool_use_id")
        name = self.state.setdefault("tools", {}).pop(str(call_id), None) or p.get("tool_name")
        key = ("result", call_id) if call_id else None
        data = {
            "tool_name": name,
            "call_id": call_id,
            "result": "error" if failed else "success",
            "result_data": clip(text),
        }
        events = [*self.begin(None, now), self.event("tool_result", data, now, key=key)]
        if failed:
            message = clip(text.strip() or f"{name or 'tool'} failed", 1000)
            events.append(
                self.event(
                    "error",
                    {"error_message": message, "tool_name": name, "call_id": call_id},
                    now,
                    key=(key, "error") if key else None,
                )
            )
        return events

    # -- turn and session status ------------------------------------------------------------

    def _stop(self, p: dict[str, Any], now: str) -> list[dict[str, Any]]:
        """The turn is over: the assistant's last message (hooks' only view of its text)."""
        events = self.begin(None, now)
        text = p.get("last_assistant_message")
        if isinstance(text, str) and text:
            events.append(self.event("agent_output", {"output": text, "stream_type": "assistant"}, now))
        events.append(self.event("status_change", {"status": "turn_complete"}, now))
        return events

    _subagent_stop = _status("subagent_complete", "agent_type")
    _pre_compact = _status("compacting", "trigger")
    _notification = _status("waiting", "message")


def _cap(tools: dict[str, Any], size: int = 256) -> None:
    while len(tools) > size:
        del tools[next(iter(tools))]


HANDLERS: dict[str, Callable[[HookMapper, dict[str, Any], str], list[dict[str, Any]]]] = {
    "SessionStart": HookMapper._session_start,
    "UserPromptSubmit": HookMapper._prompt,
    "PreToolUse": HookMapper._pre_tool,
    "PostToolUse": HookMapper._post_tool,
    "PostToolUseFailure": HookMapper._post_tool_failure,
    "Stop": HookMapper._stop,
    "SubagentStop": HookMapper._subagent_stop,
    "PreCompact": HookMapper._pre_compact,
    "Notification": HookMapper._notification,
    "SessionEnd": HookMapper._end,
}
# Fields each event's handler reads (or that only steer the agent): not repeated under data.hook.
_KNOWN = {
    "SessionStart": ("source", "agent_type"),
    "UserPromptSubmit": ("prompt",),
    "PreToolUse": ("tool_name", "tool_input", "tool_use_id"),
    "PostToolUse": ("tool_name", "tool_input", "tool_response", "tool_use_id"),
    "PostToolUseFailure": ("tool_name", "tool_input", "tool_use_id", "error"),
    "Stop": ("stop_hook_active", "last_assistant_message"),
    "SubagentStop": ("stop_hook_active", "agent_type", "last_assistant_message", "agent_transcript_path"),
    "PreCompact": ("trigger",),
    "Notification": ("message",),
    "SessionEnd": ("reason",),
}
