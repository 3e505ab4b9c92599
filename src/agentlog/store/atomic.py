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


def sync_dir(folder: Path) -> None:
    """fsync a folder: makes a rename or a new file in it durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
