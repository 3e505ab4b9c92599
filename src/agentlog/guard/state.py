"""Per-session guard state: what one hook call leaves for the next, under a file lock.

`<log_dir>/state/guard/<session>.msgpack` holds the hook mapper's memory, the watchdog
engine's snapshot for this attempt and how far the attempt's transcript
(`agent-sessions/<attempt>.jsonl`) was fed to it, and how far the agent's own
transcript was read for usage. Each call therefore costs O(new events), not O(session).
Calls of one session are serialised by `flock` on a `.lock` beside it (parallel tool
calls run their hooks concurrently); the state is replaced by rename, so a call killed
half-way leaves the previous state. MessagePack, not JSON: detector state has integer
dict keys (JSON would turn them into strings) and it is the faster of the two.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

import msgspec

from ..store import layout, modes
from ..store.atomic import replace_file

GUARD_DIR = "guard"
_decode = msgspec.msgpack.Decoder()


def state_dir(log_dir: Path) -> Path:
    return Path(log_dir) / layout.STATE / GUARD_DIR


class SessionState:
    """The guard's memory of one session; use as a context manager (lock, load, unlock)."""

    def __init__(self, log_dir: Path, attempt_id: str):
        stem = layout.session_file_name(attempt_id).removesuffix(".jsonl")
        self.path = state_dir(log_dir) / f"{stem}.msgpack"
        self.data: dict[str, Any] = {}
        self._fd: int | None = None

    def __enter__(self) -> "SessionState":
        modes.make_dirs(self.path.parent)
        self._fd = modes.create(self.path.with_suffix(".lock"), os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
        fcntl.flock(self._fd, fcntl.LOCK_EX)  # the caller's deadline bounds the wait
        try:
            loaded = _decode.decode(self.path.read_bytes())
            self.data = loaded if isinstance(loaded, dict) else {}
        except FileNotFoundError:
            self.data = {}
        except msgspec.DecodeError:
            self.data = {}  # damaged: start over (the transcript is fed again from the start)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None

    def save(self) -> None:
        replace_file(self.path, msgspec.msgpack.encode(self.data), durable=False)

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name)
        if not isinstance(value, dict):
            value = self.data[name] = {}
        return value
