"""New alerts as server-sent events: follow agent-alerts.jsonl (the tailer, every 200 ms).

The alerts page is rendered from the file up to a position and opens the stream from
that position (`?after=<token>`), so no alert falls between the two; each event carries
its position as the SSE id, so a reconnecting browser resumes where it was, also after
the alerts log was rotated meanwhile.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import msgspec

from ..events import Alert
from ..store.alerts import decode_alert
from ..store.tail import position_token, tailer_at

POLL_S = 0.2
PING_S = 15.0


def position(path: Path) -> str:
    """The file's current end as a token (`store.tail.position_token`) to stream from."""
    tailer = tailer_at(path, None)
    try:
        return position_token(tailer.position())
    finally:
        tailer.close()


def alert_json(alert: Alert) -> str:
    """One line of JSON: no raw newline can end the SSE event early, non-ASCII escaped."""
    return json.dumps(msgspec.to_builtins(alert), ensure_ascii=True, separators=(",", ":"))


async def alert_events(path: Path, after: str | None, disconnected: Callable[[], Any]) -> AsyncIterator[str]:
    tailer = tailer_at(path, after)
    try:
        yield "retry: 1000\n\n"
        idle = 0.0
        while not await disconnected():
            sent = False
            for line, at in tailer.lines():
                alert = decode_alert(line, whole=True)
                if alert is not None:
                    sent = True
                    yield f"id: {position_token(at)}\nevent: alert\ndata: {alert_json(alert)}\n\n"
            idle = 0.0 if sent else idle + POLL_S
            if idle >= PING_S:
                idle = 0.0
                yield ": ping\n\n"  # keeps proxies from closing an idle stream
            await asyncio.sleep(POLL_S)
    finally:
        tailer.close()
