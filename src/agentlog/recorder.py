"""The recorder: every event goes through one list of processors, then to the files.

    validate -> stamp (time, id, sequence, elapsed, session context) -> classify errors
    -> encode -> fit to the size limit -> redact secrets -> append to every file it belongs in

Adding a step means adding a function to `processors` (dict -> dict) or to the
byte stage. The Python API, `agentlog emit`, the importers and the hooks all record
through here, so an event is the same whoever wrote it.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from contextlib import contextmanager, nullcontext
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol

from . import config
from .events import EARLIEST, EventError, decode_line, encode, new_event_id, now_iso, parse_time, validate
from .store import layout, modes
from .store.metrics import session_metrics
from .store.writer import LogWriter, store_error

Processor = Callable[[dict[str, Any]], dict[str, Any]]


class Writer(Protocol):
    """Where recorded lines go: files (`LogWriter`) or memory (`agentlog.testing`)."""

    def append_many(self, relpaths: tuple[str, ...], line: bytes) -> None: ...
    def write_batch(self, batch: dict[str, list[bytes]]) -> None: ...
    def read(self, relpath: str) -> Iterator[dict[str, Any]]: ...
    def ends(self, relpath: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


LOCKED_ATTEMPTS = 256  # attempts locked at once in locked mode: bounds the descriptors open
MAX_ATTEMPTS = 10_000  # remembered at once; the oldest is forgotten first and resumed from disk if it returns
_CONTEXT = ("session_id", "task_id", "task_title", "executor", "executor_variant", "model", "branch")
TRUNCATION_MARK = "…[agentlog: truncated {} chars]"


class _Attempt:
    """What the recorder remembers per attempt: enough to number and time its events."""

    __slots__ = ("relpath", "start", "next_seq", "context")

    def __init__(self, relpath: str, start: float | None, next_seq: int, context: dict[str, Any]):
        self.relpath, self.start, self.next_seq, self.context = relpath, start, next_seq, context


class Recorder:
    """Validates, enriches, redacts and appends events to the log directory.

    `locked=True` (used by one-shot processes such as `agentlog emit`) re-reads each
    attempt's numbering from its transcript under a file lock, so separate processes
    recording one attempt still get one gap-free sequence.
    """

    def __init__(
        self,
        settings: config.Settings | None = None,
        *,
        log_dir: Path | str | None = None,
        locked: bool = False,
        writer: Writer | None = None,
    ):
        self.settings = settings or config.load()
        modes.use(self.settings.file_mode)
        self.enabled = self.settings.logging_enabled
        self.log_dir = Path(log_dir or self.settings.log_dir)
        self.writer = writer or LogWriter(self.log_dir, fsync=self.settings.fsync)
        self.max_bytes = self.settings.max_event_bytes
        self.locked = locked
        self.redact = redactor(self.settings)
        self.tolerance = self.settings.clock_tolerance_ms / 1000
        self.processors: list[Processor] = [validate, self._bound_time, self._stamp, self._classify_error]
        self._attempts: dict[str, _Attempt] = {}
        self.max_attempts = MAX_ATTEMPTS
        self._taxonomy = None
        self._lock = threading.Lock()
        self._resumed: set[str] = set()  # locked: attempts known current under the locks held now
        self._sizes: dict[str, int] = {}  # locked: transcript sizes as our last hold left them

    # -- public --------------------------------------------------------------

    def record(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Record one event; returns it as written, or None when logging is disabled."""
        if not self.enabled:
            return None
        with self._lock:
            try:
                with self._attempt_locks([event]) if self.locked else nullcontext():
                    return self._record(event)
            finally:
                self._forget_oldest()

    def _record(self, event: dict[str, Any]) -> dict[str, Any]:
        event, line, targets = self._prepare(event)
        self.writer.append_many(targets, line)
        if event["event_type"] == "session_end":
            self._finish(event)
        return event

    def record_many(
        self, events: Iterable[dict[str, Any]], on_invalid: Callable[[int, EventError], None] | None = None
    ) -> list[dict[str, Any]]:
        """Record events in order, as `record` would, with one write per file per batch.

        What a batch holds reaches each file in one write() (whole lines, in order), so
        recording 1,000 events costs a few system calls instead of 2,000; the batch is
        acknowledged when this returns. An invalid event raises EventError once the events
        before it are written, unless `on_invalid(index, error)` takes it and the batch
        goes on without it.
        """
        if not self.enabled:
            return []
        batch = _Batch(self.writer)
        recorded: list[dict[str, Any]] = []
        with self._lock:
            try:
                if not self.locked:
                    self._add_all(enumerate(events), batch, recorded, on_invalid)
                    return recorded
                # other processes share these attempts: a chunk's events are numbered and
                # written while their attempts' locks are held (one lock round-trip per
                # attempt and chunk, not per event)
                for chunk in _by_attempts(enumerate(events), LOCKED_ATTEMPTS):
                    with self._attempt_locks([event for _, event in chunk]):
                        try:
                            self._add_all(chunk, batch, recorded, on_invalid)
                        finally:
                            batch.write()  # before the locks go: the next holder reads the numbers on disk
                return recorded
            finally:
                batch.write()
                self._forget_oldest()

    def _add_all(
        self,
        numbered: Iterable[tuple[int, dict[str, Any]]],
        batch: _Batch,
        recorded: list,
        on_invalid: Callable[[int, EventError], None] | None,
    ) -> None:
        for index, event in numbered:
            try:
                recorded.append(self._add(event, batch))
            except EventError as exc:
                if on_invalid is None:
                    raise
                on_invalid(index, exc)

    def _add(self, event: dict[str, Any], batch: _Batch) -> dict[str, Any]:
        event, line, targets = self._prepare(event)
        batch.add(targets, line)
        if event["event_type"] == "session_end":
            batch.write()  # the metrics line is derived from the transcript on disk
            self._finish(event)
        return event

    def _prepare(self, event: dict[str, Any]) -> tuple[dict[str, Any], bytes, tuple[str, ...]]:
        """The event through every processor, its line, and the files the line goes to."""
        for process in self.processors:
            event = process(event)
        attempt = self._attempts[event["attempt_id"]]
        try:
            line = self.redact(self._fit(event)) + b"\n"
        except EventError:
            if attempt.next_seq == event["sequence_num"] + 1:
                attempt.next_seq -= 1  # never written: its number goes to the next event, no hole
            raise
        relpath = attempt.relpath
        if event["event_type"] == "error":
            return event, line, (layout.STREAM, relpath, layout.ERRORS)
        return event, line, (layout.STREAM, relpath)

    def record_line(self, raw: bytes) -> dict[str, Any] | None:
        """Record one stream-format JSON line."""
        return self.record(decode_line(raw))

    def record_lines(self, lines: Iterable[tuple[int, bytes]], on_invalid: Callable[[int, EventError], None]) -> int:
        """Record numbered stream-format JSON lines in one batch (what `agentlog emit -`
        reads); a line that is not an event goes to `on_invalid(number, error)`. Returns
        how many were recorded."""
        events, numbers = [], []
        for number, raw in lines:
            try:
                events.append(decode_line(raw))
                numbers.append(number)
            except EventError as exc:
                on_invalid(number, exc)
        return len(self.record_many(events, lambda index, exc: on_invalid(numbers[index], exc)))

    def flush(self) -> None:
        """The acknowledgement point in fsync=batch mode: everything so far is on disk."""
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- processors -----------------------------------------------------------

    def _bound_time(self, event: dict[str, Any]) -> dict[str, Any]:
        """A writer's clock is believed from 2000 to arrival + `clock_tolerance_ms`: one
        machine's clock hours ahead would otherwise hold its attempt out of every check of
        real time, and 0001-01-01 (an unset time) makes no event id. Outside, the event is
        recorded at its arrival, flagged `clamped`, and its own time kept."""
        timestamp = event.get("timestamp")
        if timestamp is None:
            return event
        arrival = time.time()
        if EARLIEST <= parse_time(timestamp) <= arrival + self.tolerance:
            return event
        event["timestamp"] = now_iso(arrival)
        event["timestamp_quality"] = "clamped"
        event["timestamp_original"] = timestamp
        return event

    def _stamp(self, event: dict[str, Any]) -> dict[str, Any]:
        timestamp = event.get("timestamp")
        if timestamp is None:
            now = time.time()
            event["timestamp"] = now_iso(now)
        else:
            now = parse_time(timestamp)
        if "event_id" not in event:
            event["event_id"] = new_event_id(now)
        attempt = self._attempt(event, now)
        if not event.keys() >= attempt.context.keys():  # one C-level check for the usual case
            for key, value in attempt.context.items():
                event.setdefault(key, value)
        sequence = event.get("sequence_num")
        if sequence is None:
            sequence = event["sequence_num"] = attempt.next_seq
        attempt.next_seq = max(attempt.next_seq, sequence) + 1
        if attempt.start is not None and event.get("elapsed_ms") is None:
            event["elapsed_ms"] = max(0, int((now - attempt.start) * 1000))
        return event

    def _classify_error(self, event: dict[str, Any]) -> dict[str, Any]:
        """Give every error a fingerprint and a category; the caller's own always win."""
        if event["event_type"] != "error":
            return event
        data = event["data"]
        if data.get("error_fingerprint") and data.get("error_category"):
            return event
        from .intel import analyze_error, taxonomy_for  # only error events pay for the import

        if self._taxonomy is None:
            self._taxonomy = taxonomy_for(self.settings)
        info = analyze_error(
            data["error_message"], data.get("error_fingerprint"), data.get("error_category"), taxonomy=self._taxonomy
        )
        data["error_fingerprint"] = info.fingerprint
        data["error_category"] = info.category
        return event

    # -- per-attempt state ------------------------------------------------------

    def _attempt(self, event: dict[str, Any], now: float) -> _Attempt:
        attempt_id = event["attempt_id"]
        # locked: what another process wrote since we last held the lock is on disk
        state = self._attempts.get(attempt_id) if not self.locked or attempt_id in self._resumed else None
        if state is None:
            state = self._attempts[attempt_id] = self._resume(attempt_id)
            if self.locked:
                self._resumed.add(attempt_id)
        if state.start is None:
            state.start = now
        if not state.context:
            state.context = {k: event[k] for k in _CONTEXT if event.get(k) is not None}
        return state

    def _forget_oldest(self) -> None:
        """Bound the memory of a long-running recorder (`otel serve`, the guard) whose
        attempts never end; called between writes, so a forgotten attempt's transcript is
        complete on disk and `_resume` continues its numbering exactly."""
        excess = len(self._attempts) - self.max_attempts
        if excess > 0:
            for attempt_id in list(islice(self._attempts, excess)):
                del self._attempts[attempt_id]
        if len(self._sizes) > self.max_attempts:
            self._sizes = {k: v for k, v in self._sizes.items() if k in self._attempts}

    def _resume(self, attempt_id: str) -> _Attempt:
        """Continue numbering where the transcript on disk left off (another process, a restart)."""
        relpath = f"{layout.SESSIONS}/{layout.session_file_name(attempt_id)}"
        first, last = self.writer.ends(relpath)
        if first is None:
            return _Attempt(relpath, None, 1, {})
        last = last or first
        try:
            start = parse_time(first["timestamp"])
        except (KeyError, TypeError, ValueError):
            start = None
        context = {k: first[k] for k in _CONTEXT if first.get(k) is not None}
        return _Attempt(relpath, start, int(last.get("sequence_num") or 0) + 1, context)

    @contextmanager
    def _attempt_locks(self, events: list[Any]) -> Iterator[None]:
        """Hold the transcript locks of these events' attempts, taken in name order (so two
        processes locking overlapping sets never wait for each other in a circle). An
        attempt whose transcript has the size our last write left is numbered from memory;
        another, from its transcript (another process wrote meanwhile)."""
        ids = sorted({e["attempt_id"] for e in events if isinstance(e, dict) and isinstance(e.get("attempt_id"), str)})
        held: list[tuple[str, int]] = []
        self._resumed = set()
        try:
            for attempt_id in filter(None, ids):
                path = layout.session_path(self.log_dir, attempt_id)
                try:
                    modes.make_dirs(path.parent)
                    fd = modes.create(path, os.O_WRONLY | os.O_APPEND)
                except OSError as exc:
                    raise store_error(path, exc, "cannot open") from None
                held.append((attempt_id, fd))
                fcntl.flock(fd, fcntl.LOCK_EX)
                if attempt_id in self._attempts and self._sizes.get(attempt_id) == os.fstat(fd).st_size:
                    self._resumed.add(attempt_id)
            yield
        finally:
            for attempt_id, fd in held:
                self._sizes[attempt_id] = os.fstat(fd).st_size  # what we wrote is on disk by now
                os.close(fd)  # closing releases the lock

    # -- writing ----------------------------------------------------------------

    def _fit(self, event: dict[str, Any]) -> bytes:
        line = encode(event)
        while len(line) > self.max_bytes:
            if not truncate_largest(event["data"], len(line) - self.max_bytes):
                raise EventError("event", f"{len(line)} bytes without a string to truncate")
            line = encode(event)
        return line

    def _finish(self, event: dict[str, Any]) -> None:
        state = self._attempts.pop(event["attempt_id"])
        metrics = session_metrics(self.writer.read(state.relpath))
        self.writer.append_many((layout.METRICS,), self.redact(encode(metrics)) + b"\n")


def _by_attempts(numbered: Iterable[tuple[int, Any]], limit: int) -> Iterator[list[tuple[int, Any]]]:
    """Consecutive runs of events that name at most `limit` attempts each."""
    chunk: list[tuple[int, Any]] = []
    attempts: set[Any] = set()
    for index, event in numbered:
        attempt_id = event.get("attempt_id") if isinstance(event, dict) else None
        if attempt_id not in attempts and len(attempts) >= limit:
            yield chunk
            chunk, attempts = [], set()
        attempts.add(attempt_id)
        chunk.append((index, event))
    if chunk:
        yield chunk


class _Batch:
    """Lines waiting for their write, per file; written when about a MiB has gathered."""

    LIMIT = 1 << 20

    def __init__(self, writer: Writer, limit: int = LIMIT):
        self.writer, self.limit = writer, limit
        self.lines: dict[str, list[bytes]] = {}
        self.size = 0

    def add(self, targets: tuple[str, ...], line: bytes) -> None:
        for relpath in targets:
            self.lines.setdefault(relpath, []).append(line)
        self.size += len(line)
        if self.size >= self.limit:
            self.write()

    def write(self) -> None:
        lines, self.lines, self.size = self.lines, {}, 0
        if lines:
            self.writer.write_batch(lines)


def truncate_largest(data: dict[str, Any], excess: int) -> bool:
    """Cut the largest string in `data` (searched recursively) by about `excess` chars."""
    best: tuple[int, Any, Any] | None = None
    stack: list[Any] = [data]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            if isinstance(value, str):
                if best is None or len(value) > best[0]:
                    best = (len(value), node, key)
            elif isinstance(value, (dict, list)):
                stack.append(value)
    if best is None or best[0] < 64:
        return False
    size, node, key = best
    keep = max(0, size - excess - 64)
    node[key] = node[key][:keep] + TRUNCATION_MARK.format(size - keep)
    return True


def redactor(settings: config.Settings) -> Callable[[bytes], bytes]:
    """The settings' secret scrubber for encoded lines (a no-op with redact = false)."""
    from .redact import Redactor

    return Redactor(settings.section("redact").get("patterns"), enabled=settings.redact)
