"""Read new alerts with a persisted position, the way the original monitor polled.

    feed = AlertFeed(log_dir, "my-orchestrator")     # position kept in state/
    for alert in feed.poll():
        act_on(alert)
    feed.ack()                                       # next poll starts after these

    for alert in feed.follow():                      # blocks; acks each after you handled it
        act_on(alert)

A first start begins at the end of the file (only new alerts); start="beginning" reads
the whole live file first. Rotation of the alerts file is followed like the stream's.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator

from ..events import Alert
from ..store import layout
from ..store.tail import CheckpointStore, FileCheckpoints, Position, Tailer
from ..store.alerts import decode_alert


class AlertFeed:
    def __init__(
        self, log_dir: Path | str, name: str, *, start: str = "end", checkpoints: CheckpointStore | None = None
    ):
        log_dir = Path(log_dir)
        store = checkpoints if checkpoints is not None else FileCheckpoints(log_dir / layout.STATE)
        self.tailer = Tailer(log_dir / layout.ALERTS, store, name=f"alerts-{name}", start=start)
        self._polled: Position | None = None
        if not self.tailer.restored:
            self.tailer.commit(self.tailer.position())  # where "new" begins, also after a crash

    def read(self) -> list[tuple[Alert, Position]]:
        """Alerts written since the last read, each with the position just after it."""
        found = []
        for line, position in self.tailer.lines():
            alert = decode_alert(line, whole=True)
            if alert is not None:
                found.append((alert, position))
            self._polled = position
        return found

    def poll(self) -> list[Alert]:
        """New alerts (not yet acknowledged); `ack()` makes the next poll start after them."""
        return [alert for alert, _ in self.read()]

    def ack(self, position: Position | None = None) -> None:
        position = position if position is not None else self._polled
        if position is not None:
            self.tailer.commit(position)

    def follow(self, stop: threading.Event | None = None, timeout: float = 1.0) -> Iterator[Alert]:
        """Yield alerts as they are written, acknowledging each once the caller takes the next."""
        while stop is None or not stop.is_set():
            for alert, position in self.read():
                yield alert
                self.ack(position)
            self.tailer.wait(timeout)

    def close(self) -> None:
        self.tailer.close()
