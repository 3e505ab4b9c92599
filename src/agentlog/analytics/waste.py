"""Waste within one attempt, found by walking its events in order: files read again
though nothing changed them, identical calls repeated, large tool output the agent never
used, and how full the model's context got.

Recorded tool output is clipped by the importers (`…[N more chars]` says how much was
cut), so sizes are the original's; tokens are estimated at 4 characters each.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

CHARS_PER_TOKEN = 4
LARGE_OUTPUT_CHARS = 8000  # ~2,000 tokens: a tool output worth asking whether it was used
QUOTE_CHARS = 24  # a line of output this long, seen again later, shows the agent used it

READ_TOOLS = frozenset({"read", "read_file", "view", "view_file", "open", "cat", "readfile"})
WRITE_TOOLS = frozenset(
    {
        "edit",
        "write",
        "multiedit",
        "notebookedit",
        "write_file",
        "create",
        "apply_patch",
        "str_replace_editor",
        "str_replace_based_edit_tool",
        "edit_file",
        "replace",
        "insert",
    }
)
SHELL_TOOLS = frozenset({"bash", "shell", "exec_command", "run_shell_command", "terminal", "python", "python3"})
_PATH_KEYS = ("file_path", "path", "filename", "file", "notebook_path", "target_file")
_CLIPPED = re.compile(r"…\[(\d+) more chars\]$")


@dataclass
class Waste:
    """What one attempt wasted (tokens estimated from characters)."""

    rereads: int = 0
    reread_tokens: float = 0.0
    repeats: int = 0
    repeat_tokens: float = 0.0
    unused_outputs: int = 0
    unused_tokens: float = 0.0
    max_context: float = 0.0  # the largest prompt of one model call: input + cache read + cache write
    pressure_at: int | None = None  # index of the first usage event past the pressure line
    cost_after_pressure: float = 0.0
    before_pressure: list[str] = field(default_factory=list)  # the last tool calls before it
    largest_before_pressure: tuple[str, int] | None = None  # (tool, chars) of the largest output before it


def output_chars(data: Any) -> int:
    """The original length of a tool result's recorded output (clipped text says what was cut)."""
    text = data if isinstance(data, str) else "" if data is None else json.dumps(data, ensure_ascii=False)
    clipped = _CLIPPED.search(text)
    return len(text) - len(clipped.group(0)) + int(clipped.group(1)) if clipped else len(text)


def call_key(data: dict[str, Any]) -> str:
    return json.dumps([data.get("tool_name"), data.get("tool_params")], sort_keys=True, default=str)


def read_path(tool: str, params: Any) -> str | None:
    """The file a read-like call reads, or None when it is no read."""
    if tool not in READ_TOOLS:
        if (
            tool in ("str_replace_editor", "str_replace_based_edit_tool")
            and isinstance(params, dict)
            and params.get("command") == "view"
        ):
            return str(params.get("path"))
        return None
    if isinstance(params, dict):
        for key in _PATH_KEYS:
            if isinstance(params.get(key), str):
                return params[key] + (f"@{params.get('offset')}:{params.get('limit')}" if "offset" in params else "")
        command = params.get("command")
        if isinstance(command, str) and len(command.split()) >= 2:  # SWE-agent: `open path [line]`
            return " ".join(command.split()[1:])
    return None


def _tool(data: dict[str, Any]) -> str:
    return str(data.get("tool_name") or "").lower()


def _lines(text: str) -> list[str]:
    return [line.strip() for line in _CLIPPED.sub("", text).splitlines() if len(line.strip()) >= QUOTE_CHARS][:50]


def walk(events: Iterable[dict[str, Any]], window: int | None, pressure: float = 0.8) -> Waste:
    """The waste of one attempt's events (in order); `window` is the model's context size
    in tokens (None: unknown, no pressure measured)."""
    waste = Waste()
    seen_reads: set[str] = set()
    seen_calls: set[str] = set()
    pending: dict[Any, tuple[str, str | None]] = {}  # call id (else index) -> (kind, key) awaiting its result
    calls: list[tuple[int, str]] = []  # (index, tool) of tool calls, for "what preceded"
    large: list[tuple[list[str], float, int]] = []  # outputs to check: (quotable lines, tokens, text seen so far)
    later_text: list[str] = []
    largest: tuple[str, int] | None = None
    usage_index = 0
    for index, event in enumerate(events):
        kind, data = event.get("event_type"), event.get("data") or {}
        if kind == "tool_call":
            tool, params = _tool(data), data.get("tool_params")
            calls.append((index, tool))
            later_text.append(json.dumps(params, default=str) if params is not None else "")
            path = read_path(tool, params)
            if tool in WRITE_TOOLS or tool in SHELL_TOOLS and path is None:
                seen_reads.clear()  # the files may have changed
                if tool in WRITE_TOOLS:
                    seen_calls.clear()
            key, call = call_key(data), data.get("call_id") or index
            if path is not None:
                pending[call] = ("reread" if path in seen_reads else "read", path)
                seen_reads.add(path)
            elif tool not in WRITE_TOOLS:
                pending[call] = ("repeat" if key in seen_calls else "call", key)
                seen_calls.add(key)
        elif kind == "tool_result":
            chars = output_chars(data.get("result_data"))
            tokens = chars / CHARS_PER_TOKEN
            # its call by id; without one, the latest call still waiting
            what = (
                pending.pop(data.get("call_id") if data.get("call_id") in pending else next(reversed(pending)), None)
                if pending
                else None
            )
            if what and what[0] == "reread":
                waste.rereads += 1
                waste.reread_tokens += tokens
            elif what and what[0] == "repeat":
                waste.repeats += 1
                waste.repeat_tokens += tokens
            if chars >= LARGE_OUTPUT_CHARS and isinstance(data.get("result_data"), str):
                large.append((_lines(data["result_data"]), tokens, len(later_text)))
            if waste.pressure_at is None and (largest is None or chars > largest[1]):
                largest = (_tool(data) or "?", chars)
        elif kind in ("agent_output", "agent_thinking", "followup_sent"):
            later_text.append(" ".join(str(v) for v in data.values() if isinstance(v, str)))
        elif kind == "usage":
            usage_index += 1
            context = sum(
                float(data.get(k) or 0) for k in ("input_tokens", "cache_read_tokens", "cache_creation_tokens")
            )
            waste.max_context = max(waste.max_context, context)
            if waste.pressure_at is not None:
                waste.cost_after_pressure += float(data.get("cost_usd") or 0)
            elif window and context >= pressure * window:
                waste.pressure_at = usage_index
                waste.before_pressure = [tool for _, tool in calls[-3:]]
                waste.largest_before_pressure = largest
    for lines, tokens, position in large:
        after = "\n".join(later_text[position:])
        if lines and not any(line in after for line in lines):
            waste.unused_outputs += 1
            waste.unused_tokens += tokens
    return waste
