"""Messages whose content is a list of Anthropic-style parts (`text`, `thinking`, `tool_use`,
`tool_result`), as Cursor agent, Factory Droid and Amp write them: one way to turn them into
events, with tool calls and their results paired by id.
"""

from __future__ import annotations

import re
from typing import Any

from ..capture.importers.base import Mapper
from .claude_code import _text_of as text_of  # the same parts, the same text

_WRAPPERS = re.compile(r"</?user_query>")
_REMINDER = re.compile(r"^\s*<system-reminder>.*</system-reminder>\s*$", re.S)


class PartsMapper(Mapper):
    """A subclass feeds `user(...)` and `assistant(...)` with a message's parts."""

    def user(self, content: Any, ts: Any, key: Any) -> list[dict[str, Any]]:
        """The user's words (less the agent's wrappers and injected reminders), then tool results."""
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(parts, list):
            self.ctx.skip("malformed_record")
            return []
        words, events = [], []
        for index, part in enumerate(parts):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                if not _REMINDER.match(part["text"]):
                    words.append(_WRAPPERS.sub("", part["text"]).strip())
            elif kind == "tool_result":
                events.extend(self.tool_result(part, ts, (key, index)))
            elif kind not in ("image", "document"):
                self.ctx.skip(f"unknown_block:{kind}")
        text = "\n".join(w for w in words if w)
        if text:
            if not self.state.get("started") and self.lifecycle:
                events = [*self.ensure_started(text, ts), *events]
            else:
                events.insert(0, self.event("followup_sent", {"message": text, "reason": "user"}, ts, key=key))
        return [*self.ensure_started(None, ts), *events] if events else events

    def assistant(self, content: Any, ts: Any, key: Any) -> list[dict[str, Any]]:
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(parts, list):
            self.ctx.skip("malformed_record")
            return []
        events = self.ensure_started(None, ts)
        for index, part in enumerate(parts):
            kind = part.get("type") if isinstance(part, dict) else None
            at = (key, index)
            if kind == "text" and part.get("text"):
                events.append(
                    self.event("agent_output", {"output": part["text"], "stream_type": "assistant"}, ts, key=at)
                )
            elif kind == "thinking" and part.get("thinking"):
                events.append(self.event("agent_thinking", {"thinking": part["thinking"]}, ts, key=at))
            elif kind == "tool_use":
                call_id = part.get("id") or f"{key}:{index}"
                name = part.get("name") or "unknown"
                self.state.setdefault("tools", {})[str(call_id)] = name
                events.append(
                    self.event(
                        "tool_call",
                        {"tool_name": name, "tool_params": part.get("input"), "call_id": call_id},
                        ts,
                        key=at,
                    )
                )
            elif kind == "tool_result":
                events.extend(self.tool_result(part, ts, at))
            elif kind not in ("text", "thinking", "redacted_thinking"):
                self.ctx.skip(f"unknown_block:{kind}")
        return events

    def tool_result(self, part: dict[str, Any], ts: Any, key: Any) -> list[dict[str, Any]]:
        call_id = part.get("tool_use_id") or part.get("toolUseID")
        name = self.state.setdefault("tools", {}).pop(str(call_id), None)
        text = text_of(part.get("content") if "content" in part else part.get("output"))
        failed = part.get("is_error") is True or part.get("status") in ("error", "failed")
        return self.tool_outcome(name, call_id, text, failed, ts, key)
