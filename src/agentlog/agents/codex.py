"""Codex CLI: rollout transcripts (`~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl`) and the
live output of `codex exec --json`.

Rollout records: session_meta, turn_context (the model), response_item (messages,
reasoning, function/custom tool calls and their outputs, paired by call_id) and
event_msg (user_message, token_count, errors, ...). Where both carry the same thing
(agent_message vs an assistant message item), the response_item is used.

Legacy rollouts (Codex CLI before mid 2025) have no envelope: a header line
`{id, timestamp, instructions, git}`, `{"record_type": "state"}` markers, then bare
response items (message, reasoning, function_call, function_call_output, ...) with no
time of their own. They are read as the same items; user messages are the prompts (minus
the context Codex injects), and an item without a time gets the last known time (the
header's) plus one millisecond per item since, marked `timestamp_quality: approximate`.

`task_complete` ends a turn: a `status_change` to `turn_complete` (waiting for the user).

Token counts: `token_count` events carry the session's cumulative `total_token_usage`
(and, in newer versions, `last_token_usage`). Codex writes the same cumulative total
again (rate-limit updates, resumed turns), so a total equal to the previous one is a
repeat and adds nothing; otherwise the call's usage is the difference. OpenAI counts
cached input inside input and reasoning inside output; agentlog stores the four kinds
disjoint (input = uncached, output = non-reasoning) so that they add up to the total.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..events import now_iso, parse_time
from ..otlp_values import as_int, is_true
from .base import CODEX, Context, Hooks, Importer, Mapped, Mapper, Telemetry, clip

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_EXIT = re.compile(r"(?:^Exit code:\s*|Process exited with code\s+)(-?\d+)", re.M)
_COUNTERS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens", "total_tokens")
_QUIET_EVENTS = frozenset(
    {
        "agent_message",
        "agent_reasoning",
        "agent_reasoning_raw_content",
        "agent_reasoning_section_break",
        "exec_command_begin",
        "exec_command_end",
        "exec_command_output_delta",
        "patch_apply_begin",
        "patch_apply_end",
        "mcp_tool_call_begin",
        "mcp_tool_call_end",
        "web_search_begin",
        "web_search_end",
        "task_started",
        "turn_diff",
        "plan_update",
        "context_compacted",
        "item_completed",
        "shutdown_complete",
        "background_event",
        "exited_review_mode",
        "entered_review_mode",
        "view_image_tool_call",
        "user_message_edit",
        "deprecation_notice",
        "mcp_list_tools_response",
    }
)
_QUIET_ITEMS = frozenset({"ghost_snapshot", "compaction", "compaction_summary"})
_INJECTED = ("<environment_context>", "<user_instructions>", "# AGENTS.md")  # context, not the user's words


def disjoint_usage(raw: dict[str, int]) -> dict[str, int]:
    """OpenAI counters (cached inside input, reasoning inside output) as disjoint kinds."""
    cached = min(raw.get("cached_input_tokens", 0), raw.get("input_tokens", 0))
    reasoning = min(raw.get("reasoning_output_tokens", 0), raw.get("output_tokens", 0))
    return {
        "input_tokens": raw.get("input_tokens", 0) - cached,
        "cache_read_tokens": cached,
        "output_tokens": raw.get("output_tokens", 0) - reasoning,
        "reasoning_tokens": reasoning,
        "cache_creation_tokens": 0,
    }


def _counters(value: Any) -> dict[str, int] | None:
    if not isinstance(value, dict):
        return None
    raw = {k: value[k] for k in _COUNTERS if isinstance(value.get(k), int)}
    if "cached_input_tokens" not in raw and isinstance(value.get("cache_read_input_tokens"), int):
        raw["cached_input_tokens"] = value["cache_read_input_tokens"]
    return raw or None


def _text(content: Any) -> str:
    """The text of a message's content: a string, or a list of parts with `text`."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def output_failed(output: Any) -> tuple[bool, str]:
    """(failed?, text) for a tool output in any of the shapes Codex has written."""
    success = None
    if isinstance(output, dict):  # {"content": ..., "success": bool}
        success = output.get("success")
        output = output.get("content", "")
    if isinstance(output, list):
        output = "\n".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in output)
    text = output if isinstance(output, str) else json.dumps(output)
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("metadata"), dict):
            code = parsed["metadata"].get("exit_code")
            return (isinstance(code, int) and code != 0), str(parsed.get("output", ""))
    if success is not None:
        return success is False, text
    match = _EXIT.search(text[:500])
    return bool(match and int(match.group(1)) != 0), text


class CodexMapper(Mapper):
    """Rollout records -> events."""

    executor = CODEX

    def feed(self, record: dict[str, Any], where: int | str) -> list[dict[str, Any]]:
        kind, payload = record.get("type"), record.get("payload")
        self.time_quality = None
        if "payload" not in record and (kind is None or kind in _ITEMS or kind in _QUIET_ITEMS):
            return self._legacy(record, where)
        handler = _ROLLOUT.get(kind)
        if handler is None:
            self.ctx.skip("known_ignored" if kind == "compacted" else f"unknown_type:{kind}")
            return []
        if not isinstance(payload, dict):
            self.ctx.skip("malformed_record")
            return []
        self.seen_time(record.get("timestamp"))
        return handler(self, payload, record.get("timestamp"), where)

    def _legacy(self, record: dict[str, Any], where: Any) -> list[dict[str, Any]]:
        """A record of a rollout written before the envelope: the header, a marker or a bare item."""
        kind = record.get("type")
        if kind is None:
            if record.get("record_type") == "state":
                self.ctx.skip("known_ignored")
                return []
            if "id" in record and "timestamp" in record:  # the header: the session's id and start
                self._legacy_time(record.get("timestamp"))
                return self._meta(record, record.get("timestamp"), where)
            self.ctx.skip("unknown_type:None")
            return []
        ts = self._legacy_time(record.get("timestamp"))
        if kind == "message" and record.get("role") == "user":
            text = _text(record.get("content"))
            if text.lstrip().startswith(_INJECTED):
                self.ctx.skip("known_ignored")
                return []
            return self._prompt(text, ts, where)
        return self._item(record, ts, where)

    def _legacy_time(self, own: Any) -> str | None:
        """A legacy record's own time, else the last one known plus one ms per record since."""
        if isinstance(own, str) and self._own_time(own):
            self.state["legacy_clock"] = [own, 0]
            return own
        clock = self.state.get("legacy_clock")
        if not clock:
            return None  # no header time yet: the import holds such events until one comes
        clock[1] += 1
        self.time_quality = "approximate"
        return now_iso(parse_time(clock[0]) + clock[1] / 1000)

    def _meta(self, payload: dict[str, Any], ts: str | None, where: Any) -> list[dict[str, Any]]:
        session = payload.get("id")
        self.state["session_id"] = session if isinstance(session, str) and session else self.state.get("session_id")
        git = payload.get("git") if isinstance(payload.get("git"), dict) else {}
        branch = git.get("branch")
        self.state["branch"] = branch if isinstance(branch, str) and branch else self.state.get("branch")
        self.state["start_data"] = {
            k: v
            for k, v in {
                "working_dir": payload.get("cwd"),
                "commit": git.get("commit_hash"),
                "repo": git.get("repository_url"),
                "agent_version": payload.get("cli_version"),
                "originator": payload.get("originator"),
            }.items()
            if isinstance(v, str) and v
        }
        return []

    def _prompt(self, text: str, ts: str | None, where: Any) -> list[dict[str, Any]]:
        if not self.state.get("started") and self.lifecycle:
            return self.ensure_started(text, ts)
        return [self.event("followup_sent", {"message": text, "reason": "user"}, ts, key=where)]

    def _turn(self, payload: dict[str, Any], ts: str | None, where: Any) -> list[dict[str, Any]]:
        if payload.get("model"):
            self.state["model"] = payload["model"]
        return []

    def _event_msg(self, payload: dict[str, Any], ts: str | None, where: Any) -> list[dict[str, Any]]:
        kind = payload.get("type")
        if kind == "user_message":
            return self._prompt(_text(payload.get("message")), ts, where)
        if kind == "task_complete":
            return [*self.ensure_started(None, ts), self.turn_complete(ts, where)]
        if kind == "token_count":
            return self._token_count(payload, ts, where)
        if kind in ("error", "stream_error"):
            data = {"error_message": clip(str(payload.get("message") or kind), 1000)}
            return [*self.ensure_started(None, ts), self.event("error", data, ts, key=where)]
        if kind == "turn_aborted":
            self.state["aborted"] = True
            return []
        if kind not in _QUIET_EVENTS:
            self.ctx.skip(f"unknown_event_msg:{kind}")
        return []

    def _token_count(self, payload: dict[str, Any], ts: str | None, where: Any) -> list[dict[str, Any]]:
        info = payload.get("info") if isinstance(payload.get("info"), dict) else {}
        total, last = _counters(info.get("total_token_usage")), _counters(info.get("last_token_usage"))
        previous = self.state.get("total")
        if total is not None:
            if total == previous:
                self.ctx.skip("repeated_token_count")
                return []
            self.state["total"] = total
            grew = previous is not None and all(total.get(k, 0) >= previous.get(k, 0) for k in _COUNTERS)
            if grew:
                call = {k: total.get(k, 0) - previous.get(k, 0) for k in _COUNTERS}
            else:  # the first count of the session, or the counter restarted
                call = last if previous is not None and last else total
        elif last is not None:
            call = last
        else:
            return []  # rate-limit-only update
        model = info.get("model") or payload.get("model") or self.state.get("model")
        data = {**disjoint_usage(call), "model": model}
        return [*self.ensure_started(None, ts), self.usage(data, ts, key=where)]

    def _item(self, payload: dict[str, Any], ts: str | None, where: Any) -> list[dict[str, Any]]:
        kind = payload.get("type")
        handler = _ITEMS.get(kind)
        if handler is None:
            self.ctx.skip("known_ignored" if kind in _QUIET_ITEMS else f"unknown_item:{kind}")
            return []
        events = handler(self, payload, ts, where)
        return [*self.ensure_started(None, ts), *events] if events else events

    def _message(self, payload: dict[str, Any], ts: str | None, where: Any) -> list[dict[str, Any]]:
        if payload.get("role") != "assistant":
            return []  # user turns come from event_msg user_message (without the injected context)
        text = _text(payload.get("content"))
        if not text:
            self.ctx.skip("empty_item")
            return []
        return [self.event("agent_output", {"output": text, "stream_type": "assistant"}, ts, key=where)]

    def _reasoning(self, payload: dict[str, Any], ts: str | None, where: Any) -> list[dict[str, Any]]:
        parts = [p.get("text", "") for p in payload.get("summary") or [] if isinstance(p, dict)]
        parts += [p.get("text", "") for p in payload.get("content") or [] if isinstance(p, dict)]
        text = "\n".join(p for p in parts if isinstance(p, str) and p)
        if not text:
            self.ctx.skip("empty_item")  # e.g. reasoning kept only encrypted
            return []
        return [self.event("agent_thinking", {"thinking": text}, ts, key=where)]

    def _call(self, payload: dict[str, Any], ts: str | None, where: Any) -> list[dict[str, Any]]:
        name = payload.get("name") or payload.get("type")
        params = payload.get("arguments", payload.get("input", payload.get("action")))
        if isinstance(params, str) and params.startswith("{"):
            try:
                params = json.loads(params)
            except ValueError:
                pass
        call_id = payload.get("call_id") or payload.get("id")
        self.state.setdefault("tools", {})[call_id] = name
        return [self.event("tool_call", {"tool_name": name, "tool_params": params, "call_id": call_id}, ts, key=where)]

    def _output(self, payload: dict[str, Any], ts: str | None, where: Any) -> list[dict[str, Any]]:
        call_id = payload.get("call_id")
        name = self.state.setdefault("tools", {}).pop(call_id, None)
        failed, text = output_failed(payload.get("output"))
        return self.tool_outcome(name, call_id, text, failed, ts, where)

    def end_status(self) -> str:
        return "interrupted" if self.state.get("aborted") else super().end_status()


_ROLLOUT = {
    "session_meta": CodexMapper._meta,
    "turn_context": CodexMapper._turn,
    "event_msg": CodexMapper._event_msg,
    "response_item": CodexMapper._item,
}
_ITEMS = {
    "message": CodexMapper._message,
    "reasoning": CodexMapper._reasoning,
    "function_call": CodexMapper._call,
    "custom_tool_call": CodexMapper._call,
    "local_shell_call": CodexMapper._call,
    "web_search_call": CodexMapper._call,
    "function_call_output": CodexMapper._output,
    "custom_tool_call_output": CodexMapper._output,
}


class CodexExecMapper(Mapper):
    """`codex exec --json` lines (thread/turn/item events) -> events; usage is per turn."""

    executor = CODEX

    def feed(self, record: dict[str, Any], where: int | str) -> list[dict[str, Any]]:
        kind = record.get("type")
        if kind == "thread.started":
            self.state["session_id"] = record.get("thread_id")
        elif kind == "turn.completed":
            raw = _counters(record.get("usage"))
            return [self.usage({**disjoint_usage(raw), "model": self.state.get("model")}, None, where)] if raw else []
        elif kind in ("turn.failed", "error"):
            error = record.get("error") if isinstance(record.get("error"), dict) else record
            return [self.event("error", {"error_message": clip(str(error.get("message") or kind), 1000)}, None)]
        elif kind == "item.completed" and isinstance(record.get("item"), dict):
            return self._item(record["item"])
        elif kind not in ("turn.started", "item.started", "item.updated"):
            self.ctx.skip(f"unknown_type:{kind}")
        return []

    def _item(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        kind = item.get("type") or item.get("item_type")
        if kind == "reasoning":
            return [self.event("agent_thinking", {"thinking": item.get("text")}, None)]
        if kind in ("agent_message", "assistant_message"):
            return [self.event("agent_output", {"output": item.get("text"), "stream_type": "assistant"}, None)]
        if kind == "error":
            return [self.event("error", {"error_message": clip(str(item.get("message")), 1000)}, None)]
        call = _EXEC_CALLS.get(kind)
        if call is None:
            if kind != "todo_list":
                self.ctx.skip(f"unknown_item:{kind}")
            return []
        name, params, text = call(item)
        code = item.get("exit_code")
        failed = item.get("status") == "failed" or (isinstance(code, int) and code != 0)
        data = {
            "tool_name": name,
            "call_id": item.get("id"),
            "result": "error" if failed else "success",
            "result_data": clip(text),
        }
        events = [
            self.event("tool_call", {"tool_name": name, "tool_params": params, "call_id": item.get("id")}, None),
            self.event("tool_result", data, None),
        ]
        if failed:
            message = (text or "").strip() or f"{name} failed (exit {code})"
            events.append(self.event("error", {"error_message": clip(message, 1000), "tool_name": name}, None))
        return events


_EXEC_CALLS = {
    "command_execution": lambda i: ("shell", {"command": i.get("command")}, i.get("aggregated_output")),
    "file_change": lambda i: ("apply_patch", {"changes": i.get("changes")}, i.get("status")),
    "mcp_tool_call": lambda i: (
        f"mcp__{i.get('server')}__{i.get('tool')}",
        i.get("arguments"),
        json.dumps(i.get("result") or i.get("error")),
    ),
    "web_search": lambda i: ("web_search", {"query": i.get("query")}, None),
}


class CodexImporter(Importer):
    name = "codex"
    executor = CODEX
    default_path = "~/.codex/sessions"
    hooks = True

    def readable_name(self, path: Path) -> str:
        """The session uuid in `rollout-<time>-<uuid>.jsonl`, else the file name."""
        found = _UUID.findall(path.stem)
        return found[-1].lower() if found else path.stem

    def mapper(self, path: Path, ctx: Context, state: dict[str, Any] | None) -> Mapper:
        return CodexMapper(self.attempt_id(path), ctx, state)

    def stream_mapper(self, record: dict[str, Any], attempt_id: str, ctx: Context) -> Mapper | None:
        kind = record.get("type")
        if isinstance(kind, str) and kind.split(".")[0] in ("thread", "turn", "item"):
            return CodexExecMapper(attempt_id, ctx, lifecycle=False, stable_ids=False)
        return None


# -- hooks -----------------------------------------------------------------------------------------
# https://developers.openai.com/codex/hooks: hooks.json beside the config layer
# (<repo>/.codex/hooks.json, ~/.codex/hooks.json), or inline [hooks] tables in that
# layer's config.toml; both the same shape as Claude Code's
HOOKS = Hooks(
    ".codex/hooks.json",
    ".codex/hooks.json",
    ("SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop", "SubagentStop", "PreCompact"),
    None,  # Codex matchers are regexes: no matcher = every tool
    ".codex/config.toml",
)


# -- OpenTelemetry ------------------------------------------------------------------------------------------
# Codex `[otel]` event catalog: conversation_starts, user_prompt, tool_result, sse_event, api_request


def _otel_start(m: Any, a: dict[str, Any], session: str, ts: str, executor: str) -> list[dict[str, Any]]:
    return m.event(
        session,
        executor,
        "session_start",
        {
            "prompt_type": "initial",
            "agent_version": a.get("app.version"),
            "sandbox_policy": a.get("sandbox_policy"),
            "approval_policy": a.get("approval_policy"),
        },
        ts,
        a.get("model"),
    )


def _otel_tool_result(m: Any, a: dict[str, Any], session: str, ts: str, executor: str) -> list[dict[str, Any]]:
    success = is_true(a.get("success"))
    output = a.get("output")
    return m.tool(
        session,
        executor,
        ts,
        a.get("tool_name"),
        a.get("arguments"),
        a.get("call_id"),
        success,
        output[:2000] if isinstance(output, str) else output,
        a.get("duration_ms"),
        output[:1000] if isinstance(output, str) else None,
    )


def _otel_sse(m: Any, a: dict[str, Any], session: str, ts: str, executor: str) -> list[dict[str, Any]]:
    if a.get("event.kind") != "response.completed" or a.get("input_token_count") is None:
        if a.get("error.message"):
            return m.event(session, executor, "error", {"error_message": str(a["error.message"])[:1000]}, ts)
        return []
    m.logged_usage.add(session)
    raw = {
        "input_tokens": as_int(a.get("input_token_count")) or 0,
        "output_tokens": as_int(a.get("output_token_count")) or 0,
        "cached_input_tokens": as_int(a.get("cached_token_count")) or 0,
        "reasoning_output_tokens": as_int(a.get("reasoning_token_count")) or 0,
    }
    return m.usage(session, executor, ts, disjoint_usage(raw), a.get("model"))


def _otel_api_request(m: Any, a: dict[str, Any], session: str, ts: str, executor: str) -> list[dict[str, Any]]:
    if not a.get("error.message"):
        return []
    return m.event(
        session,
        executor,
        "error",
        {"error_message": str(a["error.message"])[:1000], "status_code": a.get("http.response.status_code")},
        ts,
        a.get("model"),
    )


TELEMETRY = Telemetry(
    "codex",
    ("codex-cli", "codex_cli_rs", "codex_exec", "codex"),
    {
        "conversation_starts": _otel_start,
        "user_prompt": Mapped("prompt"),
        "tool_result": _otel_tool_result,
        "sse_event": _otel_sse,
        "api_request": _otel_api_request,
    },
)
