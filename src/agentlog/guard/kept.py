"""What the resident guard builds once and reuses across calls, while its inputs are unchanged.

A hook call in its own process builds everything it needs and exits; the resident guard
(server.py) runs call after call, so the costly parts that depend only on the settings (the
recorder with its redactor, the detectors with the risk model) are kept here, one per
kind, under a key made of everything they are built from: settings changed in the config
file, the environment or a flag give another key, and the next call builds them afresh.
"""

from __future__ import annotations

import os
from typing import Any, Callable

_kept: dict[str, tuple[Any, Any]] = {}


def kept(kind: str, key: Any, build: Callable[[], Any], close: Callable[[Any], None] | None = None) -> Any:
    """The `kind` built for `key`, built now when there is none or it was built for another
    key (the old one is `close`d)."""
    entry = _kept.get(kind)
    if entry is not None and entry[0] == key:
        return entry[1]
    forget(kind, close)
    value = build()
    _kept[kind] = (key, value)
    return value


def forget(kind: str, close: Callable[[Any], None] | None = None) -> None:
    """Drop the kept `kind` (a call failed half-way through it: its memory may be off)."""
    entry = _kept.pop(kind, None)
    if entry is not None and close is not None:
        try:
            close(entry[1])
        except Exception:  # noqa: BLE001, S110 - what it held is the next one's to redo
            pass


def stamp(path: str | os.PathLike[str] | None) -> tuple[int, int, int] | None:
    """Which version of a file a kept value was built from (None: no such file)."""
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size
