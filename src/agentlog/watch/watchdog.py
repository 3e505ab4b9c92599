"""The running watchdog: tail the stream, detect, journal, deliver, checkpoint, heartbeat.

Order on every batch, which is what makes a restart after kill -9 exact:
    detect -> append new alerts to agent-alerts.jsonl -> (later) commit the checkpoint
The checkpoint holds the stream position *and* the engine's state at that position
(windows, cooldowns), so a restart continues as if never stopped; alerts it derives again
have the same alert_id and are skipped because the journal already holds them. Without a
checkpoint (first start, --reset) the cooldowns are rebuilt from agent-alerts.jsonl.
Each batch is fed with the wall time it was read (event times are believed up to that plus
`clock_tolerance_ms`); the wall clock judges quiet attempts only once the tailer has
nothing more to read, never between the batches of a catch-up (see docs/watch-engine.md).

The checkpoint is encoded on the detection thread (a consistent copy, taken after the
alerts it covers were appended) and written, with its fsync, by the tailer's committer
thread, so a slow disk never delays the next alert. Side jobs (transcript following,
rotation, the weekly report: see schedule.py) run on threads of their own.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import msgspec

from .. import config as config_mod, intel
from ..events import Alert, now_iso
from ..store import layout, modes
from ..store.atomic import replace_file
from ..store.cursor import MAX_LINE
from ..store.tail import FileCheckpoints, Tailer, read_finished
from .config import WatchConfig, for_log
from .engine import Engine
from .outbox import Outbox
from .job import Job
from .sinks import BaseSink
from ..store.alerts import AlertJournal
from .view import Malformed

CHECKPOINT = "watch"
HEARTBEAT = "watch-heartbeat.json"
LOCK = "watch.lock"
MAX_MALFORMED_NOTES = 20  # malformed lines told (file, byte, reason) per run; the rest are counted
ENCODE_SHARE = 500  # the checkpoint's encoding may take 0.2% of the detection thread's time


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
    job_timeout_s: float = 60.0  # on exit: time given to side jobs to finish what they do
    retry_base_s: float = 0.5  # first retry delay of a failing sink (doubling up to 60 s)


@dataclass
class WatchResult:
    events: int = 0
    alerts: int = 0
    malformed: int = 0
    ignored: int = 0
    misdated: int = 0  # events dated past when they were read (plus the tolerance), or before 2000
    lost: list[Any] = field(default_factory=list)  # checkpointed files that were gone
    job_errors: list[str] = field(default_factory=list)  # side jobs that stopped on an error


class Watchdog:
    def __init__(
        self,
        settings: config_mod.Settings,
        options: WatchOptions | None = None,
        sinks: list[BaseSink] = (),
        config: WatchConfig | None = None,
        on_alert: Callable[[Alert], None] | None = None,
        jobs: list[Job] = (),
        on_note: Callable[[str], None] | None = None,
    ):
        self.settings = settings
        self.options = options or WatchOptions()
        self.log_dir = Path(settings.log_dir)
        self.state_dir = self.log_dir / layout.STATE
        self.sinks = list(sinks)
        self.config = for_log(config or WatchConfig.from_settings(settings), settings)
        self.on_alert = on_alert
        self.jobs = list(jobs)
        self.on_note = on_note
        self.stop = threading.Event()
        self.ready = threading.Event()  # set once the tailer is positioned (for tests, demo)
        self.result = WatchResult()
        self.engine = Engine(self.config)
        self.started = time.time()
        self._encode_s = 0.0  # how long the last checkpoint took to encode
        self._skipped = 0  # lines skipped for their length (the engine counts the other malformed ones)

    def run(self) -> WatchResult:
        modes.make_dirs(self.state_dir)
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
        for job in self.jobs:
            try:
                job.prepare()  # before the position is taken: a first start skips what they catch up
            except OSError as exc:
                raise WatchError(f"{job.name}: {exc}") from None
        from_start = opts.replay or opts.since is not None
        self.tailer = tailer = Tailer(
            self.log_dir / layout.STREAM, checkpoints, CHECKPOINT, start="history" if from_start else "end"
        )
        # state and cooldowns as of the checkpoint; with none saved (or one an older engine
        # wrote), the cooldowns are rebuilt from the alerts log and ids already out are skipped
        if not (tailer.restored and tailer.extra and engine.restore(tailer.extra)):
            for alert in written:
                engine.remember(alert)
        engine.since = opts.since
        self.outbox = Outbox(
            self.log_dir, self.sinks, notify_after=time.time() - opts.notify_since_s, base_delay=opts.retry_base_s
        )
        self.outbox.start()
        jobs_stop = threading.Event()
        threads = self._start_jobs(jobs_stop)
        intel.prepare()  # else the first error without a fingerprint compiles its regexes (~20 ms)
        self.ready.set()
        position, committed, dirty = None, time.monotonic(), False
        last_beat = 0.0
        try:
            if not tailer.restored and self._archives(from_start):
                # where this first start began (after the history it replayed): a restart,
                # even one killed within its first commit interval, goes on from here
                tailer.commit(tailer.position(), extra=engine.snapshot())
            while not self.stop.is_set():
                for batch in tailer.batches():
                    start = batch.position[batch.index].offset - batch.end
                    report = self._reporter(batch.path, batch.chunk, start)
                    self._emit(engine.feed(batch.chunk, report, now=time.time(), end=batch.end))
                    self._tell_skipped()
                    position, dirty = batch.position, True
                    if self._commit_due(committed):
                        self._commit(position)
                        committed, dirty = time.monotonic(), False
                    if self.stop.is_set():
                        break
                self._tell_skipped()  # a skipped line may be the last one read
                if self._emit(engine.tick(time.time())):  # caught up: only now does the wall clock count
                    dirty = True
                if dirty and not opts.once and self._commit_due(committed):
                    self._commit(position or tailer.position())
                    committed, dirty = time.monotonic(), False
                if time.monotonic() - last_beat >= opts.heartbeat_s:
                    self._heartbeat(running=True)
                    last_beat = time.monotonic()
                if opts.once:
                    break
                tailer.wait(opts.tick_s)
        finally:
            try:
                if dirty:
                    tailer.commit(position or tailer.position(), extra=engine.snapshot())
                tailer.settle()
            finally:
                self._stop_jobs(jobs_stop, threads)
                self.outbox.stop(opts.drain_timeout_s if opts.once else 0.0)
                self.result.events, self.result.malformed = engine.events, engine.malformed + self._skipped
                self.result.ignored, self.result.lost = engine.ignored, list(tailer.lost)
                self.result.misdated = engine.misdated
                self._heartbeat(running=False)
                tailer.close()

    def _archives(self, replay: bool) -> bool:
        """A first replay starts with the rotated, compressed history (oldest first); False
        when stopped before its end (then no position may be saved: the rest would be skipped)."""
        for path in self.tailer.history() if replay else ():
            read = 0
            try:
                for chunk, end, start in read_finished(path, self.tailer.skipped):
                    if self.stop.is_set():
                        return False
                    self._emit(self.engine.feed(chunk, self._reporter(path, chunk, start), now=time.time(), end=end))
                    read = start + end
            except (OSError, EOFError, zlib.error) as exc:  # a damaged archive: the lines before the damage count
                if self.on_note is not None:
                    self.on_note(f"{path}: unreadable after uncompressed byte {read}: {exc}; the rest skipped")
            self._tell_skipped()
        return True

    def _tell_skipped(self) -> None:
        """Report the lines the tailer skipped for their length (file, offset); each counts
        as a malformed line."""
        for path, offset, length in self.tailer.skipped:
            self._skipped += 1
            where = "uncompressed byte" if path.suffix == ".gz" else "byte"
            if self.on_note is not None:
                self.on_note(f"{path}: {where} {offset}: a line of {length:,} bytes, over {MAX_LINE:,}; skipped")
        self.tailer.skipped.clear()

    def _reporter(self, path: Path | None, data: memoryview, start: int) -> Callable[[Malformed], None]:
        """Says where a malformed line of `data` (lines) is (file, byte offset) and why,
        through `on_note`; `data` begins at byte `start` of `path`. The first
        MAX_MALFORMED_NOTES of a run are told, the rest only counted."""

        def report(bad: Malformed) -> None:
            told = self.engine.malformed
            if self.on_note is None or told > MAX_MALFORMED_NOTES:
                return
            before = sum(len(line) + 1 for line in bytes(data).split(b"\n", bad.index)[: bad.index])
            offset = start + before
            where = "uncompressed byte" if path is not None and path.suffix == ".gz" else "byte"
            self.on_note(f"{path}: {where} {offset}: {bad.reason}; skipped")
            if told == MAX_MALFORMED_NOTES:
                self.on_note(f"{told} malformed lines told; any more are only counted")

        return report

    def _emit(self, alerts: list[Alert]) -> int:
        written = self.journal.write_all(alerts)
        if self.on_alert is not None:
            for alert in written:
                self.on_alert(alert)
        if written:
            self.result.alerts += len(written)
            self.outbox.wake()
        return len(written)

    def _commit_due(self, committed: float) -> bool:
        """Once per commit interval, stretched so that encoding the state (O(attempts kept),
        on this thread) takes at most 1/ENCODE_SHARE of it; never while the last commit is
        still being written."""
        interval = max(self.options.commit_interval_s, self._encode_s * ENCODE_SHARE)
        return time.monotonic() - committed >= interval and not self.tailer.committing

    def _commit(self, position) -> None:
        started = time.perf_counter()
        self.tailer.commit_background(position, extra=self.engine.snapshot())
        self._encode_s = time.perf_counter() - started

    # -- side jobs -------------------------------------------------------------------------

    def _start_jobs(self, stop: threading.Event) -> list[threading.Thread]:
        threads = []
        for job in self.jobs:
            thread = threading.Thread(target=self._job, args=(job, stop), name=f"job-{job.name}", daemon=True)
            thread.start()
            threads.append(thread)
        return threads

    def _job(self, job: Job, stop: threading.Event) -> None:
        try:
            job.run(stop, self._note)
        except Exception as exc:  # noqa: BLE001 - a side job never takes detection down with it
            self.result.job_errors.append(f"{job.name}: {exc!r}")
            self._note(f"{job.name} stopped: {exc!r}")

    def _stop_jobs(self, stop: threading.Event, threads: list[threading.Thread]) -> None:
        stop.set()
        deadline = time.monotonic() + self.options.job_timeout_s
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _note(self, text: str) -> None:
        if self.on_note is not None:
            self.on_note(text)

    # -- liveness ------------------------------------------------------------------------

    def _lock(self) -> int:
        path = self.state_dir / LOCK
        fd = modes.create(path, os.O_RDWR)
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
        beat = {
            "pid": os.getpid(),
            "running": running,
            "started": now_iso(self.started),
            "updated": now_iso(),
            "updated_epoch": time.time(),
            "stream": str(self.log_dir / layout.STREAM),
            "offset": marks[-1].offset if marks else 0,
            "lag_bytes": self.tailer.lag(),
            "last_event_time": now_iso(self.engine.clock) if self.engine.clock else None,
            "events": self.engine.events,
            "alerts_written": self.result.alerts,
            "active_attempts": len(self.engine.active),
            "parked_attempts": len(self.engine.parked),
            "sinks": self.outbox.status(),
        }
        replace_file(self.state_dir / HEARTBEAT, msgspec.json.encode(beat), durable=False)


def read_heartbeat(log_dir: Path) -> dict[str, Any] | None:
    try:
        return msgspec.json.decode((Path(log_dir) / layout.STATE / HEARTBEAT).read_bytes())
    except (FileNotFoundError, msgspec.DecodeError):
        return None
