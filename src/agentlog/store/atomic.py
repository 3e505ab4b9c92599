"""Replace a small file whole: a reader sees the old content or the new, never half.

Checkpoints, import state, cluster state, heartbeats, manifests and reports all need this;
`durable` adds the fsyncs that make the new content survive a power loss, which
checkpoints need and heartbeats do not.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from . import modes


def replace_file(path: Path | str, data: bytes, *, durable: bool = True, mode: int | None = None) -> None:
    """Temp file beside `path`, (fsync), rename over it, (fsync the folder).

    `mode`: the new file's permissions [default: the file mode of modes.py]. The temp file
    is private (0600) from its creation and gets `mode` before the rename.
    """
    path = Path(path)
    modes.make_dirs(path.parent)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        temp.unlink(missing_ok=True)  # a leftover keeps its own permissions through O_CREAT
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), modes.file_mode() if mode is None else mode)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if durable:
        sync_dir(path.parent)


def swap_file(path: Path | str, data: bytes) -> None:
    """Replace a file that is only read and written under one lock (`StateFile.locked`):
    write `.<name>.next`, unlink the file, rename `.next` to it. Not a rename over the file:
    ext4 (auto_da_alloc) makes that wait for the new data's writeback, ~3 ms against ~0.2 ms,
    which a hook pays on every tool call. Killed between the two steps, only `.next` is left,
    complete: `unswap` puts it in place. No fsync: for state that can be rebuilt."""
    path = Path(path)
    modes.make_dirs(path.parent)
    following = next_of(path)
    fd = os.open(following, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        os.fchmod(handle.fileno(), modes.file_mode())
    path.unlink(missing_ok=True)
    os.rename(following, path)


def unswap(path: Path | str) -> bool:
    """After `swap_file` was killed between unlink and rename: the `.next` it left becomes
    the file (under the same lock); False when there is none."""
    try:
        os.rename(next_of(Path(path)), path)
    except FileNotFoundError:
        return False
    return True


def next_of(path: Path) -> Path:
    return path.with_name(f".{path.name}.next")


def sync_dir(folder: Path) -> None:
    """fsync a folder: makes a rename or a new file in it durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
