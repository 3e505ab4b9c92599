"""When the weekly report is due: `"SUN 09:00"` (UTC) or `"MON 08:30 Europe/Berlin"`.

A slot is sent at most once and never skipped: the state keeps the last slot sent, and
after a downtime only the latest missed slot is sent (not one per missed week). The
first start records when it was armed, so a slot passed while the watchdog was down
before its first report is still sent.

    schedule = WeeklySchedule("SUN 09:00", log_dir / "state")
    slot = schedule.due()                       # None, or the slot to send now
    if slot is not None:
        report = build_report(settings, days=7, now=slot)   # the week ending at the slot
        ...deliver...
        schedule.mark_sent(slot)
"""

from __future__ import annotations

import datetime as _dt
import re
import time
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..store.tail import FileCheckpoints

DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_SPEC = re.compile(r"\s*([A-Za-z]{3})[A-Za-z]*\s+(\d{1,2}):(\d{2})(?:\s+(\S+))?\s*")
STATE_NAME = "weekly-report"


@dataclass(frozen=True)
class Spec:
    weekday: int  # Monday 0
    hour: int
    minute: int
    zone: _dt.tzinfo

    @classmethod
    def parse(cls, text: str) -> "Spec":
        match = _SPEC.fullmatch(text)
        day = match[1].upper() if match else None
        if not match or day not in DAYS or int(match[2]) > 23 or int(match[3]) > 59:
            raise ValueError(f"{text!r} is not a weekly time like 'SUN 09:00' or 'MON 08:30 Europe/Berlin'")
        zone_name = match[4] or "UTC"
        try:
            zone = _dt.timezone.utc if zone_name.upper() == "UTC" else ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone_name!r} in {text!r}") from None
        return cls(DAYS.index(day), int(match[2]), int(match[3]), zone)

    def latest(self, now: float) -> float:
        """The last slot at or before `now`."""
        local = _dt.datetime.fromtimestamp(now, self.zone)
        days_back = (local.weekday() - self.weekday) % 7
        day = (local - _dt.timedelta(days=days_back)).date()
        slot = self._at(day)
        if slot > now:
            slot = self._at(day - _dt.timedelta(days=7))
        return slot

    def following(self, t: float) -> float:
        """The first slot strictly after `t`."""
        slot = self.latest(t)
        while slot <= t:
            slot = self._at(_dt.datetime.fromtimestamp(slot, self.zone).date() + _dt.timedelta(days=7))
        return slot

    def _at(self, day: _dt.date) -> float:
        return _dt.datetime(day.year, day.month, day.day, self.hour, self.minute, tzinfo=self.zone).timestamp()


def next_due(spec: str | Spec, last_sent: float | None, now: float) -> float:
    """The slot to send next: a slot at or before `now` means "send it now".

    The latest slot in (last_sent, now] if there is one (one catch-up after any downtime),
    else the first slot after now. `last_sent` None means nothing to catch up.
    """
    spec = spec if isinstance(spec, Spec) else Spec.parse(spec)
    latest = spec.latest(now)
    if last_sent is not None and latest > last_sent:
        return latest
    return spec.following(max(now, last_sent or now))


class WeeklySchedule:
    """`next_due` with its state persisted under the log dir's `state/` folder."""

    def __init__(self, spec: str, state_dir: Path | str, store: FileCheckpoints | None = None):
        self.spec = Spec.parse(spec)
        self.store = store or FileCheckpoints(state_dir)

    def _last(self, now: float) -> float:
        state = self.store.load(STATE_NAME)
        if state is None:
            state = {"armed": now, "last_sent": None}
            self.store.save(STATE_NAME, state)
        return state.get("last_sent") or state.get("armed") or now

    def due(self, now: float | None = None) -> float | None:
        """The slot to send now, or None."""
        now = time.time() if now is None else now
        slot = next_due(self.spec, self._last(now), now)
        return slot if slot <= now else None

    def next_time(self, now: float | None = None) -> float:
        """When the next slot comes (a due one is `now` or earlier)."""
        now = time.time() if now is None else now
        return next_due(self.spec, self._last(now), now)

    def mark_sent(self, slot: float) -> None:
        state = self.store.load(STATE_NAME) or {}
        self.store.save(STATE_NAME, {**state, "last_sent": max(slot, state.get("last_sent") or 0)})
