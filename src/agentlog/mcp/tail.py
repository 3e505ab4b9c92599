"""Files read on from where the last call stopped: every answer costs O(what was appended)."""

from __future__ import annotations

import os
from pathlib import Path


def read_new_lines(
    path: Path, offset: int, ino: int | None, limit: int | None = None
) -> tuple[list[bytes], int, int] | None:
    """Complete lines appended to `path` since `offset` (from 0 when the file is another one
    now: rotated or replaced), with the new offset and inode; None when there is no file.
    With a `limit`, about that many bytes: at least one whole line, if one is complete."""
    try:
        stat = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.st_ino != ino or stat.st_size < offset:
        offset = 0
    if stat.st_size == offset:
        return [], offset, stat.st_ino
    with open(path, "rb") as handle:
        handle.seek(offset)
        chunk = handle.read(limit if limit is not None else stat.st_size - offset)
        if limit is not None and len(chunk) == limit and b"\n" not in chunk:
            chunk += handle.readline()  # a line longer than the limit: read on to its end
    end = chunk.rfind(b"\n") + 1
    return chunk[:end].splitlines(), offset + end, stat.st_ino


class Tail:
    """A file read on from where the last call stopped."""

    def __init__(self, path: Path):
        self.path, self.offset, self.ino = path, 0, None

    def new_lines(self, limit: int | None = None) -> list[bytes]:
        read = read_new_lines(self.path, self.offset, self.ino, limit)
        if read is None:
            return []
        lines, self.offset, self.ino = read
        return lines
