"""The alerts journal: agent-alerts.jsonl, in the original analyzer's format plus `alert_id`.
`AlertJournal.write` is the one way a line gets into it (the watchdog's alerts, the guard's
decisions).

Written before the watchdog's checkpoint advances; on start it is read back to skip
alerts already written (by id) and to rebuild the cooldowns, so a restart after kill -9
neither repeats nor misses an alert.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import msgspec

from .. import _core, jsonline
from ..events import BOM, Alert, encode
from . import layout
from .reader import bounded_lines, files_of, open_log
from .writer import LogWriter

_decode = msgspec.json.Decoder(Alert)


def read_alerts(log_dir: Path, archives: bool = False) -> Iterator[Alert]:
    """Every readable alert line, oldest first; other lines are skipped."""
    for path in files_of(Path(log_dir), layout.ALERTS, archives=archives):
        try:
            handle = open_log(path)
        except FileNotFoundError:
            continue
        with handle:
            for line in bounded_lines(handle):
                alert = decode_alert(line) if isinstance(line, bytes) else None
                if alert is not None:
                    yield alert


def decode_alert(line: bytes, *, whole: bool = False) -> Alert | None:
    """The alert of one line, or None; a line without its newline is one a writer is still
    appending, unless the caller knows it `whole` (the tailer hands out complete lines only)."""
    if not (whole or line.endswith(b"\n")) or not line.strip():
        return None
    if line[:3] == BOM:
        line = line[3:]
    try:
        return jsonline.decode(line, _decode)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


class AlertJournal:
    def __init__(self, log_dir: Path, writer: LogWriter | None = None):
        self.log_dir = Path(log_dir)
        self.writer = writer or LogWriter(self.log_dir)
        self.seen = _core.IdSet()  # ids written; a compact set (a long watch writes 100,000s)
        self.written = 0

    def load(self) -> Iterator[Alert]:
        """Read the live alerts file back: remembers ids, yields alerts (for cooldowns)."""
        for alert in read_alerts(self.log_dir):
            if alert.alert_id:
                self.seen.add(alert.alert_id)
            yield alert

    def write(self, alert: Alert | dict[str, Any], redact: Callable[[bytes], bytes] | None = None) -> bool:
        """Append unless already written (same alert_id); True when appended. An alert is
        an `Alert`, or a dict of its fields plus others (the guard's `decision`); `redact`
        scrubs the line first (a guard reason may quote a tool input no recorder saw)."""
        return bool(self.write_all([alert], redact))

    def write_all(
        self, alerts: Sequence[Alert | dict[str, Any]], redact: Callable[[bytes], bytes] | None = None
    ) -> list[Alert | dict[str, Any]]:
        """`write` for several alerts, their lines in one write(); returns those appended."""
        fresh, ids = [], set()
        for alert in alerts:
            alert_id = alert.get("alert_id") if isinstance(alert, dict) else alert.alert_id
            if alert_id not in self.seen and alert_id not in ids:
                fresh.append(alert)
                if alert_id:
                    ids.add(alert_id)
        if fresh:
            lines = [encode(alert) + b"\n" for alert in fresh]
            self.writer.write_batch({layout.ALERTS: [redact(line) for line in lines] if redact else lines})
            self.seen.update(ids)
            self.written += len(fresh)
        return fresh

    def close(self) -> None:
        self.writer.close()
