"""Durable delivery: each sink reads the alerts journal with its own persisted position.

The journal is the outbox: an alert is on disk before any sink sees it, and a sink's
position advances only after delivery (or a permanent failure, or too many failed
attempts, which is written to state/dead-letters.jsonl with the reason). Failures are retried with exponential
backoff on the sink's own thread, so a slow or dead sink never blocks detection, and a
sink that is down for a while gets everything once it is back, also after a restart.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

from ..events import Alert, encode, now_iso, parse_time
from ..store import layout
from ..store.tail import FileCheckpoints, MemoryCheckpoints
from ..store.writer import LogWriter
from .consumer import AlertFeed
from .sinks import BaseSink, SinkError

DEAD_LETTERS = f"{layout.STATE}/dead-letters.jsonl"
# A sink that raises something other than SinkError met a bug or an alert it cannot take
# (a NUL byte in a field...): retrying the same alert cannot help for long, and the
# alerts behind it must not wait forever.
UNEXPECTED_ATTEMPTS = 5


class _Worker:
    def __init__(self, sink: BaseSink, feed: AlertFeed):
        self.sink, self.feed = sink, feed
        self.wakeup = threading.Event()
        self.thread: threading.Thread | None = None
        self.status = new_status(sink)


class Outbox:
    def __init__(
        self,
        log_dir: Path,
        sinks: list[BaseSink],
        *,
        notify_after: float | None = None,
        base_delay: float = 0.5,
        max_delay: float = 60.0,
    ):
        self.log_dir = Path(log_dir)
        self.notify_after = notify_after  # epoch: older alerts are not sent to notification sinks
        self.base_delay, self.max_delay = base_delay, max_delay
        self.writer = LogWriter(self.log_dir)
        self._stop = threading.Event()
        self._draining = threading.Event()
        durable = FileCheckpoints(self.log_dir / layout.STATE)
        self.workers = [
            _Worker(
                s,
                AlertFeed(
                    self.log_dir, f"sink-{s.name}", checkpoints=durable if s.notification else MemoryCheckpoints()
                ),
            )
            for s in sinks
        ]

    def start(self) -> None:
        for worker in self.workers:
            worker.thread = threading.Thread(
                target=self._run, args=(worker,), name=f"sink-{worker.sink.name}", daemon=True
            )
            worker.thread.start()

    def wake(self) -> None:
        """New alerts were written: deliver now rather than at the next poll."""
        for worker in self.workers:
            worker.wakeup.set()

    def stop(self, drain_timeout: float = 0.0) -> None:
        """Stop the workers; with a timeout, first let them deliver what is pending."""
        if drain_timeout > 0:
            self._draining.set()
            self.wake()
            deadline = time.monotonic() + drain_timeout
            for worker in self.workers:
                if worker.thread is not None:
                    worker.thread.join(max(0.0, deadline - time.monotonic()))
        self._stop.set()
        self.wake()
        for worker in self.workers:
            if worker.thread is not None:
                worker.thread.join(5)
            worker.feed.close()

    def status(self) -> dict[str, dict[str, Any]]:
        result = {}
        for worker in self.workers:
            lag = worker.feed.tailer.lag()
            result[worker.sink.name] = {**worker.status, "pending_bytes": lag}
        return result

    # -- the worker --------------------------------------------------------------------

    def _run(self, worker: _Worker) -> None:
        while not self._stop.is_set():
            worker.wakeup.clear()
            found = worker.feed.read()
            try:
                for alert, position in found:
                    if not self._deliver(worker, alert):
                        return  # stopping mid-retry: the position stays before this alert
                    worker.feed.ack(position)
            finally:
                if found:
                    self._flush(worker)
            if not found and self._draining.is_set():
                return
            worker.wakeup.wait(0.5)

    def _deliver(self, worker: _Worker, alert: Alert) -> bool:
        return deliver(
            worker.sink,
            alert,
            worker.status,
            stop=self._stop,
            notify_after=self.notify_after,
            dead_letter=self._dead_letter,
            base_delay=self.base_delay,
            max_delay=self.max_delay,
        )

    def _flush(self, worker: _Worker) -> None:
        """A sink that buffers (stdout to a file or a pipe) writes out once per batch; `flush`
        is optional (sinks written before it have none) and its failure ends no worker."""
        flush = getattr(worker.sink, "flush", None)
        if flush is None:
            return
        try:
            flush()
        except Exception as exc:  # noqa: BLE001 - as a failed send: counted and shown, delivery goes on
            worker.status.update(failures=worker.status["failures"] + 1, last_error=f"flush: {exc!r}")

    def _dead_letter(self, sink: BaseSink, alert: Alert, reason: str) -> None:
        dead_letter(self.writer, sink, alert, reason)


def deliver(
    sink: BaseSink,
    alert: Alert,
    status: dict[str, Any],
    *,
    stop: threading.Event,
    notify_after: float | None,
    dead_letter: Callable[[BaseSink, Alert, str], None],
    base_delay: float = 0.5,
    max_delay: float = 60.0,
) -> bool:
    """Give `alert` to `sink` with the retry rules (backoff; permanent failures and too many
    attempts dead-lettered); False only when `stop` was set mid-retry (not delivered).
    The local outbox and the fleet's notifier both deliver through this."""
    attempt = 0
    while True:
        attempt += 1
        try:
            if not sink.wants(alert) or _stale(sink, alert, notify_after):
                status["skipped"] += 1
                return True
            sink.send(alert)
        except Exception as exc:  # noqa: BLE001 - a sink's bug is a failure like any other
            reason = str(exc) if isinstance(exc, SinkError) else f"{type(exc).__name__}: {exc}"
            status.update(failures=status["failures"] + 1, last_error=reason, retrying=True)
            if _gives_up(sink, exc, attempt):
                dead_letter(sink, alert, reason)
                status.update(dead=status["dead"] + 1, retrying=False)
                return True
        else:
            status.update(delivered=status["delivered"] + 1, retrying=False)
            return True
        if stop.wait(min(max_delay, base_delay * 2 ** (attempt - 1))):
            return False


def new_status(sink: BaseSink) -> dict[str, Any]:
    return {
        "kind": sink.kind,
        "delivered": 0,
        "skipped": 0,
        "failures": 0,
        "dead": 0,
        "retrying": False,
        "last_error": None,
    }


def dead_letter(writer: LogWriter, sink: BaseSink, alert: Alert | str, reason: str) -> None:
    """Record an alert `sink` never took (or a message that is none), with why, in
    state/dead-letters.jsonl."""
    record = {"timestamp": now_iso(), "sink": sink.name, "reason": reason, "alert": alert}
    writer.append(DEAD_LETTERS, encode(record) + b"\n")


def _stale(sink: BaseSink, alert: Alert, notify_after: float | None) -> bool:
    if not sink.notification or notify_after is None or alert.event_time is None:
        return False
    try:
        return parse_time(alert.event_time) < notify_after
    except ValueError:
        return False


def _gives_up(sink: BaseSink, exc: Exception, attempt: int) -> bool:
    """After this failed attempt, is the alert dead-lettered (so the next one can flow)?"""
    limit = sink.max_attempts
    if not isinstance(exc, SinkError):
        limit = min(limit or UNEXPECTED_ATTEMPTS, UNEXPECTED_ATTEMPTS)
    elif exc.permanent:
        return True
    return limit is not None and attempt >= limit
