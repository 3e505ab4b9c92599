"""Claude Code: session transcripts (`~/.claude/projects/<project>/<session>.jsonl`) and
the live output of `claude -p --output-format stream-json` — the same records.

One attempt per session file; a sub-agent's file (`<session>/subagents/agent-<id>.jsonl`,
or `agent-<id>.jsonl` beside its parent in older versions) is its own attempt whose
session_start names the parent attempt.

Counting each model call once: Claude Code writes one assistant message as several
lines (one per content block), each repeating the message's usage while the output
count grows, and some of those lines have no requestId. Usage is therefore keyed by
message id, the largest value of each counter is kept, and it is recorded once the
message is complete (a stop_reason, the next message, or the end of the transcript).
A call (session id + message id) already counted from another file (a sub-agent's
messages echoed into its parent, records copied into another session) is not counted
again; sub-agent files are read first so such a call is credited to the sub-agent; usage copied into tool results
(`toolUseResult.usage`) or progress records is never read.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .base import (
    CLAUDE_CODE,
    CLAUDE_CODE_EVENTS,
    Context,
    Hooks,
    Importer,
    Mapped,
    Mapper,
    Telemetry,
    attr,
    clip,
    decode_record,
)

_USAGE_FIELDS = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cache_creation_input_tokens": "cache_creation_tokens",
    "cache_read_input_tokens": "cache_read_tokens",
}
_QUIET = frozenset(
    {
        "summary",
        "file-history-snapshot",
        "progress",
        "queue-operation",
        "custom-title",
        "tag",
        "agent-name",
        "last-prompt",
        "pr-link",
    }
)
_RECENT_UUIDS = 500
_SAFE_NAME = re.compile(r"(?!\.\.?$)[\w.-]{1,200}")
SYNTHETIC = "<synthetic>"


class ClaudeCodeMapper(Mapper):
    executor = CLAUDE_CODE

    def feed(self, record: dict[str, Any], where: int | str) -> list[dict[str, Any]]:
        kind = record.get("type")
        handler = _HANDLERS.get(kind)
        if handler is None:
            self.ctx.skip("known_ignored" if kind in _QUIET else f"unknown_type:{kind}")
            return []
        if not self._first_sight(record):
            self.ctx.skip("repeated_record")
            return []
        self.seen_time(record.get("timestamp"))
        for src, dst in (("sessionId", "session_id"), ("session_id", "session_id"), ("gitBranch", "branch")):
            if record.get(src) and not self.state.get(dst):
                self.state[dst] = record[src]
        return handler(self, record, where)

    # -- record kinds ------------------------------------------------------------------

    def _user(self, record: dict[str, Any], where: int | str) -> list[dict[str, Any]]:
        content = _content(record)
        if content is None:
            self.ctx.skip("malformed_record")
            return []
        if record.get("isMeta"):
            self.ctx.skip("known_ignored")
            return []
        ts, base = record.get("timestamp"), record.get("uuid") or where
        events: list[dict[str, Any]] = []
        for index, block in enumerate(content):
            key = (base, index)
            if not isinstance(block, dict):
                self.ctx.skip("malformed_block")
            elif block.get("type") == "text":
                events.extend(self._prompt(block.get("text") or "", ts, key))
            elif block.get("type") == "tool_result":
                events.extend(self.ensure_started(None, ts))
                events.extend(self._tool_result(block, ts, key))
            elif block.get("type") not in ("image", "document"):
                self.ctx.skip(f"unknown_block:{block.get('type')}")
        return events

    def _prompt(self, text: str, ts: str | None, key: Any) -> list[dict[str, Any]]:
        if not self.state.get("started") and self.lifecycle:
            return self.ensure_started(text, ts)
        return [self.event("followup_sent", {"message": text, "reason": "user"}, ts, key=key)]

    def _tool_result(self, block: dict[str, Any], ts: str | None, key: Any) -> list[dict[str, Any]]:
        call_id = block.get("tool_use_id")
        name = self.state.setdefault("tools", {}).pop(call_id, None)
        text = _text_of(block.get("content"))
        failed = block.get("is_error") is True
        return self.tool_outcome(name, call_id, text, failed, ts, key)

    def _assistant(self, record: dict[str, Any], where: int | str) -> list[dict[str, Any]]:
        message = record.get("message")
        content = _content(record)
        if content is None:
            self.ctx.skip("malformed_record")
            return []
        model = message.get("model")
        if model and model != SYNTHETIC:
            self.state["model"] = model
        ts, base = record.get("timestamp"), record.get("uuid") or where
        events = self.ensure_started(None, ts)
        events.extend(self._complete_other_messages(record))
        if record.get("isApiErrorMessage") or record.get("error") and model == SYNTHETIC:
            text = _text_of(content) or str(record.get("error"))
            events.append(
                self.event(
                    "error", {"error_message": clip(text, 1000), "error_category": None}, ts, key=(base, "api_error")
                )
            )
            return events
        for index, block in enumerate(content):
            events.extend(self._block(block, ts, (base, index)))
        events.extend(self._note_usage(record, message, ts))
        if message.get("stop_reason") == "end_turn" and not record.get("isSidechain"):
            events.extend(self._turn_ended(message.get("id") or base, ts))
        return events

    def _turn_ended(self, message_id: Any, ts: str | None) -> list[dict[str, Any]]:
        """The reply that ends a turn: the agent now waits for its user (once per message)."""
        if self.state.get("turn_ended") == message_id:
            return []
        self.state["turn_ended"] = message_id
        return [self.turn_complete(ts, message_id)]

    def _block(self, block: Any, ts: str | None, key: Any) -> list[dict[str, Any]]:
        if not isinstance(block, dict):
            self.ctx.skip("malformed_block")
            return []
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            return [self.event("agent_output", {"output": block["text"], "stream_type": "assistant"}, ts, key=key)]
        if kind == "thinking" and block.get("thinking"):
            return [self.event("agent_thinking", {"thinking": block["thinking"]}, ts, key=key)]
        if kind in ("tool_use", "server_tool_use"):
            self.state.setdefault("tools", {})[block.get("id")] = block.get("name")
            return [
                self.event(
                    "tool_call",
                    {
                        "tool_name": block.get("name") or "unknown",
                        "tool_params": block.get("input"),
                        "call_id": block.get("id"),
                    },
                    ts,
                    key=key,
                )
            ]
        if kind not in ("text", "thinking", "redacted_thinking"):
            self.ctx.skip(f"unknown_block:{kind}")
        return []

    def _system(self, record: dict[str, Any], where: int | str) -> list[dict[str, Any]]:
        if record.get("subtype") == "init":  # stream-json: the session's model and id
            self.state["model"] = record.get("model") or self.state.get("model")
            return []
        if record.get("level") == "error" or record.get("subtype") == "api_error":
            error = record.get("error")
            text = record.get("content") or (error.get("message") if isinstance(error, dict) else error)
            ts = record.get("timestamp")
            return [
                *self.ensure_started(None, ts),
                self.event(
                    "error",
                    {"error_message": clip(str(text or "API error"), 1000)},
                    ts,
                    key=(record.get("uuid") or where, "system"),
                ),
            ]
        self.ctx.skip("known_ignored")
        return []

    def _result(self, record: dict[str, Any], where: int | str) -> list[dict[str, Any]]:
        """stream-json's last line: the run's outcome and its own cost figure."""
        end = {
            "reported_cost_usd": record.get("total_cost_usd"),
            "num_turns": record.get("num_turns"),
            "result_subtype": record.get("subtype"),
        }
        self.state["end_data"] = {k: v for k, v in end.items() if v is not None}
        if not record.get("is_error"):
            return []
        text = record.get("result") or record.get("subtype") or "claude reported an error"
        return [
            self.event(
                "error", {"error_message": clip(str(text), 1000)}, record.get("timestamp"), key=(where, "result")
            )
        ]

    # -- usage: once per model call ------------------------------------------------------

    def _note_usage(self, record: dict[str, Any], message: dict[str, Any], ts: str | None) -> list[dict[str, Any]]:
        usage = message.get("usage")
        if not isinstance(usage, dict) or message.get("model") == SYNTHETIC:
            return []
        key = str(message.get("id") or record.get("requestId") or record.get("uuid"))  # a JSON key
        pending = self.state.setdefault("pending", {})
        entry = pending.get(key)
        if entry is None:
            entry = pending[key] = {"tokens": {}, "sidechain": bool(record.get("isSidechain"))}
        else:
            self.ctx.skip("repeated_usage_line")  # same call written again: merged, not added
        for src, dst in _USAGE_FIELDS.items():
            value = usage.get(src)
            if isinstance(value, int):
                entry["tokens"][dst] = max(value, entry["tokens"].get(dst, 0))
        if isinstance(record.get("costUSD"), (int, float)):
            entry["cost_usd"] = max(record["costUSD"], entry.get("cost_usd", 0))
        entry.update(
            ts=ts or self.state.get("last_ts"),
            model=message.get("model"),
            session=record.get("sessionId") or record.get("session_id") or entry.get("session"),
            request_id=record.get("requestId") or entry.get("request_id"),
        )
        if message.get("stop_reason"):
            return self._count(key)
        return []

    def _complete_other_messages(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        """A new message on the same thread means the previous ones are complete."""
        key = str((record.get("message") or {}).get("id") or record.get("requestId"))
        side = bool(record.get("isSidechain"))
        done = [k for k, e in self.state.get("pending", {}).items() if k != key and e["sidechain"] == side]
        return [event for k in done for event in self._count(k)]

    def _count(self, key: str) -> list[dict[str, Any]]:
        entry = self.state.get("pending", {}).pop(key, None)
        if entry is None:
            return []
        call = f"{entry.get('session') or ''}:{key}"  # one model call, whichever file holds it
        counted = self.ctx.shared.setdefault("counted", {})
        if counted.get(call, self.attempt_id) != self.attempt_id:
            self.ctx.skip("usage_counted_in_other_file")
            return []
        counted[call] = self.attempt_id
        data = {
            **entry["tokens"],
            "model": entry.get("model"),
            "message_id": key,
            "request_id": entry.get("request_id"),
            "cost_usd": entry.get("cost_usd"),
        }
        return [self.usage(data, entry.get("ts"), key=("usage", key))]

    def flush(self) -> list[dict[str, Any]]:
        return [event for key in list(self.state.get("pending", {})) for event in self._count(key)]

    # -- repeated records ---------------------------------------------------------------------

    def _first_sight(self, record: dict[str, Any]) -> bool:
        """False for a record whose uuid was just seen (some versions write lines twice)."""
        uid = record.get("uuid")
        if not uid or record.get("type") == "assistant":  # assistant repeats carry growing usage
            return True
        recent = self.state.setdefault("recent", [])
        if uid in recent and _content(record) is not None:
            return False
        if _content(record) is not None:
            recent.append(uid)
            del recent[:-_RECENT_UUIDS]
        return True


_HANDLERS = {
    "user": ClaudeCodeMapper._user,
    "assistant": ClaudeCodeMapper._assistant,
    "system": ClaudeCodeMapper._system,
    "result": ClaudeCodeMapper._result,
}


def _content(record: dict[str, Any]) -> list[Any] | None:
    message = record.get("message")
    if not isinstance(message, dict):
        return None
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return content if isinstance(content, list) else None


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_text_of(part.get("text") if isinstance(part, dict) else part) for part in content)
    return "" if content is None else str(content)


class ClaudeCodeImporter(Importer):
    name = "claude-code"
    executor = CLAUDE_CODE
    default_path = "~/.claude/projects"
    hooks = True

    def files(self, root: Path, **options: Any) -> list[Path]:
        """Sub-agent files first, so a call echoed into the parent is credited to the sub-agent."""
        return sorted(super().files(root, **options), key=lambda p: (not p.stem.startswith("agent-"), str(p)))

    def readable_name(self, path: Path) -> str:
        if not path.stem.startswith("agent-"):
            return path.stem
        parent = self._parent_file(path)
        return f"{parent.stem if parent else 'orphan'}-{path.stem}"

    def _parent_file(self, path: Path) -> Path | None:
        """The parent session's transcript of a sub-agent's file (it need not exist)."""
        if path.parent.name == "subagents":
            return path.parent.parent.with_suffix(".jsonl")
        try:
            with open(path, "rb") as handle:
                for raw in handle:
                    record, _ = decode_record(raw)
                    session = record.get("sessionId") if record else None
                    if isinstance(session, str) and _SAFE_NAME.fullmatch(session):
                        return path.with_name(f"{session}.jsonl")
        except OSError:
            pass
        return None

    def mapper(self, path: Path, ctx: Context, state: dict[str, Any] | None) -> Mapper:
        mapper = ClaudeCodeMapper(self.attempt_id(path), ctx, state)
        if state is None and path.stem.startswith("agent-"):
            parent = self._parent_file(path)
            mapper.state["start_data"] = {
                "parent_attempt_id": self.attempt_id(parent) if parent else None,
                "agent_id": path.stem,
            }
        return mapper

    def stream_mapper(self, record: dict[str, Any], attempt_id: str, ctx: Context) -> Mapper | None:
        if record.get("type") in _HANDLERS and "session_id" in record:
            return ClaudeCodeMapper(attempt_id, ctx, lifecycle=False, stable_ids=False)
        return None


# -- hooks -----------------------------------------------------------------------------------------
# https://code.claude.com/docs/en/hooks: settings.json `hooks` (project .claude/, user ~/.claude/),
# and .claude/settings.local.json: the project's settings of one user, which git ignores
HOOKS = Hooks(
    ".claude/settings.json",
    ".claude/settings.json",
    CLAUDE_CODE_EVENTS,
    "*",
    local_file=".claude/settings.local.json",
)


# -- OpenTelemetry ----------------------------------------------------------------------------------
# https://code.claude.com/docs/en/monitoring-usage: events (logs) and metrics


TELEMETRY = Telemetry(
    "claude_code",
    ("claude-code",),
    {
        "user_prompt": Mapped("prompt"),
        "tool_result": Mapped(
            "tool",
            {
                "name": attr("tool_name"),
                "params": attr("tool_parameters", "tool_input"),
                "call_id": attr("tool_use_id"),
                "success": attr("success"),
                "output": attr("tool_result_size_bytes"),
                "duration_ms": attr("duration_ms"),
                "error": attr("error"),
            },
        ),
        "api_request": Mapped(
            "usage",
            {
                "input_tokens": attr("input_tokens", kind="int"),
                "output_tokens": attr("output_tokens", kind="int"),
                "cache_read_tokens": attr("cache_read_tokens", kind="int"),
                "cache_creation_tokens": attr("cache_creation_tokens", kind="int"),
                "cost_usd": attr("cost_usd", kind="float"),
                "duration_ms": attr("duration_ms", kind="float"),
                "request_id": attr("request_id"),
            },
        ),
        "api_error": Mapped(
            "error",
            {"message": attr("error"), "status_code": attr("status_code"), "attempt": attr("attempt", kind="int")},
            default="API error",
        ),
    },
    {"claude_code.token.usage": "tokens", "claude_code.cost.usage": "cost"},
)
