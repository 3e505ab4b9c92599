"""Other sessions, from their transcripts: how they ended, and what they did after an error."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..store import layout
from ..store.reader import last_line
from .records import event, fingerprint
from .shape import short
from .tail import read_new_lines

MAX_READ_AFTER = 8 << 20  # bytes of another session read to tell what it did after an error
MAX_REMEMBERED = 4096  # answers of after_error kept


class PastSessions:
    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self._after: dict[tuple[str, str, int], dict[str, Any]] = {}  # (attempt, fp, size) -> what it did next

    def outcome(self, attempt_id: str) -> str:
        line = last_line(layout.session_path(self.log_dir, attempt_id))
        end = event(line) if line else None
        if end is None or end.event_type != "session_end":
            return "open"
        status = end.data.completion_status
        return status if type(status) is str else "ended"

    def after_error(self, attempt_id: str, fp: str) -> dict[str, Any]:
        """What a session did after its last occurrence of `fp`: its next tool call, and how it ended."""
        path = layout.session_path(self.log_dir, attempt_id)
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            return {"session": attempt_id, "outcome": "unknown (transcript gone)"}
        key = (attempt_id, fp, size)
        if key not in self._after:
            if len(self._after) > MAX_REMEMBERED:
                self._after.clear()
            self._after[key] = {
                "session": attempt_id,
                "next": _next_call(path, fp),
                "outcome": self.outcome(attempt_id),
            }
        return self._after[key]


def _next_call(path: Path, fp: str) -> str | None:
    read = read_new_lines(path, 0, None, MAX_READ_AFTER)
    next_call = None
    for line in read[0] if read else ():
        found = event(line)
        if found is None:
            continue
        if found.event_type == "error" and (fingerprint(found.data) or ("",))[0] == fp:
            next_call = "pending"
        elif next_call == "pending" and found.event_type == "tool_call":
            params = bytes(found.data.tool_params).decode("utf-8", "replace")
            next_call = f"{found.data.tool_name} {short(params, 100)}"
    return None if next_call == "pending" else next_call
