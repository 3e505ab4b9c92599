"""The log's shared files indexed as they grow: errors by fingerprint, alerts by session."""

from __future__ import annotations

import threading
from pathlib import Path

import msgspec

from .. import jsonline
from ..store import layout
from .records import Alert, alert_decoder, events, fingerprint
from .tail import Tail

# bytes decoded at a time: a large file is indexed in steps of a few ms each (one C call
# for a whole file would hold the GIL, and so every other question, for as long)
CHUNK = 1 << 20


class _Index:
    """A file of the log dir indexed as it grows. Hold `lock` to refresh or read it: the
    questions that need it wait for it, the others do not (each index has its own lock)."""

    def __init__(self, path: Path):
        self.tail = Tail(path)
        self.lock = threading.Lock()

    def refresh(self) -> None:
        while lines := self.tail.new_lines(CHUNK):
            self._add(lines)

    def _add(self, lines: list[bytes]) -> None:
        raise NotImplementedError


class ErrorIndex(_Index):
    """fingerprint -> how often, in which sessions (agent-errors.jsonl, read as it grows)."""

    def __init__(self, log_dir: Path):
        super().__init__(log_dir / layout.ERRORS)
        self.count: dict[str, int] = {}
        self.sessions: dict[str, dict[str, int]] = {}  # fp -> attempt -> occurrences (latest last)
        self.category: dict[str, str] = {}

    def _add(self, lines: list[bytes]) -> None:
        for found in events(lines):
            if found is None or type(found.attempt_id) is not str:
                continue
            known = fingerprint(found.data)
            if known is None:
                continue
            fp, category = known
            self.count[fp] = self.count.get(fp, 0) + 1
            seen = self.sessions.setdefault(fp, {})
            seen[found.attempt_id] = seen.pop(found.attempt_id, 0) + 1
            if category:
                self.category[fp] = category


class AlertIndex(_Index):
    """attempt -> its latest alerts (agent-alerts.jsonl: the watchdog's and the guard's)."""

    KEEP = 8

    def __init__(self, log_dir: Path):
        super().__init__(log_dir / layout.ALERTS)
        self.by_attempt: dict[str, list[Alert]] = {}
        self.total: dict[str, int] = {}

    def _add(self, lines: list[bytes]) -> None:
        for line in lines:
            try:
                alert = jsonline.decode(line, alert_decoder)
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue
            if type(alert.attempt_id) is not str:
                continue
            kept = self.by_attempt.setdefault(alert.attempt_id, [])
            if any(a.alert_id == alert.alert_id for a in kept if alert.alert_id is not None):
                continue  # a watchdog restarted without its checkpoint may write one again
            kept.append(alert)
            del kept[: -self.KEEP]
            self.total[alert.attempt_id] = self.total.get(alert.attempt_id, 0) + 1
