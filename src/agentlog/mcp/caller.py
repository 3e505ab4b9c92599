"""Who is asking: the calling session, found the way the hooks name it.

Its session id when given (the hooks record it as the attempt id), else the most recent
session started in the caller's working directory (the hooks record the agent's `cwd` in
`session_start`).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..store import layout
from ..store.reader import first_line
from .records import event

MAX_SCAN = 400  # session files looked at (newest first) to find the caller's by cwd


class NoSession(LookupError):
    """No session of the caller's was found in the log."""


class Callers:
    """Finds the caller's attempt id; remembers each transcript's start, which never changes."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self._by_cwd: dict[str, tuple[int, str]] = {}  # cwd -> (sessions folder mtime_ns, attempt)
        self._cwd_of: dict[tuple[str, int], tuple[str, str] | None] = {}  # (file, inode) -> (cwd, attempt)

    def identify(self, session_id: str | None = None, cwd: str | None = None) -> str:
        """The caller's attempt id: `session_id` (or $AGENTLOG_SESSION_ID) when given, else
        the latest session started in `cwd` (default: this process's working directory)."""
        session_id = session_id or os.environ.get("AGENTLOG_SESSION_ID")
        if session_id:
            return session_id
        cwd = os.path.realpath(cwd or os.getcwd())
        folder = self.log_dir / layout.SESSIONS
        try:
            version = os.stat(folder).st_mtime_ns  # a new session's file changes it
        except FileNotFoundError:
            raise NoSession(f"no sessions recorded in {self.log_dir}") from None
        known = self._by_cwd.get(cwd)
        if known is not None and known[0] == version:
            return known[1]
        with os.scandir(folder) as entries:
            files = sorted(
                (
                    (e.stat().st_mtime_ns, e.name, e.inode())
                    for e in entries
                    if e.name.endswith(".jsonl") and e.is_file()
                ),
                reverse=True,
            )
        for _, name, ino in files[:MAX_SCAN]:
            found = self._start_of(folder / name, ino)
            if found is not None and found[0] == cwd:
                self._by_cwd[cwd] = (version, found[1])
                return found[1]
        raise NoSession(
            f"no session started in {cwd} among the latest {MAX_SCAN} in {folder}; "
            "pass session_id (the agent's session id)"
        )

    def maybe(self, session_id: str | None, cwd: str | None) -> str | None:
        try:
            return self.identify(session_id, cwd)
        except NoSession:
            return None

    def _start_of(self, path: Path, ino: int) -> tuple[str, str] | None:
        """(working dir, attempt id) from a transcript's first line, which never changes."""
        key = (path.name, ino)
        if key not in self._cwd_of:
            line = first_line(path)
            start = event(line) if line else None
            ok = (
                start is not None
                and start.event_type == "session_start"
                and type(start.attempt_id) is str
                and type(start.data.working_dir) is str
            )
            self._cwd_of[key] = (os.path.realpath(start.data.working_dir), start.attempt_id) if ok else None
        return self._cwd_of[key]
