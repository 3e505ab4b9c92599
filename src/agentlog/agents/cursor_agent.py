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
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..events import now_iso
from ..capture.importers.base import Context, Importer, Mapper
from ._parts import PartsMapper

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

    def files(self, root: Path, **options: Any) -> list[Path]:
        found = super().files(root, **options)
        return found if root.is_file() else [p for p in found if "agent-transcripts" in p.parts]

    def mapper(self, path: Path, ctx: Context, state: dict[str, Any] | None) -> Mapper:
        mapper = CursorMapper(self.attempt_id(path), ctx, state)
        mapper.state["read_time"] = now_iso(path.stat().st_mtime)  # this read's clock (see the docstring)
        return mapper
