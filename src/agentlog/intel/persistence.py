"""Where miner state lives between runs: a tiny ``load``/``save`` interface.

A file today, NATS KV in fleet mode, memory in tests; the miner only ever sees bytes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol


class Persistence(Protocol):
    def load(self) -> bytes | None:
        """The last saved state, or None when nothing was saved yet."""

    def save(self, state: bytes) -> None:
        """Replace the saved state."""


class MemoryPersistence:
    """Keeps the state in memory: for tests and for processes that need no history."""

    def __init__(self, state: bytes | None = None) -> None:
        self.state = state

    def load(self) -> bytes | None:
        return self.state

    def save(self, state: bytes) -> None:
        self.state = state


class FilePersistence:
    """One file, replaced atomically: readers see the old state or the new, never half."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    def save(self, state: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(state)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(self.path.parent)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not possible (nor needed) on Windows.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
