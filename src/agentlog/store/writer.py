"""Crash-safe appends: whole lines in one `write()` on an O_APPEND descriptor.

Why this is enough: on a local file system the kernel appends a single write() to a
regular file atomically with respect to other writers using O_APPEND, so lines from
many processes and threads never interleave. A line is torn only when it is split
over two writes (text-mode buffering, or a body and then a newline), which we never do,
or when the disk fills mid-write — then we cut our own partial bytes off again. A batch
of lines is one write() too: never torn, and one system call instead of many.

Writers re-check the inode of each open file at most every REOPEN_CHECK_S seconds, so
a rename rotation is noticed and the new file opened; the rotator waits longer than
that before it compresses the renamed file.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterator, Mapping

from . import modes

REOPEN_CHECK_S = 0.25
_FLAGS = os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
_REASONS = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}


class StoreError(OSError):
    """A log file could not be written; the message names the file and the reason."""

    def __str__(self) -> str:
        return str(self.strerror)


def store_error(path: Path | str, exc: OSError, what: str = "cannot write") -> StoreError:
    reason = _REASONS.get(exc.errno or 0, exc.strerror or str(exc))
    return StoreError(exc.errno, f"{what} {path}: {reason}")


class _Open:
    __slots__ = ("fd", "ino", "checked", "pending")

    def __init__(self, fd: int, ino: int):
        self.fd, self.ino, self.checked, self.pending = fd, ino, time.monotonic(), 0


class LogWriter:
    """Appends lines to files under a root directory, keeping descriptors open.

    fsync: "none" (the page cache survives a process crash), "event" (fdatasync each
    write before returning) or "batch" (fdatasync every `batch_size` lines and on flush()).
    """

    def __init__(self, root: Path, *, fsync: str = "none", batch_size: int = 256, max_open: int = 64):
        if fsync not in ("none", "event", "batch"):
            raise ValueError(f"fsync must be none, event or batch, not {fsync!r}")
        self.root = Path(root)
        self.fsync = fsync
        self._syncing = fsync != "none"
        self.batch_size = batch_size
        self.max_open = max_open
        self._open: OrderedDict[str, _Open] = OrderedDict()
        self._lock = threading.Lock()

    def append(self, relpath: str, line: bytes) -> None:
        """Append one complete line (ending in b"\\n") to root/relpath."""
        self.append_many((relpath,), line)

    def append_many(self, relpaths: tuple[str, ...], line: bytes) -> None:
        """Append the same line to several files (stream, transcript, errors) in one go."""
        with self._lock:
            now = time.monotonic()
            for relpath in relpaths:
                self._write(relpath, line, 1, now)

    def write_batch(self, batch: Mapping[str, list[bytes]]) -> None:
        """Append lines to several files, each file's lines in one write(): whole lines in
        order, and one system call per file however many lines the batch holds."""
        with self._lock:
            now = time.monotonic()
            for relpath, lines in batch.items():
                self._write(relpath, b"".join(lines), len(lines), now)

    def _write(self, relpath: str, data: bytes, lines: int, now: float) -> None:
        handle = self._open.get(relpath)
        if handle is None or now - handle.checked >= REOPEN_CHECK_S:
            handle = self._handle(relpath, now)
        try:
            written = os.write(handle.fd, data)
        except OSError as exc:
            raise store_error(self.root / relpath, exc) from None
        if written != len(data):
            _undo_short_write(handle.fd, written, len(data), self.root / relpath)
        if self._syncing:
            handle.pending += lines
            if self.fsync == "event" or handle.pending >= self.batch_size:
                self._sync(relpath, handle)

    def read(self, relpath: str) -> Iterator[dict[str, Any]]:
        """The events of one file (a session transcript), in order."""
        from .reader import read_file

        return read_file(self.root / relpath)

    def ends(self, relpath: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """First and last event of a file, without reading what lies between."""
        from .reader import first_line, last_line

        path = self.root / relpath
        return _event_or_none(first_line(path)), _event_or_none(last_line(path))

    def flush(self) -> None:
        """Make every line appended so far durable (a no-op with fsync="none")."""
        with self._lock:
            for relpath, handle in self._open.items():
                if handle.pending:
                    self._sync(relpath, handle)

    def close(self) -> None:
        self.flush()
        with self._lock:
            for handle in self._open.values():
                os.close(handle.fd)
            self._open.clear()

    def _sync(self, relpath: str, handle: _Open) -> None:
        try:
            os.fdatasync(handle.fd)
        except OSError as exc:
            raise store_error(self.root / relpath, exc, "cannot sync") from None
        handle.pending = 0

    def _handle(self, relpath: str, now: float) -> _Open:
        """The open file for relpath; reopened when a rotation renamed or removed it."""
        handle = self._open.get(relpath)
        if handle is not None:
            handle.checked = now
            if _inode(os.path.join(self.root, relpath)) == handle.ino:
                return handle
            self._drop(relpath)
        return self._opened(relpath)

    def _opened(self, relpath: str) -> _Open:
        path = self.root / relpath
        try:
            modes.make_dirs(path.parent)
            fd = modes.create(path, _FLAGS)
        except OSError as exc:
            raise store_error(path, exc, "cannot open") from None
        handle = _Open(fd, os.fstat(fd).st_ino)
        self._open[relpath] = handle
        while len(self._open) > self.max_open:
            self._drop(next(iter(self._open)))
        return handle

    def _drop(self, relpath: str) -> None:
        handle = self._open.pop(relpath)
        if handle.pending:
            self._sync(relpath, handle)
        os.close(handle.fd)


def _event_or_none(raw: bytes | None) -> dict[str, Any] | None:
    from ..events import EventError, decode_line

    if not raw or not raw.strip():
        return None
    try:
        return decode_line(raw)
    except EventError:
        return None


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def _undo_short_write(fd: int, written: int, size: int, path: Path) -> None:
    """Only a full disk or a size limit cuts a regular-file write short. Our bytes end at
    the descriptor's offset; if nobody appended after them, cut them off again, so the
    file never holds a partial line."""
    end = os.lseek(fd, 0, os.SEEK_CUR)
    if os.fstat(fd).st_size == end:
        os.ftruncate(fd, end - written)
    raise StoreError(errno.ENOSPC, f"cannot write {path}: disk full ({written} of {size} bytes fit; nothing written)")
