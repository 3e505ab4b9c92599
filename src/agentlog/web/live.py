"""New alerts as server-sent events: follow agent-alerts.jsonl (size and inode, every 200 ms).

The alerts page is rendered from the file up to a position and opens the stream from
that position (`?after=<inode>:<offset>`), so no alert falls between the two; each event
carries its position as the SSE id, so a reconnecting browser resumes where it was.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import msgspec

from ..events import Alert
from ..replay import FileFollower
from ..store.alerts import decode_alert

POLL_S = 0.2
PING_S = 15.0


def position(path: Path) -> str:
    """The file's current end as `<inode>:<offset>` (`0:0` when there is no file yet)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "0:0"
    return f"{st.st_ino}:{st.st_size}"


def follower_at(path: Path, after: str | None) -> FileFollower:
    """A follower that starts after `after` if it names the current file, else at its start
    (the file was rotated, or did not exist: everything in it is new)."""
    follower = FileFollower(path)
    try:
        inode, offset = (int(part) for part in (after or "").split(":"))
    except ValueError:
        inode, offset = None, None
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return follower
    if after is None:
        follower.inode, follower.offset = st.st_ino, st.st_size
    elif inode == st.st_ino and offset is not None and 0 <= offset <= st.st_size:
        follower.inode, follower.offset = inode, offset
    return follower


def alert_json(alert: Alert) -> str:
    """One line of JSON: no raw newline can end the SSE event early, non-ASCII escaped."""
    return json.dumps(msgspec.to_builtins(alert), ensure_ascii=True, separators=(",", ":"))


async def alert_events(path: Path, after: str | None, disconnected: Callable[[], Any]) -> AsyncIterator[str]:
    follower = follower_at(path, after)
    yield "retry: 1000\n\n"
    idle = 0.0
    while not await disconnected():
        lines = follower.read()
        sent = False
        for line in lines:
            alert = decode_alert(line)
            if alert is not None:
                sent = True
                yield f"id: {follower.inode}:{follower.offset}\nevent: alert\ndata: {alert_json(alert)}\n\n"
        idle = 0.0 if sent else idle + POLL_S
        if idle >= PING_S:
            idle = 0.0
            yield ": ping\n\n"  # keeps proxies from closing an idle stream
        await asyncio.sleep(POLL_S)
