"""Where a reader is in a file, and whether the file is still the one it was reading: the
one file cursor behind every reader that resumes a file.

Identity is device + inode + a fingerprint of the file's first bytes. The fingerprint covers
at most HEAD_BYTES and never more than was read, so a small file that grows keeps its identity
(its head only gets longer, and the part that was read is compared); a file replaced at the
path (a rotation, an inode reused) or truncated (shorter than the offset, or rewritten from the
start) is a new file, read from its start. Its users:

- `Mark`: the tailer's position in each file it reads (`store/tail.py`: the watchdog, fleet
  forwarding, alert feeds, `replay --follow` and the dashboard's live alerts), which also
  follows rotations through `store/rotate.py`'s manifest;
- the dict form below, for readers that keep the cursor in a state section of their own
  (the guard's transcript readers);
- `same_start`: imports (`capture/incremental.py`), which know a transcript by its path and
  its head only, because a restored or copied file has a new inode but is the same transcript.

    cursor = state.section("transcript")
    fresh = resume(path, cursor)           # False: the same file, go on at cursor["offset"]
    lines, end = read_lines(path, cursor)  # complete lines only; a half-written one waits
    advance(path, cursor, end)             # after the lines were used
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import msgspec

from .. import _core

HEAD_BYTES = 512  # at most this much of a file's start tells one file from another
MAX_LINE = _core.MAX_LINE  # a longer line is skipped by every reader, never held (native/src/read.rs)


def digest(head: bytes) -> str:
    """The fingerprint of a file's first bytes."""
    return hashlib.blake2b(head, digest_size=8).hexdigest()


class Mark(msgspec.Struct, frozen=True, array_like=True):
    """How far one file was read, and how to recognise that file again."""

    dev: int
    ino: int
    offset: int
    head: str  # digest() of the first head_len bytes
    head_len: int

    def starts(self, head: bytes) -> bool:
        """Is `head`, the first head_len bytes of a file, the start of the marked file?"""
        return len(head) == self.head_len and (self.head_len == 0 or digest(head) == self.head)


def _head(path: Path | str, length: int) -> str:
    with open(path, "rb") as handle:
        return digest(handle.read(length))


def same_start(path: Path | str, length: int, head: str) -> bool:
    """Do the first `length` bytes of `path` have the fingerprint `head`? Import states
    written before the fingerprints were one (v0.1) hold a SHA-1: still understood."""
    with open(path, "rb") as handle:
        data = handle.read(length)
    if len(head) == 40:
        return hashlib.sha1(data).hexdigest() == head
    return digest(data) == head


def resume(path: Path | str, cursor: dict[str, Any]) -> bool:
    """Check `cursor` against the file at `path`; when it is another file now (replaced,
    rotated, truncated), reset it to the file's start and return True. OSError when
    the file cannot be read."""
    stat = os.stat(path)
    same = (
        cursor.get("dev") == stat.st_dev
        and cursor.get("ino") == stat.st_ino
        and cursor.get("offset", 0) <= stat.st_size
        and _head(path, cursor.get("head_len", 0)) == cursor.get("head")
    )
    if same:
        return False
    cursor.clear()
    cursor.update(dev=stat.st_dev, ino=stat.st_ino, offset=0, head_len=0, head=_head(path, 0))
    return True


def read_lines(path: Path | str, cursor: dict[str, Any], limit: int | None = None) -> tuple[list[bytes], int]:
    """The complete lines after the cursor (at most `limit` bytes read), and the offset after them."""
    with open(path, "rb") as handle:
        handle.seek(cursor.get("offset", 0))
        chunk = handle.read() if limit is None else handle.read(limit)
    end = chunk.rfind(b"\n") + 1
    return chunk[:end].splitlines(), cursor.get("offset", 0) + end


def advance(path: Path | str, cursor: dict[str, Any], offset: int) -> None:
    """Move the cursor to `offset` (the lines before it were used); the fingerprint grows
    with what was read, up to HEAD_BYTES."""
    cursor["offset"] = offset
    length = min(HEAD_BYTES, offset)
    if length != cursor.get("head_len"):
        cursor.update(head_len=length, head=_head(path, length))
