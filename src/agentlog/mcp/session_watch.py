"""One session as the watchdog sees it: its own `Engine` (the watchdog's settings) fed its
transcript from where the last call stopped, and what the answers add (cost, progress,
errors, outcome)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zlib import crc32

from ..watch.config import WatchConfig
from ..watch.engine import Engine
from .records import Event, event, fingerprint, seconds
from .tail import read_new_lines

MAX_ALERTS = 64  # kept per session, the latest


class SessionWatch:
    """One session's engine and what the answers add, fed its transcript from where the
    last call stopped."""

    def __init__(self, attempt_id: str, config: WatchConfig):
        self.attempt_id = attempt_id
        self.config = config
        self._reset(None)

    def _reset(self, ino: int | None) -> None:
        self.engine = Engine(self.config)
        self.offset, self.ino = 0, ino
        self.alerts: list[tuple[Any, float]] = []  # (alert, when it was known) the engine raised, oldest first
        self.events = self.cost_usd = 0
        self.last_time = self.progress_time = None  # event times: the latest event, the latest new call
        self.calls: set[int] = set()  # crc32 of (tool, params) of the calls made: a new one is progress
        self.errors: dict[str, int] = {}  # fingerprint -> occurrences in this session
        self.status = None  # completion_status of its session_end, if it ended

    def catch_up(self, path: Path, now: float) -> None:
        read = read_new_lines(path, self.offset, self.ino)
        if read is None:
            return
        lines, offset, ino = read
        if ino != self.ino or offset < self.offset:
            self._reset(ino)  # another file at the path: its own, fresh state (as the guard does)
        self.offset, self.ino = offset, ino
        if not lines:
            return
        raised = self.engine.feed(lines, now=now)
        for line in lines:
            found = event(line)
            if found is not None:
                self._note(found)
        # an alert stands from when it is known: an event out of order or a gap (stuck) may
        # date it long before the session's latest event
        known = self.last_time or 0
        self.alerts.extend((alert, max(seconds(alert.event_time) or 0, known)) for alert in raised)
        del self.alerts[:-MAX_ALERTS]

    def _note(self, event: Event) -> None:
        self.events += 1
        data, kind = event.data, event.event_type
        t = seconds(event.timestamp)
        if t is not None and (self.last_time is None or t > self.last_time):
            self.last_time = t
        if kind == "session_start":
            self.status = None  # a new session of the attempt is open again
        elif kind == "tool_call" and type(data.tool_name) is str:
            key = crc32(bytes(data.tool_params), crc32(data.tool_name.encode()))
            if key not in self.calls:
                self.calls.add(key)
                self.progress_time = t if t is not None else self.progress_time
        elif kind == "usage" and type(data.cost_usd) in (int, float):
            self.cost_usd += data.cost_usd
        elif kind == "error":
            fp = fingerprint(data)
            if fp is not None:
                self.errors[fp[0]] = self.errors.get(fp[0], 0) + 1
        elif kind == "session_end":
            self.status = data.completion_status if type(data.completion_status) is str else "ended"

    def rules(self) -> list[dict[str, Any]]:
        """How close each loop rule is to firing: the count it has reached, its threshold."""
        attempt = self.engine.active.get(self.attempt_id)
        slots = attempt.slots if attempt is not None else {}
        found = []
        tool = slots.get("tool_loop")
        if tool is not None and tool.run:
            found.append(
                {"rule": "tool_loop", "count": max(tool.run.values()), "threshold": self.config.tool_repeat_threshold}
            )
        errors = slots.get("error_loop")
        if errors is not None and errors.times:
            window = self.config.error_loop_window_ms / 1000
            latest = self.last_time or 0
            count = max(sum(1 for t in times if t is None or latest - t <= window) for times in errors.times.values())
            found.append({"rule": "error_loop", "count": count, "threshold": self.config.error_loop_threshold})
        return found

    def looping(self) -> list[Any]:
        """The alerts still standing: known within the cooldown of the latest event time,
        which is how long the watchdog holds back the same alert again."""
        horizon = (self.last_time or 0) - self.config.alert_cooldown_ms / 1000
        return [alert for alert, known in self.alerts if known >= horizon]
