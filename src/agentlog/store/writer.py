"""Crash-safe appends: whole lines in one `write()` on an O_APPEND descriptor.

Why this is enough: on a local file system the kernel appends a single write() to a
regular file atomically with respect to other writers using O_APPEND, so lines from
many processes and threads never interleave. A line is torn only when it is split
over two writes (text-mode buffering, or a body and then a newline), which we never do,
or when the disk fills mid-write — then we cut our own partial bytes off again. A batch
of lines is one write() too: never torn, and one system call instead of many.

The writing itself is the native core's `Appender` (native/src/record/append.rs), which
the recorder's pipeline also writes through directly: one writer per file. Writers
re-check the inode of each open file at most every REOPEN_CHECK_S seconds, so a rename rotation is
noticed and the new file opened; the rotator waits longer than that before it
compresses the renamed file.
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any, Iterator, Mapping

from .. import _core
from . import modes

REOPEN_CHECK_S = 0.25
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


class LogWriter:
    """Appends lines to files under a root directory, keeping descriptors open.

    fsync: "none" (the page cache survives a process crash), "event" (fdatasync each
    write before returning) or "batch" (fdatasync every `batch_size` lines and on flush()).
    Files and folders are created with the mode policy of `modes` at construction.
    """

    def __init__(self, root: Path, *, fsync: str = "none", batch_size: int = 256, max_open: int = 64):
        self.root = Path(root)
        self.fsync = fsync
        self.appender = _core.Appender(
            self.root,
            fsync=fsync,
            batch_size=batch_size,
            max_open=max_open,
            reopen_check=REOPEN_CHECK_S,
            file_mode=modes.file_mode(),
            dir_mode=modes.dir_mode(),
        )

    def append(self, relpath: str, line: bytes) -> None:
        """Append one complete line (ending in b"\\n") to root/relpath."""
        self.appender.append_many((relpath,), line)

    def append_many(self, relpaths: tuple[str, ...], line: bytes) -> None:
        """Append the same line to several files (stream, transcript, errors) in one go."""
        self.appender.append_many(relpaths, line)

    def write_batch(self, batch: Mapping[str, list[bytes]]) -> None:
        """Append lines to several files, each file's lines in one write(): whole lines in
        order, and one system call per file however many lines the batch holds."""
        self.appender.write_batch(dict(batch))

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
        self.appender.flush()

    def close(self) -> None:
        self.appender.close()


def _event_or_none(raw: bytes | None) -> dict[str, Any] | None:
    from ..events import EventError, decode_line

    if not raw or not raw.strip():
        return None
    try:
        return decode_line(raw)
    except EventError:
        return None
