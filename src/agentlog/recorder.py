"""The recorder: every event goes through one pipeline, then to the files.

    validate -> stamp (time, id, sequence, elapsed, session context) -> classify errors
    -> [processors] -> encode -> fit to the size limit -> redact secrets
    -> append to every file it belongs in

The pipeline is the native core's (`agentlog._core.Pipeline`, native/src/record/); this
class is its Python face and holds the rare steps it calls back: resuming an attempt's
numbering from its transcript, classifying an error, cutting an oversized event, a
session's metrics line, and the file locks of `locked` mode. Functions appended to
`processors` (dict -> dict) run after stamping, in Python: the slow path. The Python API,
`agentlog emit`, the importers and the hooks all record through here, so an event is the
same whoever wrote it.
"""

from __future__ import annotations

import copy
import fcntl
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol

from . import _core, config
from .events import EARLIEST, EventError, decode_line, encode, parse_time
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
        self.locked = locked
        self.redact = redactor(self.settings)
        self.processors: list[Processor] = []  # run after stamping, in Python: the slow path
        self._core = _core.Pipeline(
            self,
            _lines_to(self.writer),
            self.redact,
            max_bytes=self.settings.max_event_bytes,
            tolerance=self.settings.clock_tolerance_ms / 1000,
            earliest=EARLIEST,
            stream=layout.STREAM,
            errors=layout.ERRORS,
            context=_CONTEXT,
            processors=self.processors,
            max_attempts=MAX_ATTEMPTS,
        )
        self._taxonomy = None
        self._lock = threading.Lock()
        self._sizes: dict[str, int] = {}  # locked: transcript sizes as our last hold left them

    @property
    def writer(self) -> Writer:
        return self._writer

    @writer.setter
    def writer(self, writer: Writer) -> None:
        """Where lines go (an import's intent completion swaps it for a while)."""
        self._writer = writer
        if hasattr(self, "_core"):
            self._core.writer = _lines_to(writer)

    @property
    def max_attempts(self) -> int:
        """Attempts remembered at once; the oldest is forgotten first and resumed from disk."""
        return self._core.max_attempts

    @max_attempts.setter
    def max_attempts(self, value: int) -> None:
        self._core.max_attempts = value

    @property
    def attempts_remembered(self) -> int:
        return len(self._core)

    # -- public --------------------------------------------------------------

    def record(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Record one event; returns it as written (a stamped copy: the dict given is never
        changed), or None when logging is disabled."""
        if not self.enabled:
            return None
        with self._lock:
            if not self.locked:
                return self._core.record(event)
            try:
                with self._attempt_locks(_attempt_ids([event])):
                    return self._core.record(event)
            finally:
                self._forget_sizes()

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
        with self._lock:
            if not self.locked:
                return self._core.record_many(events, on_invalid)
            # other processes share these attempts: a chunk's events are numbered and
            # written while their attempts' locks are held (one lock round-trip per
            # attempt and chunk, not per event)
            recorded: list[dict[str, Any]] = []
            try:
                for chunk in _by_attempts(enumerate(events), LOCKED_ATTEMPTS):
                    indices = [index for index, _ in chunk]
                    invalid = on_invalid and (lambda i, exc, indices=indices: on_invalid(indices[i], exc))
                    with self._attempt_locks(_attempt_ids(event for _, event in chunk)):
                        recorded += self._core.record_many([event for _, event in chunk], invalid)
                return recorded
            finally:
                self._forget_sizes()

    def record_line(self, raw: bytes) -> dict[str, Any] | None:
        """Record one stream-format JSON line."""
        return self.record(decode_line(raw))

    def record_chunk(self, data: bytes, first: int, on_invalid: Callable[[int, EventError], None]) -> int:
        """Record the stream-format JSON lines of `data` (whole lines, the first numbered
        `first`: what `agentlog emit -` reads) in one batch. Unless something about a line
        needs Python, it is decoded, checked, stamped and encoded without becoming a dict. A
        line that is not an event goes to `on_invalid(number, error)`, a blank one is
        skipped. Returns how many were recorded."""
        if not self.enabled:
            return 0
        lines = _core.Lines(data, first)
        with self._lock:
            if not self.locked:
                return self._core.record_lines(lines, on_invalid)
            recorded = 0
            try:
                for run in lines.runs(LOCKED_ATTEMPTS):
                    with self._attempt_locks(run.attempts):
                        recorded += self._core.record_lines(run, on_invalid)
                return recorded
            finally:
                self._forget_sizes()

    def prepare(self) -> None:
        """Compile what classifying the first error needs now (`intel.prepare`): a
        long-running recorder (`otel serve`) calls it at start, so that error is not late."""
        from .intel import prepare

        self._taxonomy = prepare(self.settings)

    def flush(self) -> None:
        """The acknowledgement point in fsync=batch mode: everything so far is on disk."""
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the pipeline calls back ----------------------------------------------

    def _classify_error(self, event: dict[str, Any]) -> None:
        """Give an error a fingerprint and a category; the caller's own always win."""
        from .intel import analyze_error, taxonomy_for  # only error events pay for the import

        if self._taxonomy is None:
            self._taxonomy = taxonomy_for(self.settings)
        data = event["data"]
        info = analyze_error(
            data["error_message"], data.get("error_fingerprint"), data.get("error_category"), taxonomy=self._taxonomy
        )
        data["error_fingerprint"] = info.fingerprint
        data["error_category"] = info.category

    def _resume(self, attempt_id: str) -> tuple[str, float | None, int, dict[str, Any]]:
        """Where an attempt's numbering continues (its transcript, its start, the next
        sequence number, its context), from the transcript on disk (another process, a
        restart, an attempt forgotten to bound memory)."""
        relpath = f"{layout.SESSIONS}/{layout.session_file_name(attempt_id)}"
        first, last = self.writer.ends(relpath)
        if first is None:
            return relpath, None, 1, {}
        last = last or first
        try:
            start = parse_time(first["timestamp"])
        except (KeyError, TypeError, ValueError):
            start = None
        context = {k: first[k] for k in _CONTEXT if first.get(k) is not None}
        return relpath, start, int(last.get("sequence_num") or 0) + 1, context

    def _fit(self, event: dict[str, Any], line: bytes) -> bytes:
        """The event (encoded as `line`) within `max_event_bytes`: its largest strings cut
        short, in a copy of its data (the pipeline's copy shares the caller's nested values)."""
        limit = self.settings.max_event_bytes
        event["data"] = copy.deepcopy(event["data"])  # strings are shared, not copied
        while len(line) > limit:
            if not truncate_largest(event["data"], len(line) - limit):
                raise EventError("event", f"{len(line)} bytes without a string to truncate")
            line = encode(event)
        return line

    def _finish(self, relpath: str) -> None:
        """A session ended: its metrics line, derived from its transcript."""
        metrics = session_metrics(self.writer.read(relpath))
        self.writer.append_many((layout.METRICS,), self.redact(encode(metrics)) + b"\n")

    # -- locked mode --------------------------------------------------------------

    def _forget_sizes(self) -> None:
        if len(self._sizes) > self.max_attempts:
            self._sizes = {k: v for k, v in self._sizes.items() if k in self._core}

    @contextmanager
    def _attempt_locks(self, ids: list[str]) -> Iterator[None]:
        """Hold the transcript locks of these attempts, taken in name order (so two
        processes locking overlapping sets never wait for each other in a circle). An
        attempt whose transcript has the size our last write left is numbered from memory;
        another is forgotten, so its numbering resumes from its transcript (another
        process wrote meanwhile)."""
        held: list[tuple[str, int]] = []
        try:
            for attempt_id in ids:
                path = layout.session_path(self.log_dir, attempt_id)
                try:
                    modes.make_dirs(path.parent)
                    fd = modes.create(path, os.O_WRONLY | os.O_APPEND)
                except OSError as exc:
                    raise store_error(path, exc, "cannot open") from None
                held.append((attempt_id, fd))
                fcntl.flock(fd, fcntl.LOCK_EX)
                if self._sizes.get(attempt_id) != os.fstat(fd).st_size:
                    self._core.forget(attempt_id)
            yield
        finally:
            for attempt_id, fd in held:
                self._sizes[attempt_id] = os.fstat(fd).st_size  # what we wrote is on disk by now
                os.close(fd)  # closing releases the lock


def _lines_to(writer: Writer) -> Any:
    """What the pipeline writes through: a `LogWriter`'s native appender, else the writer."""
    return writer.appender if isinstance(writer, LogWriter) else writer


def _attempt_ids(events: Iterable[Any]) -> list[str]:
    """The attempts these events name, sorted, each once."""
    named = {e["attempt_id"] for e in events if isinstance(e, dict) and isinstance(e.get("attempt_id"), str)}
    return sorted(named - {""})


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
