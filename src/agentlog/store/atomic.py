"""Replace a small file whole: a reader sees the old content or the new, never half.

Checkpoints, import state, cluster state, heartbeats, manifests and reports all need this;
`durable` adds the fsyncs that make the new content survive a power loss, which
checkpoints need and heartbeats do not.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def replace_file(path: Path | str, data: bytes, *, durable: bool = True) -> None:
    """Temp file beside `path`, (fsync), rename over it, (fsync the folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
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
