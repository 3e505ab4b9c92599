"""Where miner state lives between runs: a tiny ``load``/``save`` interface.

A file today, NATS KV in fleet mode, memory in tests; the miner only ever sees bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ..store.state import StateFile


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
    """A state file (`store.state.StateFile`): readers see the old state or the new, never half."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = StateFile(self.path)

    def load(self) -> bytes | None:
        return self._file.load_bytes()

    def save(self, state: bytes) -> None:
        self._file.save_bytes(state)
