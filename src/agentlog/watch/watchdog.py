"""The running watchdog: tail the stream, detect, journal, deliver, checkpoint, heartbeat.

Order on every batch, which is what makes a restart after kill -9 exact:
    detect -> append new alerts to agent-alerts.jsonl -> (later) commit the checkpoint
The checkpoint holds the stream position *and* the engine's state at that position
(windows, cooldowns), so a restart continues as if never stopped; alerts it derives again
have the same alert_id and are skipped because the journal already holds them. Without a
checkpoint (first start, --reset) the cooldowns are rebuilt from agent-alerts.jsonl.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import msgspec

from .. import config as config_mod
from ..events import Alert, now_iso
from ..store import layout
from ..store.reader import archives_of, open_log
from ..store.tail import FileCheckpoints, Tailer
from .config import WatchConfig
from .engine import Engine
from .outbox import Outbox
from .sinks import BaseSink
from .sinks.alerts_file import AlertJournal

CHECKPOINT = "watch"
HEARTBEAT = "watch-heartbeat.json"
LOCK = "watch.lock"


class WatchError(RuntimeError):
    """The watchdog cannot run (another one holds the log dir, ...)."""


@dataclass
class WatchOptions:
    replay: bool = False  # a first start reads archives and the live file from the beginning
    since: float | None = None  # a first start reads from the beginning, ignoring older events
    once: bool = False  # process what is there, check stuck against now, exit
    reset: bool = False  # forget the checkpoint
    notify_since_s: float = 3600.0  # notification sinks get only alerts newer than this
    tick_s: float = 1.0  # how often the clock-driven checks run when the stream is quiet
    commit_interval_s: float = 1.0
    heartbeat_s: float = 2.0
    drain_timeout_s: float = 10.0  # --once: time given to sinks to deliver before exiting
    retry_base_s: float = 0.5  # first retry delay of a failing sink (doubling up to 60 s)


@dataclass
class WatchResult:
    events: int = 0
    alerts: int = 0
    malformed: int = 0
    ignored: int = 0
    lost: list[Any] = field(default_factory=list)  # checkpointed files that were gone


class Watchdog:
    def __init__(self, settings: config_mod.Settings, options: WatchOptions | None = None,
                 sinks: list[BaseSink] = (), config: WatchConfig | None = None,
                 on_alert: Callable[[Alert], None] | None = None):
        self.settings = settings
        self.options = options or WatchOptions()
        self.log_dir = Path(settings.log_dir)
        self.state_dir = self.log_dir / layout.STATE
        self.sinks = list(sinks)
        self.config = config or WatchConfig.from_settings(settings)
        self.on_alert = on_alert
        self.stop = threading.Event()
        self.ready = threading.Event()  # set once the tailer is positioned (for tests, demo)
        self.result = WatchResult()
        self.engine = Engine(self.config)
        self.started = time.time()

    def run(self) -> WatchResult:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        lock = self._lock()
        try:
            self._run()
        finally:
            os.close(lock)
        return self.result

    # -- the loop ----------------------------------------------------------------------

    def _run(self) -> None:
        opts, engine = self.options, self.engine
        self.journal = AlertJournal(self.log_dir)
        written = list(self.journal.load())  # ids of alerts already out: never written twice
        checkpoints = FileCheckpoints(self.state_dir)
        if opts.reset:
            checkpoints.path(CHECKPOINT).unlink(missing_ok=True)
        from_start = opts.replay or opts.since is not None
        self.tailer = tailer = Tailer(self.log_dir / layout.STREAM, checkpoints, CHECKPOINT,
                                      start="beginning" if from_start else "end")
        if tailer.restored and tailer.extra:
            engine.restore(tailer.extra)  # state and cooldowns as of the checkpoint
        else:
            for alert in written:  # no state saved: rebuild the cooldowns from the alerts log
                engine.remember(alert)
        if not tailer.restored and not from_start:
            self._commit(tailer.position())  # "the end" is now: a later start must not skip ahead
        engine.since = opts.since
        self.outbox = Outbox(self.log_dir, self.sinks, notify_after=time.time() - opts.notify_since_s,
                             base_delay=opts.retry_base_s)
        self.outbox.start()
        self.ready.set()
        position, committed, dirty = None, time.monotonic(), False
        last_beat = 0.0
        try:
            if from_start and not tailer.restored:
                dirty = self._archives() or dirty
            while not self.stop.is_set():
                for batch in tailer.batches():
                    self._emit(engine.feed(batch.lines))
                    self._emit(engine.tick(engine.clock))
                    position, dirty = batch.position, True
                    if time.monotonic() - committed >= opts.commit_interval_s:
                        self._commit(position)
                        committed, dirty = time.monotonic(), False
                    if self.stop.is_set():
                        break
                if self._emit(engine.tick(time.time())):
                    dirty = True
                if dirty and (opts.once or time.monotonic() - committed >= opts.commit_interval_s):
                    self._commit(position or tailer.position())
                    committed, dirty = time.monotonic(), False
                if time.monotonic() - last_beat >= opts.heartbeat_s:
                    self._heartbeat(running=True)
                    last_beat = time.monotonic()
                if opts.once:
                    break
                tailer.wait(opts.tick_s)
        finally:
            if dirty:
                self._commit(position or tailer.position())
            self.outbox.stop(opts.drain_timeout_s if opts.once else 0.0)
            self.result.events, self.result.malformed = engine.events, engine.malformed
            self.result.ignored, self.result.lost = engine.ignored, list(tailer.lost)
            self._heartbeat(running=False)
            tailer.close()

    def _archives(self) -> bool:
        """A first replay starts with the rotated, compressed history (oldest first)."""
        seen = False
        for path in archives_of(self.log_dir, layout.STREAM):
            try:
                handle = open_log(path)
            except OSError:
                continue
            with handle:
                while not self.stop.is_set():
                    lines = handle.readlines(1 << 20)
                    if not lines:
                        break
                    self._emit(self.engine.feed(lines))
                    self._emit(self.engine.tick(self.engine.clock))
                    seen = True
        return seen

    def _emit(self, alerts: list[Alert]) -> int:
        written = 0
        for alert in alerts:
            if self.journal.write(alert):
                written += 1
                if self.on_alert is not None:
                    self.on_alert(alert)
        if written:
            self.result.alerts += written
            self.outbox.wake()
        return written

    def _commit(self, position) -> None:
        self.tailer.commit(position, extra=self.engine.snapshot())

    # -- liveness ------------------------------------------------------------------------

    def _lock(self) -> int:
        path = self.state_dir / LOCK
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise WatchError(f"another `agentlog watch` (pid {holder}) is running on {self.log_dir}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        return fd

    def _heartbeat(self, running: bool) -> None:
        marks = self.tailer.position()
        beat = {"pid": os.getpid(), "running": running, "started": now_iso(self.started), "updated": now_iso(),
                "updated_epoch": time.time(), "stream": str(self.log_dir / layout.STREAM),
                "offset": marks[-1].offset if marks else 0, "lag_bytes": self.tailer.lag(),
                "last_event_time": now_iso(self.engine.clock) if self.engine.clock else None,
                "events": self.engine.events, "alerts_written": self.result.alerts,
                "active_attempts": len(self.engine.active), "sinks": self.outbox.status()}
        write_json_atomic(self.state_dir / HEARTBEAT, beat)


def write_json_atomic(path: Path, value: Any) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temp.write_bytes(msgspec.json.encode(value))
    os.replace(temp, path)


def read_heartbeat(log_dir: Path) -> dict[str, Any] | None:
    try:
        return msgspec.json.decode((Path(log_dir) / layout.STATE / HEARTBEAT).read_bytes())
    except (FileNotFoundError, msgspec.DecodeError):
        return None
