"""Qwen Code (a Gemini CLI fork): `~/.qwen/projects/<project>/chats/<sessionId>.jsonl` (0.14 and
later, the same path on Linux and macOS), and the older `~/.qwen/tmp/<hash>/chats/*.json`,
which are Gemini CLI's legacy documents and are read by its mapper.

The JSONL is a Claude-Code-like record stream `{uuid, parentUuid, sessionId, timestamp, type,
cwd, version, ...}` whose messages hold Gemini parts: `user` (text parts; `thought: true`
parts are not the user's words), `assistant` (`text`, `thought` text, `functionCall`),
`tool_result` (`functionResponse`, `toolCallResult.status`) and `system` (`ui_telemetry`
copies of the same calls and tokens: read only for API errors; `attribution_snapshot`).
A record written again under the same uuid is counted once, the first copy kept.
Tokens: assistant `usageMetadata` (Gemini's counters: cached inside the prompt).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..capture.importers.base import Context, Mapper, clip
from .base import CLAUDE_CODE_EVENTS, Hooks
from .gemini_cli import GeminiCliImporter, GeminiMapper, disjoint_usage, response_of

QWEN_CODE = "QWEN_CODE"


class QwenLegacyMapper(GeminiMapper):
    executor = QWEN_CODE


class QwenMapper(GeminiMapper):
    executor = QWEN_CODE

    def feed(self, record: dict[str, Any], where: int | str) -> list[dict[str, Any]]:
        self.time_quality = None
        kind = record.get("type")
        handler = _HANDLERS.get(kind)
        if handler is None:
            self.ctx.skip(f"unknown_type:{kind}")
            return []
        mid = str(record.get("uuid") or f"line-{where}")
        if self.progress(mid) is not None:
            self.ctx.skip("repeated_record")
            return []
        self.seen_time(record.get("timestamp"))
        if isinstance(record.get("sessionId"), str) and not self.state.get("session_id"):
            self.state["session_id"] = record["sessionId"]
            start = {"working_dir": record.get("cwd"), "agent_version": record.get("version")}
            self.state["start_data"] = {k: v for k, v in start.items() if isinstance(v, str) and v}
        return handler(self, record, mid, record.get("timestamp"))

    def _parts(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        message = record.get("message")
        parts = message.get("parts") if isinstance(message, dict) else None
        if not isinstance(parts, list):
            self.ctx.skip("malformed_record")
            return []
        return [p for p in parts if isinstance(p, dict)]

    def _user(self, record: dict[str, Any], mid: str, ts: Any) -> list[dict[str, Any]]:
        text = "\n".join(
            p["text"] for p in self._parts(record) if isinstance(p.get("text"), str) and not p.get("thought")
        )
        if not self.state.get("started") and self.lifecycle:
            return self.ensure_started(text, ts)
        return [self.event("followup_sent", {"message": text, "reason": "user"}, ts, key=mid)]

    def _assistant(self, record: dict[str, Any], mid: str, ts: Any) -> list[dict[str, Any]]:
        if isinstance(record.get("model"), str) and record["model"]:
            self.state["model"] = record["model"]
        events = self.ensure_started(None, ts)
        for index, part in enumerate(self._parts(record)):
            key = (mid, index)
            call = part.get("functionCall")
            if isinstance(call, dict):
                call_id = str(call.get("id") or f"{mid}:{index}")
                name = call.get("name") or "unknown"
                self.state.setdefault("tools", {})[call_id] = name
                events.append(
                    self.event(
                        "tool_call",
                        {"tool_name": name, "tool_params": call.get("args"), "call_id": call_id},
                        ts,
                        key=key,
                    )
                )
            elif isinstance(part.get("text"), str) and part["text"]:
                if part.get("thought"):
                    events.append(self.event("agent_thinking", {"thinking": part["text"]}, ts, key=key))
                else:
                    events.append(
                        self.event("agent_output", {"output": part["text"], "stream_type": "assistant"}, ts, key=key)
                    )
        usage = record.get("usageMetadata")
        if isinstance(usage, dict):
            data = disjoint_usage(
                usage.get("promptTokenCount"),
                usage.get("candidatesTokenCount"),
                usage.get("cachedContentTokenCount"),
                usage.get("thoughtsTokenCount"),
                usage.get("toolUsePromptTokenCount"),
            )
            if any(data.values()):
                events.append(
                    self.usage({**data, "model": self.state.get("model"), "message_id": mid}, ts, key=("usage", mid))
                )
        return events

    def _tool_result(self, record: dict[str, Any], mid: str, ts: Any) -> list[dict[str, Any]]:
        events = self.ensure_started(None, ts)
        summary = record.get("toolCallResult") if isinstance(record.get("toolCallResult"), dict) else {}
        for index, part in enumerate(self._parts(record)):
            response = part.get("functionResponse")
            if not isinstance(response, dict):
                continue
            call_id = str(response.get("id") or summary.get("callId") or f"{mid}:{index}")
            name = self.state.setdefault("tools", {}).pop(call_id, None) or response.get("name")
            failed, text = response_of([part])
            failed = failed or summary.get("status") == "error"
            display = summary.get("resultDisplay")
            data = {
                "tool_name": name,
                "call_id": call_id,
                "result": "error" if failed else "success",
                "result_data": clip(text or (display if isinstance(display, str) else "")),
            }
            events.append(self.event("tool_result", data, ts, key=(mid, index)))
            if failed:
                message = clip((text or str(display or "")).strip() or f"{name} failed", 1000)
                events.append(
                    self.event(
                        "error",
                        {
                            "error_message": message,
                            "tool_name": name,
                            "call_id": call_id,
                            "error_category": summary.get("errorType"),
                        },
                        ts,
                        key=(mid, index, "error"),
                    )
                )
        return events

    def _system(self, record: dict[str, Any], mid: str, ts: Any) -> list[dict[str, Any]]:
        payload = record.get("systemPayload") if isinstance(record.get("systemPayload"), dict) else {}
        event = payload.get("uiEvent") if isinstance(payload.get("uiEvent"), dict) else {}
        if event.get("event.name") == "qwen-code.api_error":
            message = clip(str(event.get("error") or event.get("error_message") or "API error"), 1000)
            return [
                *self.ensure_started(None, ts),
                self.event("error", {"error_message": message, "error_category": event.get("error_type")}, ts, key=mid),
            ]
        self.ctx.skip("known_ignored")  # telemetry copies of calls, results and tokens; snapshots
        return []


_HANDLERS = {
    "user": QwenMapper._user,
    "assistant": QwenMapper._assistant,
    "tool_result": QwenMapper._tool_result,
    "system": QwenMapper._system,
}


class QwenCodeImporter(GeminiCliImporter):
    name = "qwen-code"
    executor = QWEN_CODE
    default_path = "~/.qwen"
    hooks = True
    pattern = "*.json*"

    def files(self, root: Path, **options: Any) -> list[Path]:
        """Chats only: `projects/*/chats/*.jsonl` and legacy `tmp/*/chats/*.json` (not settings)."""
        found = super().files(root, **options)
        return found if root.is_file() else [p for p in found if p.parent.name == "chats"]

    def mapper(self, path: Path, ctx: Context, state: dict[str, Any] | None) -> Mapper:
        kind = QwenMapper if self.grows_by_appending(path) else QwenLegacyMapper
        return kind(self.attempt_id(path), ctx, state)


# -- hooks -----------------------------------------------------------------------------------------
# https://qwenlm.github.io/qwen-code-docs/en/users/features/hooks (docs/users/features/hooks.md):
# `hooks` in settings.json (project .qwen/, user ~/.qwen/) with Claude Code's event names, matcher
# groups ("*": every tool), payloads (tool_use_id, and the provider's tool_call_id) and answers
# (hookSpecificOutput.permissionDecision); a handler's timeout is in milliseconds. UserPromptSubmit
# fires before every model call, also those that only carry tool results: its `prompt` is what the
# model is sent, `submitted_prompt` (when present) what the user typed. Only the latter is a prompt.


def _hook_payload(event: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    if event == "UserPromptSubmit":
        typed = payload.pop("submitted_prompt", None)
        if not isinstance(typed, str):
            return None  # a tool result or a retry going to the model, not the user's words
        payload["prompt"] = typed
    return payload


HOOKS = Hooks(
    ".qwen/settings.json",
    ".qwen/settings.json",
    CLAUDE_CODE_EVENTS,
    "*",
    timeout_unit=1000,
    adapt=_hook_payload,
)
