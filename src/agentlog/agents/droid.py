"""Factory Droid: `~/.factory/sessions/<project-slug>/<sessionId>.jsonl` (the same on macOS),
with `<sessionId>.settings.json` beside it.

The JSONL starts with `session_start` (`id`, `cwd`, `title`), then `message` records whose
`message.content[]` holds Anthropic-style parts (`text`, `tool_use`, `tool_result`); user
text parts that are only a `<system-reminder>` are the agent's, not the user's words.
Tokens are only in the settings file, as the session's totals (`model`, `tokenUsage
{inputTokens, outputTokens, cacheCreationTokens, cacheReadTokens, thinkingTokens}`): once
the session is complete they become one usage event (less what an earlier end counted, if
the session went on), so tokens are `partial` (no per-call split, none while it runs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..capture.importers.base import Context, Importer, Mapper
from .base import CLAUDE_CODE_EVENTS, Hooks
from ._parts import PartsMapper

DROID = "DROID"
_KINDS = {
    "inputTokens": "input_tokens",
    "outputTokens": "output_tokens",
    "cacheCreationTokens": "cache_creation_tokens",
    "cacheReadTokens": "cache_read_tokens",
    "thinkingTokens": "reasoning_tokens",
}


class DroidMapper(PartsMapper):
    executor = DROID

    def __init__(self, *args: Any, settings: Path | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.settings = settings

    def feed(self, record: dict[str, Any], where: int | str) -> list[dict[str, Any]]:
        self.time_quality = None
        kind = record.get("type")
        if kind == "session_start":
            start = {"working_dir": record.get("cwd"), "title": record.get("title")}
            self.state["start_data"] = {k: v for k, v in start.items() if isinstance(v, str) and v}
            if isinstance(record.get("id"), str):
                self.state["session_id"] = record["id"]
            self.seen_time(record.get("timestamp"))
            return []
        if kind != "message":
            self.ctx.skip(f"unknown_type:{kind}")
            return []
        message = record.get("message")
        if not isinstance(message, dict):
            self.ctx.skip("malformed_record")
            return []
        ts = record.get("timestamp")
        self.seen_time(ts)
        key = record.get("id") or where
        if message.get("role") == "user":
            return self.user(message.get("content"), ts, key)
        if message.get("role") == "assistant":
            return self.assistant(message.get("content"), ts, key)
        self.ctx.skip(f"unknown_role:{message.get('role')}")
        return []

    def flush(self) -> list[dict[str, Any]]:
        """The session's token totals from the settings file, less what was counted before."""
        try:
            settings = json.loads(self.settings.read_bytes()) if self.settings else None
        except (OSError, ValueError):
            settings = None
        usage = settings.get("tokenUsage") if isinstance(settings, dict) else None
        if not isinstance(usage, dict):
            return []
        total = {
            dst: v
            for src, dst in _KINDS.items()
            if isinstance(v := usage.get(src), int) and not isinstance(v, bool) and v > 0
        }
        counted = self.state.get("counted") or {}
        delta = {k: v - counted.get(k, 0) for k, v in total.items() if v > counted.get(k, 0)}
        if not delta:
            return []
        self.state["counted"] = {**counted, **total}
        model = settings.get("model") if isinstance(settings.get("model"), str) else None
        return [
            self.usage(
                {**delta, "model": model or self.state.get("model"), "session_total": True},
                self.state.get("last_ts"),
                key=self._episode_key("settings_usage"),
            )
        ]


class DroidImporter(Importer):
    name = "droid"
    executor = DROID
    default_path = "~/.factory/sessions"
    tokens = "partial"
    hooks = True

    def mapper(self, path: Path, ctx: Context, state: dict[str, Any] | None) -> Mapper:
        settings = path.with_name(path.stem + ".settings.json")
        return DroidMapper(self.attempt_id(path), ctx, state, settings=settings)


# -- hooks -----------------------------------------------------------------------------------------
# https://docs.factory.ai/reference/hooks-reference: `hooks` in settings.json (project .factory/,
# user ~/.factory/, and .factory/settings.local.json, not committed) with Claude Code's events,
# matcher groups ("*": every tool), payloads and answers. Some Droid versions write the common
# fields in camelCase (sessionId, transcriptPath, hookEventName, permissionMode): read as snake_case.
# Droid reads a `hooks.json` of the same scope instead when one exists (docs.factory.ai/harness/hooks).
_CAMEL = {
    "sessionId": "session_id",
    "transcriptPath": "transcript_path",
    "hookEventName": "hook_event_name",
    "permissionMode": "permission_mode",
}


def hook_payload(event: str, payload: dict[str, Any]) -> dict[str, Any]:
    for camel, snake in _CAMEL.items():
        if camel in payload and snake not in payload:
            payload[snake] = payload.pop(camel)
    return payload


HOOKS = Hooks(
    ".factory/settings.json",
    ".factory/settings.json",
    tuple(e for e in CLAUDE_CODE_EVENTS if e != "PostToolUseFailure"),  # Droid has no PostToolUseFailure
    "*",
    local_file=".factory/settings.local.json",
    adapt=hook_payload,
)
