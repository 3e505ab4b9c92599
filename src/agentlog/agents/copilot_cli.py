"""GitHub Copilot CLI: `~/.copilot/session-state/<sessionId>/events.jsonl` (current; the same path
on macOS) and the legacy `~/.copilot/history-session-state/<sessionId>.json`.

events.jsonl has one event per line, `{type, data, id, timestamp, parentId}`: session.start
(cwd, git context, copilotVersion), session.model_change, user.message, assistant.message
(text, `toolRequests[]`, `outputTokens`), tool.execution_complete (`success`, `result`),
session.error, session.task_complete and session.shutdown.

Tokens come in two halves. Each assistant.message says only its output tokens: they are
recorded as they come (usage with output only). session.shutdown then gives the session's
totals per model (`modelMetrics[model].usage`): what those add beyond what was already
recorded (input, cache, the output not yet seen) is one more usage event, so the sum is the
total and no token is counted twice. A session killed before its shutdown keeps only its
output tokens: `tokens = "partial"`. Copilot's `inputTokens` include the cache reads
(stored disjoint here). Cost: Copilot bills premium requests (kept as `premium_requests`);
`cost_usd` is the API price of the tokens from the table (Copilot's `claude-sonnet-4.6` is
priced as `claude-sonnet-4-6`).

The legacy JSON is `{sessionId, startTime, chatMessages[], timeline[]}`, rewritten whole: the
timeline's `user`/`copilot`/`info`/`tool_call_completed` entries are read; it has no tokens.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..capture.importers.base import Context, Mapper, clip
from ..capture.importers.document import DocumentImporter
from .base import CLAUDE_CODE_EVENTS, Hooks

COPILOT_CLI = "COPILOT_CLI"
_KINDS = {
    "inputTokens": "input_tokens",
    "outputTokens": "output_tokens",
    "cacheReadTokens": "cache_read_tokens",
    "cacheWriteTokens": "cache_creation_tokens",
    "reasoningTokens": "reasoning_tokens",
}
_QUIET = frozenset(
    {
        "session.mode_changed",
        "session.info",
        "system.message",
        "assistant.turn_start",
        "assistant.turn_end",
        "tool.execution_start",
        "tool.execution_partial_result",
        "assistant.message_delta",
        "assistant.reasoning_delta",
        "session.usage_info",
        "hook.start",
        "hook.end",
        "session.truncation",
        "session.compaction_start",
        "session.compaction_complete",
        "assistant.intent",
        "session.resume",
        "pending_messages.modified",
    }
)
_DOTTED_CLAUDE = re.compile(r"^(claude-[a-z]+-\d+)\.(\d+)")


def price_name(model: str | None) -> str | None:
    """Copilot's model name as the price table spells it (`claude-sonnet-4.6` -> `claude-sonnet-4-6`)."""
    return _DOTTED_CLAUDE.sub(r"\1-\2", model) if isinstance(model, str) else model


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "" if value is None else json.dumps(value, ensure_ascii=False)


class CopilotMapper(Mapper):
    """events.jsonl lines -> events."""

    executor = COPILOT_CLI

    def feed(self, record: dict[str, Any], where: int | str) -> list[dict[str, Any]]:
        self.time_quality = None
        kind, data = record.get("type"), record.get("data")
        handler = _HANDLERS.get(kind)
        if handler is None:
            self.ctx.skip("known_ignored" if kind in _QUIET else f"unknown_type:{kind}")
            return []
        if not isinstance(data, dict):
            self.ctx.skip("malformed_record")
            return []
        ts = record.get("timestamp")
        self.seen_time(ts)
        return handler(self, data, ts, record.get("id") or where)

    def _start(self, data: dict[str, Any], ts: Any, key: Any) -> list[dict[str, Any]]:
        self.state["session_id"] = data.get("sessionId") or self.state.get("session_id")
        context = data.get("context") if isinstance(data.get("context"), dict) else {}
        if isinstance(context.get("branch"), str):
            self.state["branch"] = context["branch"]
        start = {
            "working_dir": context.get("cwd"),
            "commit": context.get("headCommit"),
            "repo": context.get("repository"),
            "agent_version": data.get("copilotVersion"),
        }
        self.state["start_data"] = {k: v for k, v in start.items() if isinstance(v, str) and v}
        return []

    def _model(self, data: dict[str, Any], ts: Any, key: Any) -> list[dict[str, Any]]:
        if isinstance(data.get("newModel"), str) and data["newModel"]:
            self.state["model"] = data["newModel"]
        return []

    def _user(self, data: dict[str, Any], ts: Any, key: Any) -> list[dict[str, Any]]:
        text = data.get("content")
        if not isinstance(text, str) or not text.strip():
            self.ctx.skip("known_ignored")  # Copilot's own nudge to go on (autopilot), not the user's words
            return []
        self.state.pop("aborted", None)
        if not self.state.get("started") and self.lifecycle:
            return self.ensure_started(text, ts)
        return [self.event("followup_sent", {"message": text, "reason": "user"}, ts, key=key)]

    def _assistant(self, data: dict[str, Any], ts: Any, key: Any) -> list[dict[str, Any]]:
        events = self.ensure_started(None, ts)
        if isinstance(data.get("reasoningText"), str) and data["reasoningText"]:
            events.append(self.event("agent_thinking", {"thinking": data["reasoningText"]}, ts, key=(key, "thinking")))
        if isinstance(data.get("content"), str) and data["content"]:
            events.append(
                self.event(
                    "agent_output", {"output": data["content"], "stream_type": "assistant"}, ts, key=(key, "text")
                )
            )
        for index, request in enumerate(data.get("toolRequests") or []):
            if not isinstance(request, dict):
                self.ctx.skip("malformed_block")
                continue
            call_id, name = request.get("toolCallId"), request.get("name") or "unknown"
            self.state.setdefault("tools", {})[str(call_id)] = name
            events.append(
                self.event(
                    "tool_call",
                    {"tool_name": name, "tool_params": request.get("arguments"), "call_id": call_id},
                    ts,
                    key=(key, "tool", index),
                )
            )
        output = _count(data.get("outputTokens"))
        if output:
            model = self.state.get("model")
            counted = self.state.setdefault("counted", {}).setdefault(model or "", {})
            counted["output_tokens"] = counted.get("output_tokens", 0) + output
            events.append(
                self.usage(
                    {"output_tokens": output, "model": price_name(model), "message_id": data.get("messageId")},
                    ts,
                    key=("usage", key),
                )
            )
        return events

    def _tool_done(self, data: dict[str, Any], ts: Any, key: Any) -> list[dict[str, Any]]:
        call_id = data.get("toolCallId")
        name = self.state.setdefault("tools", {}).pop(str(call_id), None) or data.get("toolName")
        result = data.get("result") if isinstance(data.get("result"), dict) else {}
        error = data.get("error")
        failed = data.get("success") is False
        text = _text(result.get("content") if result else (error.get("message") if isinstance(error, dict) else error))
        message = _text((error.get("message") if isinstance(error, dict) else error) or text)
        return [
            *self.ensure_started(None, ts),
            *self.tool_outcome(name, call_id, text, failed, ts, key, message=message),
        ]

    def _error(self, data: dict[str, Any], ts: Any, key: Any) -> list[dict[str, Any]]:
        message = clip(_text(data.get("message") or data.get("errorType") or "Copilot error"), 1000)
        return [
            *self.ensure_started(None, ts),
            self.event("error", {"error_message": message, "error_category": data.get("errorType")}, ts, key=key),
        ]

    def _abort(self, data: dict[str, Any], ts: Any, key: Any) -> list[dict[str, Any]]:
        self.state["aborted"] = True
        return []

    def _task_complete(self, data: dict[str, Any], ts: Any, key: Any) -> list[dict[str, Any]]:
        events = self.ensure_started(None, ts)
        if isinstance(data.get("summary"), str) and data["summary"]:
            events.append(
                self.event(
                    "agent_output", {"output": data["summary"], "stream_type": "summary"}, ts, key=(key, "summary")
                )
            )
        return [*events, self.turn_complete(ts, key)]

    def _shutdown(self, data: dict[str, Any], ts: Any, key: Any) -> list[dict[str, Any]]:
        """The session's totals per model: what the messages did not already record."""
        events = self.ensure_started(None, ts)
        metrics = data.get("modelMetrics") if isinstance(data.get("modelMetrics"), dict) else {}
        for model, entry in metrics.items():
            usage = entry.get("usage") if isinstance(entry, dict) else None
            if not isinstance(usage, dict):
                continue
            total = {dst: _count(usage.get(src)) for src, dst in _KINDS.items()}
            if total["cache_read_tokens"] <= total["input_tokens"]:
                total["input_tokens"] -= total["cache_read_tokens"]  # counted inside input
            counted = self.state.setdefault("counted", {}).setdefault(model, {})  # by the messages, and before
            delta = {k: max(0, v - counted.get(k, 0)) for k, v in total.items()}
            for k, v in total.items():
                counted[k] = max(v, counted.get(k, 0))
            requests = entry.get("requests") if isinstance(entry.get("requests"), dict) else {}
            if any(delta.values()):
                events.append(
                    self.usage(
                        {
                            **delta,
                            "model": price_name(model),
                            "premium_requests": requests.get("cost"),
                            "api_calls": requests.get("count"),
                        },
                        ts,
                        key=("shutdown", key, model),
                    )
                )
        end = {"premium_requests": data.get("totalPremiumRequests"), "shutdown_type": data.get("shutdownType")}
        self.state["end_data"] = {k: v for k, v in end.items() if v is not None}
        return events

    def end_status(self) -> str:
        return "interrupted" if self.state.get("aborted") else super().end_status()


_HANDLERS = {
    "session.start": CopilotMapper._start,
    "session.model_change": CopilotMapper._model,
    "user.message": CopilotMapper._user,
    "assistant.message": CopilotMapper._assistant,
    "tool.execution_complete": CopilotMapper._tool_done,
    "session.error": CopilotMapper._error,
    "abort": CopilotMapper._abort,
    "session.task_complete": CopilotMapper._task_complete,
    "session.shutdown": CopilotMapper._shutdown,
}


class CopilotLegacyMapper(Mapper):
    """The legacy document's timeline entries -> events (no tokens)."""

    executor = COPILOT_CLI

    def feed(self, entry: dict[str, Any], where: int | str) -> list[dict[str, Any]]:
        if not isinstance(entry, dict):
            self.ctx.skip("malformed_record")
            return []
        kind, ts = entry.get("type"), entry.get("timestamp")
        self.seen_time(ts)
        key = entry.get("id") or where
        if kind == "user":
            text = _text(entry.get("text"))
            if not self.state.get("started") and self.lifecycle:
                return self.ensure_started(text, ts)
            return [self.event("followup_sent", {"message": text, "reason": "user"}, ts, key=key)]
        if kind == "copilot":
            return [
                *self.ensure_started(None, ts),
                self.event(
                    "agent_output", {"output": _text(entry.get("text")), "stream_type": "assistant"}, ts, key=key
                ),
            ]
        if kind == "tool_call_completed":
            return self._tool(entry, ts, key)
        if kind == "error":
            return [
                *self.ensure_started(None, ts),
                self.event("error", {"error_message": clip(_text(entry.get("text")), 1000)}, ts, key=key),
            ]
        self.ctx.skip("known_ignored" if kind == "info" else f"unknown_type:{kind}")
        return []

    def _tool(self, entry: dict[str, Any], ts: Any, key: Any) -> list[dict[str, Any]]:
        name, call_id = entry.get("name") or "unknown", entry.get("callId")
        result = entry.get("result") if isinstance(entry.get("result"), dict) else {}
        failed = result.get("type") not in ("success", None)
        text = _text(result.get("log"))
        return [
            *self.ensure_started(None, ts),
            self.event(
                "tool_call",
                {"tool_name": name, "tool_params": entry.get("arguments"), "call_id": call_id},
                ts,
                key=(key, "call"),
            ),
            *self.tool_outcome(
                name,
                call_id,
                text,
                failed,
                ts,
                (key, "result"),
                fallback=f"{name} {result.get('type')}",
                error_key=(key, "error"),
            ),
        ]


class CopilotCliImporter(DocumentImporter):
    name = "copilot-cli"
    executor = COPILOT_CLI
    default_path = "~/.copilot"
    pattern = "*.json*"
    append_only = True  # events.jsonl; the legacy documents are rewritten (see grows_by_appending)
    tokens = "partial"  # output per message; the rest only at session.shutdown; none in legacy files
    cost = "pricing"
    hooks = True

    def files(self, root: Path, **options: Any) -> list[Path]:
        """`session-state/<id>/events.jsonl` and `history-session-state/<id>.json`, not settings."""
        found = super().files(root, **options)
        if root.is_file():
            return found
        return [p for p in found if p.name == "events.jsonl" or p.parent.name == "history-session-state"]

    def grows_by_appending(self, path: Path) -> bool:
        return Path(path).suffix == ".jsonl"

    def readable_name(self, path: Path) -> str:
        return path.parent.name if path.name == "events.jsonl" else path.stem  # the session id

    def mapper(self, path: Path, ctx: Context, state: dict[str, Any] | None) -> Mapper:
        kind = CopilotMapper if self.grows_by_appending(path) else CopilotLegacyMapper
        return kind(self.attempt_id(path), ctx, state)

    def records(self, doc: Any, mapper: Mapper) -> list[Any] | None:
        if not isinstance(doc, dict) or not isinstance(doc.get("timeline"), list):
            return None
        if isinstance(doc.get("sessionId"), str):
            mapper.state["session_id"] = doc["sessionId"]
        mapper.seen_time(doc.get("startTime"))
        return doc["timeline"]


# -- hooks -----------------------------------------------------------------------------------------
# https://docs.github.com/en/copilot/reference/copilot-cli-reference/cli-hooks-reference: every
# `*.json` in .github/hooks/ (project) and ~/.copilot/hooks/ (user), `{"version": 1, "hooks": {Event:
# [{"type": "command", "bash": ..., "timeoutSec": ...}]}}`, no matcher groups; agentlog keeps its own
# file, agentlog.json. An event configured by its PascalCase name (PreToolUse, not preToolUse) gets the
# VS Code compatible payload: Claude Code's snake_case fields, but `tool_result {result_type,
# text_result_for_llm}` for tool_response, `agent_name` for agent_type, and no tool call id. Answers:
# PreToolUse `permissionDecision` allow|deny|ask (+ Reason), Stop/SubagentStop `decision: "block"`;
# nothing else a hook prints is shown, so a warning stays in agent-alerts.jsonl.


def _hook_payload(event: str, payload: dict[str, Any]) -> dict[str, Any]:
    result = payload.pop("tool_result", None)
    if isinstance(result, dict):
        kind = result.get("result_type") or "success"
        payload["tool_response"] = {"output": result.get("text_result_for_llm"), "success": kind == "success"}
    if "agent_name" in payload:
        payload["agent_type"] = payload.pop("agent_name")
    if payload.get("source") == "new":
        payload["source"] = "startup"
    return payload


def _hook_answer(event: str, decision: Any) -> dict[str, Any] | None:
    if event == "PreToolUse" and decision.action in ("deny", "ask"):
        answer = {"permissionDecision": decision.action, "permissionDecisionReason": decision.reason}
        return {**answer, "hookSpecificOutput": {"hookEventName": event, **answer}}  # both documented shapes
    if event in ("Stop", "SubagentStop") and decision.action == "deny":
        return {"decision": "block", "reason": decision.reason}
    return None


HOOKS = Hooks(
    ".github/hooks/agentlog.json",
    ".copilot/hooks/agentlog.json",
    tuple(e for e in CLAUDE_CODE_EVENTS if e != "Notification"),  # its notification has no PascalCase form
    None,
    flat=True,
    command_key="bash",
    timeout_key="timeoutSec",
    skeleton={"version": 1},
    adapt=_hook_payload,
    render=_hook_answer,
)
