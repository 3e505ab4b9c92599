"""One way to keep state between runs: a value in a file of its own, replaced whole.

Tailer checkpoints, import progress, the guard's per-session memory and the template
miner's state all are a StateFile:

- `save` replaces the file atomically (`atomic.replace_file`): a reader, or a process killed
  half-way, sees the old value or the new, never half; `durable` adds the fsyncs that make
  the new value survive a power loss (positions need them, caches do not); `swap`, for
  state read only under the lock, does the same more cheaply (`atomic.swap_file`);
- `load` gives None for a missing or damaged file: each user starts over from what it
  can rebuild (event ids are stable, detectors are fed again);
- `locked()` serialises read-modify-write across processes with a `flock` on a `.lock`
  file beside it; `version()` tells whether another process saved since.

JSON by default; MessagePack where values have integer keys (detector state). In fleet
mode the same values live in JetStream KV instead (`fleet/kvstore.py`), fenced by revision.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import msgspec

from . import modes
from .atomic import replace_file, swap_file, unswap

_CODECS = {
    "json": (msgspec.json.encode, msgspec.json.Decoder().decode),
    "msgpack": (msgspec.msgpack.encode, msgspec.msgpack.Decoder().decode),
}


class StateFile:
    def __init__(self, path: Path | str, codec: str = "json", *, durable: bool = True, swap: bool = False):
        """`swap`: every reader and writer holds `locked()`, so a save may unlink the file and
        rename the new one in (`atomic.swap_file`, cheaper than replacing; not `durable`)."""
        self.path = Path(path)
        self.durable = durable
        self.swap = swap and not durable
        self._encode, self._decode = _CODECS[codec]

    def load_bytes(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            if self.swap and unswap(self.path):  # a save killed half-way: its new value
                return self.load_bytes()
            return None

    def load(self) -> Any | None:
        data = self.load_bytes()
        try:
            return None if data is None else self._decode(data)
        except msgspec.DecodeError:  # cannot happen with rename, unless the disk lied: start over
            return None

    def save_bytes(self, data: bytes) -> None:
        if self.swap:
            swap_file(self.path, data)
        else:
            replace_file(self.path, data, durable=self.durable)

    def save(self, value: Any) -> None:
        self.save_bytes(self._encode(value))

    def version(self) -> tuple[int, int] | None:
        """Which save is on disk (every save is a new file, renamed in); None before the first."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns

    @contextmanager
    def locked(self) -> Iterator[StateFile]:
        """Hold the lock beside the file (blocking): one read-modify-write at a time."""
        modes.make_dirs(self.path.parent)
        fd = modes.create(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield self
        finally:
            os.close(fd)  # releases the lock
