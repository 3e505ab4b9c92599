"""Follow a growing JSONL file, surviving rotation, truncation and restarts.

    tailer = Tailer(log_dir / "agent-work-stream.jsonl", FileCheckpoints(log_dir / "state"), "watch")
    while True:
        for batch in tailer.batches():          # complete lines only, up to the end of the file
            handle(batch.lines)
            tailer.commit(batch.position)       # temp file, fsync, rename: survives kill -9
        tailer.wait(1.0)                        # inotify wakeup (or a short poll), or timeout

A file is recognised by (device, inode) and by a hash of its first bytes ("head"), so:
- rename rotation: the old file is read to its end (writers keep appending to it for a
  moment) while the new file is read from its start;
- copytruncate: the live file's head changes or it shrinks; the rest of the old content is
  read from the copy (found by its head), then the live file from its start;
- a restart after either: the checkpointed file is found again by inode or by head, also
  when it was compressed into `archive/*.gz` meanwhile.
A final line without its newline is left for later (a writer is mid-append).
"""

from __future__ import annotations

import gzip
import os
import time
from dataclasses import dataclass, field
from hashlib import blake2b
from pathlib import Path
from typing import Any, Iterator, Protocol

import msgspec

HEAD = 256  # bytes of a file's start that identify it
CHUNK = 1 << 20
ROTATION_GRACE_S = 1.0  # writers notice a rotation within REOPEN_CHECK_S (0.25 s)


# --- checkpoints -----------------------------------------------------------------


class CheckpointStore(Protocol):
    """Where a consumer's position is kept: a file today, NATS KV in fleet mode, memory in tests."""

    def load(self, name: str) -> dict[str, Any] | None: ...

    def save(self, name: str, value: dict[str, Any]) -> None: ...


class FileCheckpoints:
    """One JSON file per name in `folder`, replaced atomically (temp, fsync, rename, fsync dir)."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.checkpoint.json"

    def load(self, name: str) -> dict[str, Any] | None:
        try:
            return msgspec.json.decode(self.path(name).read_bytes())
        except FileNotFoundError:
            return None
        except msgspec.DecodeError:  # cannot happen with rename, but never crash on it
            return None

    def save(self, name: str, value: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.path(name)
        temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, msgspec.json.encode(value))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
        dir_fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class MemoryCheckpoints:
    def __init__(self) -> None:
        self.values: dict[str, dict[str, Any]] = {}

    def load(self, name: str) -> dict[str, Any] | None:
        return self.values.get(name)

    def save(self, name: str, value: dict[str, Any]) -> None:
        self.values[name] = msgspec.json.decode(msgspec.json.encode(value))


# --- positions -------------------------------------------------------------------


class Mark(msgspec.Struct, frozen=True, array_like=True):
    """How far one file was consumed, and how to recognise that file again."""

    dev: int
    ino: int
    offset: int
    head: str  # blake2b of the first head_len bytes
    head_len: int


Position = tuple  # tuple[Mark, ...]: files still draining (oldest first), then the live one


@dataclass
class Batch:
    lines: list[bytes]  # complete lines without their newline (may be empty lines)
    position: Position  # where to resume after these lines
    index: int = 0  # which file of the position the lines came from


def _digest(data: bytes) -> str:
    return blake2b(data, digest_size=8).hexdigest()


class _Source:
    """One open file being read: the live one, or a rotated one still draining."""

    def __init__(self, handle, dev: int, ino: int, path: Path, compressed: bool = False):
        self.handle, self.dev, self.ino, self.path = handle, dev, ino, path
        self.compressed = compressed
        self.offset = 0  # end of the last complete line handed out
        self.buf = b""  # bytes of an incomplete line after offset
        self.rotated_at: float | None = 0.0 if compressed else None
        self.head = self.pread(0, HEAD)

    def pread(self, pos: int, size: int) -> bytes:
        self.handle.seek(pos)
        return self.handle.read(size)

    def size(self) -> int:
        return os.fstat(self.handle.fileno()).st_size

    def mark(self) -> Mark:
        known = min(HEAD, self.offset)
        if len(self.head) < known:
            self.head = self.pread(0, HEAD)
        head = self.head[:known]
        return Mark(self.dev, self.ino, self.offset, _digest(head), len(head))

    def read(self, size: int = CHUNK) -> list[bytes] | None:
        """Complete lines after the current position, or None at the end of the file."""
        data = self.pread(self.offset + len(self.buf), size)
        if not data:
            return None
        parts = (self.buf + data).split(b"\n")
        self.buf = parts.pop()
        if parts:
            self.offset += sum(map(len, parts)) + len(parts)
        return parts

    def replaced(self) -> bool:
        """True when the file was truncated or rewritten in place (copytruncate)."""
        if self.size() < self.offset + len(self.buf):
            return True
        known = min(len(self.head), self.offset)
        return known > 0 and self.pread(0, known) != self.head[:known]

    def close(self) -> None:
        self.handle.close()


def _open_plain(path: Path) -> _Source | None:
    try:
        handle = open(path, "rb", buffering=0)
    except (FileNotFoundError, IsADirectoryError):
        return None
    st = os.fstat(handle.fileno())
    return _Source(handle, st.st_dev, st.st_ino, path)


# --- the tailer --------------------------------------------------------------------


@dataclass
class Tailer:
    """Reads complete lines of `path` in order across rotations; resumes from a checkpoint.

    start: where a first start (no checkpoint) begins, "end" or "beginning".
    `commit(position, extra)` persists the position (and an opaque `extra` the consumer
    wants saved together with it, e.g. its own state) atomically; `extra` comes back as
    `tailer.extra` after a restart.
    """

    path: Path
    checkpoints: CheckpointStore | None = None
    name: str = "tail"
    start: str = "end"
    extra: Any = None
    restored: bool = False
    lost: list[Mark] = field(default_factory=list)  # checkpointed files that could not be found
    _sources: list[_Source] = field(default_factory=list)
    _waker: Any = None

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        saved = self.checkpoints.load(self.name) if self.checkpoints else None
        if saved:
            self.restored = True
            self.extra = saved.get("extra")
            self._restore([msgspec.convert(m, Mark) for m in saved.get("files", [])])
        else:
            live = _open_plain(self.path)
            if live is not None:
                if self.start == "end":
                    live.offset = live.size() - len(_partial_tail(live))
                self._sources.append(live)

    # -- reading -----------------------------------------------------------------

    def batches(self, max_bytes: int = CHUNK) -> Iterator[Batch]:
        """Every complete line available now, in batches; returns at the end of the data."""
        while True:
            self._follow_rotation()
            progressed = False
            for source in list(self._sources):
                while True:
                    lines = source.read(max_bytes)
                    if lines is None:
                        break
                    progressed = True
                    if lines:
                        yield Batch(lines, self.position(), self._sources.index(source))
                self._retire(source)
            if not progressed:
                return

    def lines(self) -> Iterator[tuple[bytes, Position]]:
        """Each complete line with the position just after it (for per-line acknowledgement)."""
        for batch in self.batches():
            marks, i = batch.position, batch.index
            end = marks[i].offset
            ends = []
            for line in reversed(batch.lines):
                ends.append(end)
                end -= len(line) + 1
            for line, offset in zip(batch.lines, reversed(ends)):
                yield line, marks[:i] + (msgspec.structs.replace(marks[i], offset=offset),) + marks[i + 1:]

    def position(self) -> Position:
        return tuple(s.mark() for s in self._sources)

    def commit(self, position: Position, extra: Any = None) -> None:
        """Persist `position` (and `extra`): after a restart, reading resumes right there."""
        self.extra = extra
        if self.checkpoints is not None:
            self.checkpoints.save(self.name, {"files": list(position), "extra": extra,
                                              "path": str(self.path), "saved": time.time()})

    def lag(self) -> int:
        """Bytes written but not yet handed out."""
        total = 0
        for source in self._sources:
            if not source.compressed:
                total += max(0, source.size() - source.offset - len(source.buf))
        return total

    def wait(self, timeout: float) -> bool:
        """Block until the file may have changed, or `timeout` seconds; True when woken."""
        if self._waker is None:
            self._waker = make_waker(self.path)
        return self._waker.wait(timeout)

    def close(self) -> None:
        for source in self._sources:
            source.close()
        self._sources.clear()
        if self._waker is not None:
            self._waker.close()
            self._waker = None

    # -- rotation -----------------------------------------------------------------

    def _live(self) -> _Source | None:
        source = self._sources[-1] if self._sources else None
        return source if source is not None and source.rotated_at is None else None

    def _follow_rotation(self) -> None:
        live = self._live()
        if live is not None and live.replaced():
            copy = self._find(live.mark(), exclude=(live.dev, live.ino))
            live.close()
            self._sources.remove(live)
            if copy is not None:
                self._sources.append(copy)
            elif live.offset:
                self.lost.append(live.mark())  # truncated, and no copy of the rest to be found
            fresh = _open_plain(self.path)
            if fresh is not None:
                self._sources.append(fresh)
            return
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        if live is not None and st is not None and (st.st_dev, st.st_ino) == (live.dev, live.ino):
            return
        if live is not None:
            live.rotated_at = time.monotonic()  # renamed away: drain it, then let go
        if st is not None and not any((s.dev, s.ino) == (st.st_dev, st.st_ino) for s in self._sources):
            fresh = _open_plain(self.path)
            if fresh is not None:
                self._sources.append(fresh)

    def _retire(self, source: _Source) -> None:
        """Close a rotated file once it is read to its end and writers have moved on."""
        if source.rotated_at is None:
            return
        if source.compressed or time.monotonic() - source.rotated_at >= ROTATION_GRACE_S:
            source.close()
            self._sources.remove(source)

    def _restore(self, marks: list[Mark]) -> None:
        for i, mark in enumerate(marks):
            is_last = i == len(marks) - 1
            source = self._reopen(mark, live_allowed=is_last)
            if source is None:
                self.lost.append(mark)
                continue
            source.offset = mark.offset
            self._sources.append(source)
        if self._live() is None:
            fresh = _open_plain(self.path)
            if fresh is not None and not any((s.dev, s.ino) == (fresh.dev, fresh.ino) for s in self._sources):
                self._sources.append(fresh)
            elif fresh is not None:
                fresh.close()

    def _reopen(self, mark: Mark, live_allowed: bool) -> _Source | None:
        live = _open_plain(self.path)
        if live is not None:
            if (live.dev, live.ino) == (mark.dev, mark.ino) and live.size() >= mark.offset and _matches(live, mark):
                if not live_allowed:
                    live.rotated_at = time.monotonic()
                return live
            live.close()
        return self._find(mark)

    def _find(self, mark: Mark, exclude: tuple[int, int] | None = None) -> _Source | None:
        """The file a mark was taken on, among rotated siblings and archives."""
        for path in _candidates(self.path):
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            if exclude == (st.st_dev, st.st_ino):
                continue
            compressed = path.suffix == ".gz"
            if not compressed and st.st_size < mark.offset:
                continue
            try:
                handle = gzip.open(path, "rb") if compressed else open(path, "rb", buffering=0)
                source = _Source(handle, st.st_dev, st.st_ino, path, compressed=compressed)
            except (OSError, EOFError):
                continue
            if _matches(source, mark):
                source.offset = mark.offset
                if not compressed:
                    source.rotated_at = time.monotonic()
                return source
            source.close()
        return None


def _matches(source: _Source, mark: Mark) -> bool:
    try:
        head = source.pread(0, mark.head_len)
    except (OSError, EOFError):
        return False
    return len(head) == mark.head_len and _digest(head) == mark.head


def _candidates(path: Path) -> list[Path]:
    """Where a rotated copy of `path` may be: beside it, or in archive/ (newest first)."""
    stem = path.name.removesuffix(".jsonl")
    found: list[Path] = []
    for folder in (path.parent, path.parent / "archive"):
        try:
            entries = [p for p in folder.iterdir() if p.name.startswith(stem) and p != path and p.is_file()]
        except FileNotFoundError:
            continue
        found.extend(sorted(entries, key=lambda p: p.name, reverse=True))
    return found


def _partial_tail(source: _Source) -> bytes:
    """Bytes after the last newline of a file (an incomplete line a writer is finishing)."""
    pos = source.size()
    tail = b""
    while pos > 0:
        step = min(65536, pos)
        pos -= step
        block = source.pread(pos, step)
        cut = block.rfind(b"\n")
        if cut >= 0:
            return block[cut + 1:] + tail
        tail = block + tail
    return tail


# --- wakeups ---------------------------------------------------------------------


class _PollWaker:
    """Fallback: sleep a short interval; the caller reads to the end anyway."""

    interval = 0.02

    def wait(self, timeout: float) -> bool:
        time.sleep(max(0.0, min(timeout, self.interval)))
        return True

    def close(self) -> None:
        pass


class _InotifyWaker:
    """Raw inotify on the file's directory: ~0.1 ms from a write to the wakeup.

    Events are queued by the kernel while the caller processes, so a write that lands
    after the last read always makes the next wait() return at once: no lost wakeups.
    The directory is watched (not the file) to see renames and creations too.
    """

    def __init__(self, path: Path):
        from inotify_simple import INotify, flags

        self.name = path.name
        self.inotify = INotify()
        mask = (flags.MODIFY | flags.CREATE | flags.MOVED_TO | flags.MOVED_FROM | flags.DELETE
                | flags.CLOSE_WRITE | flags.ATTRIB)
        self.structural = flags.CREATE | flags.MOVED_TO | flags.MOVED_FROM | flags.DELETE
        self.inotify.add_watch(str(path.parent), mask)

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            events = self.inotify.read(timeout=max(0, int(left * 1000)))
            if any(e.name == self.name or e.mask & self.structural for e in events):
                return True
            if left <= 0 or not events and time.monotonic() >= deadline:
                return False

    def close(self) -> None:
        self.inotify.close()


def make_waker(path: Path):
    """inotify where the platform has it, a short poll elsewhere (or AGENTLOG_POLL=1)."""
    if os.environ.get("AGENTLOG_POLL") != "1":
        try:
            return _InotifyWaker(Path(path))
        except (ImportError, OSError):
            pass
    return _PollWaker()
