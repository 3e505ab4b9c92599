"""Per-session guard state: what one hook call leaves for the next, under a file lock.

`<log_dir>/state/guard/<session>.msgpack` holds the hook mapper's memory, the watchdog
engine's snapshot for this attempt and how far the attempt's transcript
(`agent-sessions/<attempt>.jsonl`) was fed to it, and how far the agent's own
transcript was read for usage. Each call therefore costs O(new events), not O(session).
Calls of one session are serialised by the lock beside its state file (parallel tool
calls run their hooks concurrently); the state is replaced under that lock by unlink and
rename (`StateFile(swap=True)`), so a call killed half-way leaves the previous state or the new. MessagePack, not JSON:
detector state has integer dict keys (JSON would turn them into strings) and it is the
faster of the two.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

from ..store import layout
from ..store.state import StateFile

GUARD_DIR = "guard"


def state_dir(log_dir: Path) -> Path:
    return Path(log_dir) / layout.STATE / GUARD_DIR


class SessionState:
    """The guard's memory of one session; use as a context manager (lock, load, unlock)."""

    def __init__(self, log_dir: Path, attempt_id: str):
        stem = layout.session_file_name(attempt_id).removesuffix(".jsonl")
        self.file = StateFile(state_dir(log_dir) / f"{stem}.msgpack", "msgpack", durable=False, swap=True)
        self.path = self.file.path
        self.data: dict[str, Any] = {}
        self._lock = ExitStack()

    def __enter__(self) -> "SessionState":
        self._lock.enter_context(self.file.locked())  # the caller's deadline bounds the wait
        loaded = self.file.load()  # damaged: start over (the transcript is fed again from the start)
        self.data = loaded if isinstance(loaded, dict) else {}
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.close()

    def save(self) -> None:
        self.file.save(self.data)

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name)
        if not isinstance(value, dict):
            value = self.data[name] = {}
        return value
