"""pi (`~/.pi/agent/sessions/--<cwd>--/<time>_<id>.jsonl`) and OpenClaw, which keeps
sessions with pi's session manager (`~/.openclaw/agents/<agent>/sessions/<id>.jsonl`):
one format, versions 1 to 3.

Line 1 is the `session` header (id, cwd, in v1 also provider and modelId). Then entries:
`message` (`message.role` user / assistant / toolResult / bashExecution), `model_change`,
`thinking_level_change`, `compaction`, `custom`. v3 gives every entry an `id` and a
`parentId`: the file is a tree whose branches all happened, so every entry is read, once
(an id written again is counted, not read again).

Assistant messages hold `thinking`, `text` and `toolCall` parts (`tool_use` in some
writers), `usage {input, output, cacheRead, cacheWrite, cost {total}}` (input without the
cache, as Anthropic counts it) and `stopReason`: `error` (with `errorMessage`) is an
error, `aborted` a turn the user cut (the attempt ends interrupted when it was the last
word), `stop` the end of a turn. A toolResult with `isError` is a failed tool call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ..capture.importers.base import Context, Importer, Mapper, clip

_USAGE = {
    "input": "input_tokens",
    "output": "output_tokens",
    "cacheRead": "cache_read_tokens",
    "cacheWrite": "cache_creation_tokens",
}
_QUIET = frozenset({"thinking_level_change", "compaction", "custom", "label", "branch_summary", "custom_message"})
_RECENT_IDS = 2000


class PiMapper(Mapper):
    executor = "PI"

    def feed(self, record: dict[str, Any], where: int | str) -> list[dict[str, Any]]:
        kind = record.get("type")
        ts = record.get("timestamp")
        if not self._first_sight(record.get("id")):
            self.ctx.skip("repeated_entry")
            return []
        self.seen_time(ts)  # any entry's time dates the untimed ones around it, skipped kinds too
        if kind == "session":
            self._header(record)
            return []
        if kind == "model_change":
            self.state["model"] = record.get("modelId") or self.state.get("model")
            return []
        if kind in _QUIET:
            self.ctx.skip("known_ignored")
            return []
        if kind != "message":
            self.ctx.skip(f"unknown_type:{kind}")
            return []
        message = record.get("message")
        handler = _ROLES.get(message.get("role")) if isinstance(message, dict) else None
        if handler is None:
            self.ctx.skip(f"unknown_role:{message.get('role')}" if isinstance(message, dict) else "malformed_record")
            return []
        return handler(self, message, ts, record.get("id") or where)

    def _header(self, record: dict[str, Any]) -> None:
        for src, dst in (("id", "session_id"), ("modelId", "model")):
            if isinstance(record.get(src), str) and record[src] and not self.state.get(dst):
                self.state[dst] = record[src]
        start = {
            "working_dir": record.get("cwd"),
            "branched_from": record.get("branchedFrom"),
            "format_version": record.get("version", 1),
        }
        self.state["start_data"] = {k: v for k, v in start.items() if v is not None}

    # -- roles ------------------------------------------------------------------------------

    def _user(self, message: dict[str, Any], ts: Any, key: Any) -> list[dict[str, Any]]:
        text = _text(message.get("content"))
        if not self.state.get("started") and self.lifecycle:
            return self.ensure_started(text, ts)
        return [self.event("followup_sent", {"message": text, "reason": "user"}, ts, key=(key, "user"))]

    def _assistant(self, message: dict[str, Any], ts: Any, key: Any) -> list[dict[str, Any]]:
        if isinstance(message.get("model"), str) and message["model"]:
            self.state["model"] = message["model"]
        events = self.ensure_started(None, ts)
        parts = message.get("content") if isinstance(message.get("content"), list) else []
        for index, part in enumerate(parts):
            events.extend(self._part(part, ts, (key, index)))
        usage = message.get("usage")
        if isinstance(usage, dict):
            events.extend(self._usage(usage, ts, key))
        stop = message.get("stopReason")
        self.state["aborted"] = stop == "aborted"
        if stop == "error":
            text = message.get("errorMessage") or "the model call failed"
            events.append(self.event("error", {"error_message": clip(str(text), 1000)}, ts, key=(key, "error")))
        elif stop == "stop":
            events.append(self.turn_complete(ts, key))
        return events

    def _part(self, part: Any, ts: Any, key: Any) -> list[dict[str, Any]]:
        if not isinstance(part, dict):
            self.ctx.skip("malformed_block")
            return []
        kind = part.get("type")
        if kind == "text":
            return (
                [
                    self.event(
                        "agent_output", {"output": part.get("text") or "", "stream_type": "assistant"}, ts, key=key
                    )
                ]
                if part.get("text")
                else []
            )
        if kind == "thinking":
            return (
                [self.event("agent_thinking", {"thinking": part["thinking"]}, ts, key=key)]
                if part.get("thinking") and not part.get("redacted")
                else []
            )
        if kind in ("toolCall", "tool_use"):
            call_id = part.get("id")
            if call_id:
                self.state.setdefault("tools", {})[call_id] = part.get("name")
            return [
                self.event(
                    "tool_call",
                    {
                        "tool_name": part.get("name") or "unknown",
                        "tool_params": part.get("arguments", part.get("input")),
                        "call_id": call_id,
                    },
                    ts,
                    key=key,
                )
            ]
        if kind != "image":
            self.ctx.skip(f"unknown_block:{kind}")
        return []

    def _usage(self, usage: dict[str, Any], ts: Any, key: Any) -> list[dict[str, Any]]:
        data: dict[str, Any] = {}
        for src, dst in _USAGE.items():
            value = usage.get(src)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                data[dst] = value
            elif value is not None:
                self.ctx.skip(f"malformed_field:{src}")
        cost = usage.get("cost")
        total = cost.get("total") if isinstance(cost, dict) else None
        if isinstance(total, (int, float)) and not isinstance(total, bool) and total >= 0:
            data["cost_usd"] = total
        if not any(data.get(k) for k in _USAGE.values()) and not data.get("cost_usd"):
            return []  # an aborted call that used nothing
        return [self.usage({**data, "model": self.state.get("model")}, ts, key=("usage", key))]

    def _tool_result(self, message: dict[str, Any], ts: Any, key: Any) -> list[dict[str, Any]]:
        call_id = message.get("toolCallId")
        name = message.get("toolName") or self.state.get("tools", {}).pop(call_id, None)
        text = _text(message.get("content"))
        failed = message.get("isError") is True
        return [*self.ensure_started(None, ts), *self.tool_outcome(name, call_id, text, failed, ts, key)]

    def _bash(self, message: dict[str, Any], ts: Any, key: Any) -> list[dict[str, Any]]:
        """A command the user ran themselves (`!cmd`): a tool call of the user's, never an agent error."""
        code = message.get("exitCode")
        failed = message.get("cancelled") is True or (isinstance(code, int) and code != 0)
        call = {"tool_name": "user_bash", "call_id": None}
        return [
            *self.ensure_started(None, ts),
            self.event(
                "tool_call", {**call, "tool_params": {"command": message.get("command")}}, ts, key=(key, "call")
            ),
            self.event(
                "tool_result",
                {
                    **call,
                    "result": "error" if failed else "success",
                    "result_data": clip(str(message.get("output") or "")),
                },
                ts,
                key=(key, "result"),
            ),
        ]

    def end_status(self) -> str:
        return "interrupted" if self.state.get("aborted") else super().end_status()

    def _first_sight(self, entry_id: Any) -> bool:
        if not isinstance(entry_id, str) or not entry_id:
            return True
        recent = self.state.setdefault("recent", [])
        if entry_id in recent:
            return False
        recent.append(entry_id)
        del recent[:-_RECENT_IDS]
        return True


_ROLES = {
    "user": PiMapper._user,
    "assistant": PiMapper._assistant,
    "toolResult": PiMapper._tool_result,
    "bashExecution": PiMapper._bash,
}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


class PiImporter(Importer):
    name = "pi"
    executor = "PI"
    default_path = "~/.pi/agent/sessions"
    follow: ClassVar[bool] = True
    hooks: ClassVar[bool] = False
    tokens: ClassVar[str] = "exact"
    cost: ClassVar[str] = "transcript"

    def mapper(self, path: Path, ctx: Context, state: dict[str, Any] | None) -> Mapper:
        mapper = PiMapper(self.attempt_id(path), ctx, state)
        mapper.executor = self.executor
        return mapper


class OpenClawImporter(PiImporter):
    name = "openclaw"
    executor = "OPENCLAW"
    default_path = "~/.openclaw/agents"

    def readable_name(self, path: Path) -> str:
        """`<agent>-<session>`: sessions of different OpenClaw agents may share a name."""
        agent = path.parent.parent.name if path.parent.name == "sessions" else path.parent.name
        return f"{agent}-{path.stem}"
