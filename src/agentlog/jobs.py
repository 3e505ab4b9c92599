"""The jobs `agentlog watch` runs beside detection, each on a thread and a clock of its own
(watch/job.py says what a job is; the watchdog knows no more of them).

    jobs = [TranscriptFollower(settings, "claude-code"),       # watch --follow claude-code
            RotateEvery(settings, 86400),                       # watch --rotate-every 1d
            WeeklyReport(settings, "SUN 09:00", sinks)]         # watch --weekly-report "SUN 09:00"
    Watchdog(settings, options, sinks=sinks, jobs=jobs).run()

A job's `prepare()` runs before the watchdog takes its place in the stream (the follower
imports what was written while nobody followed, so a first start does not re-analyse a
whole history); `run(stop, note)` loops until `stop` is set, reporting through `note`.
None of them touches detection: they write to the log (the follower), move files the
tailer follows anyway (rotation) or read the log (the report).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

from .store import layout
from .store.tail import FileCheckpoints
from .watch.job import BaseJob, Note
from .watch.sinks import BaseSink, SinkError


# --- watch --follow ---------------------------------------------------------------------


class TranscriptFollower(BaseJob):
    """Imports an agent's own transcripts into the stream as they are written.

    Woken by file changes under the folder (watchfiles), and every `idle_s` anyway: a
    transcript left alone for the importer's open window gets its session_end then.
    Without notifications (or before the folder exists) it looks every `poll_s`.
    """

    def __init__(
        self, settings: Any, agent: str, path: Path | str | None = None, *, idle_s: float = 30.0, poll_s: float = 2.0
    ):
        from .agents import get

        self.importer = get(agent).importer()  # KeyError for an unknown agent
        self.name = f"follow-{self.importer.name}"
        self.settings = settings
        self.root = Path(path or self.importer.default_path).expanduser()
        self.idle_s, self.poll_s = idle_s, poll_s
        self.events = 0
        self._recorder = self._state = self._pricing = None

    def prepare(self) -> None:
        from .capture.incremental import ImportState
        from .capture.pricing import Pricing
        from .recorder import Recorder

        self._recorder = Recorder(self.settings)
        self._state = ImportState.load(self._recorder.log_dir, self.importer.name)
        self._pricing = Pricing.load(self.settings.section("pricing"))
        self.step()

    def step(self) -> int:
        """Import what is new; returns how many events were recorded."""
        from .capture.incremental import follow_once

        result = follow_once(self.importer, self.root, self._recorder, self._state, pricing=self._pricing)
        self.events += result.stats.events
        return result.stats.events

    def run(self, stop: threading.Event, note: Note) -> None:
        if self._recorder is None:
            self.prepare()
        note(f"following {self.importer.name} transcripts in {self.root}")
        last, caught_up = time.monotonic(), False
        try:
            for changed in self._changes(stop):
                # the first quiet spell also covers writes made before the watch was set up
                if changed or not caught_up or time.monotonic() - last >= self.idle_s:
                    self.step()
                    last, caught_up = time.monotonic(), True
        finally:
            self._recorder.close()

    def _changes(self, stop: threading.Event):
        """Yields True when the transcripts changed, False after `poll_s` of quiet."""
        while not stop.is_set():
            if not self.root.exists():  # not created yet (the agent never ran): look again soon
                if stop.wait(self.poll_s):
                    return
                yield True
                continue
            try:
                import watchfiles

                for changes in watchfiles.watch(
                    self.root,
                    stop_event=stop,
                    debounce=300,
                    step=30,
                    rust_timeout=int(self.poll_s * 1000),
                    yield_on_timeout=True,
                    raise_interrupt=False,
                ):
                    yield bool(changes)
            except (ImportError, OSError, RuntimeError):  # no notifications here: poll
                if stop.wait(self.poll_s):
                    return
                yield True


# --- watch --rotate-every -------------------------------------------------------------------


class RotateEvery(BaseJob):
    """`agentlog rotate` at the start and then every `every_s` seconds.

    Rotation only moves what its policy says is due, and the tailer follows renames, so
    the watchdog reads on undisturbed. A rotation already running elsewhere (cron) is
    not an error: this one is skipped.
    """

    name = "rotate"

    def __init__(self, settings: Any, every_s: float, rotate: Callable[..., Any] | None = None):
        if every_s <= 0:
            raise ValueError("the rotation interval must be positive")
        from .store.rotate import rotate as default

        self.settings, self.every_s = settings, every_s
        self.rotate = rotate or default
        self.runs = 0

    def run(self, stop: threading.Event, note: Note) -> None:
        from .store.rotate import RotationBusy

        while True:
            try:
                report = self.rotate(self.settings)
                self.runs += 1
                moved = report.count("rotate") + report.count("archive")
                if moved or report.count("delete"):
                    note(f"rotated {moved} file(s), deleted {report.count('delete')} expired archive(s)")
            except RotationBusy as exc:
                note(f"rotation skipped: {exc}")
            except OSError as exc:
                note(f"rotation failed: {exc}")
            if stop.wait(self.every_s):
                return


# --- watch --weekly-report ---------------------------------------------------------------------

DELIVERY = "weekly-report-delivery"  # state/: which sinks already have the slot being sent
MAX_RETRY_S = 900.0


class ReportNotDelivered(RuntimeError):
    """Some sinks did not take the report; it is sent again to those later."""


class WeeklyReport(BaseJob):
    """Builds, writes and sends the weekly report when its slot comes.

    A slot is marked sent only once every sink took it. Sinks that took it are
    remembered (state/weekly-report-delivery.checkpoint.json), so a retry, also after a
    restart, goes only to the others: no week is skipped and none is sent twice.
    """

    name = "weekly-report"

    def __init__(
        self,
        settings: Any,
        spec: str,
        sinks: list[BaseSink],
        *,
        out_dir: Path | str | None = None,
        days: int = 7,
        clock: Callable[[], float] = time.time,
        check_s: float = 60.0,
        retry_s: float = 30.0,
    ):
        from .report import WeeklySchedule

        state_dir = settings.log_path / layout.STATE
        self.schedule = WeeklySchedule(spec, state_dir)  # ValueError for a bad spec
        self.delivery = FileCheckpoints(state_dir)
        self.settings, self.sinks, self.days, self.clock = settings, list(sinks), days, clock
        self.out_dir = Path(out_dir) if out_dir is not None else settings.log_path / "reports"
        self.check_s, self.retry_s = check_s, retry_s

    def step(self) -> tuple[float, dict[str, Path]] | None:
        """Send the report if its slot is due: (slot, written files), or None when not due.

        Raises ReportNotDelivered when a sink failed (the slot stays due).
        """
        from .report import build_report, report_text, write_report

        slot = self.schedule.due(self.clock())
        if slot is None:
            return None
        report = build_report(self.settings, days=self.days, now=slot)
        paths = write_report(report, self.out_dir)
        text = report_text(report)
        done = self._delivered(slot)
        failures = []
        for sink in self.sinks:
            if sink.name in done:
                continue
            try:
                if sink.send_report(text, paths):
                    done.add(sink.name)
                    self.delivery.save(DELIVERY, {"slot": slot, "sinks": sorted(done)})
            except SinkError as exc:
                failures.append(f"{sink.name}: {exc}")
            except Exception as exc:  # noqa: BLE001 - a sink's bug: retried like a failure
                failures.append(f"{sink.name}: {exc!r}")
        if failures:
            raise ReportNotDelivered("; ".join(failures))
        self.schedule.mark_sent(slot)
        return slot, paths

    def run(self, stop: threading.Event, note: Note) -> None:
        retry = self.retry_s
        while True:
            wait = self.check_s
            try:
                sent = self.step()
                retry = self.retry_s
                if sent is not None:
                    note(f"weekly report sent: {', '.join(str(p) for p in sent[1].values())}")
                now = self.clock()
                wait = min(self.check_s, max(1.0, self.schedule.next_time(now) - now))
            except Exception as exc:  # noqa: BLE001 - a sink down, the disk full: this slot stays due
                what = "not delivered" if isinstance(exc, ReportNotDelivered) else "failed"
                note(f"weekly report {what}, retrying in {retry:.0f} s: {exc}")
                wait, retry = retry, min(MAX_RETRY_S, retry * 2)
            if stop.wait(wait):
                return

    def _delivered(self, slot: float) -> set[str]:
        saved = self.delivery.load(DELIVERY) or {}
        return set(saved.get("sinks", [])) if saved.get("slot") == slot else set()
