"""Read events back from live and archived files; a bad line is reported, never fatal."""

from __future__ import annotations

import fcntl
import gzip
import io
import os
from select import select as _poll
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator, NamedTuple

from .. import _core
from ..events import Alert, ReadEvent, parse_time
from . import layout
from .cursor import MAX_LINE

CHUNK = 1 << 18  # bytes read and decoded in one native call (a damaged archive loses at most this)


@dataclass(frozen=True)
class BadLine:
    """A line that could not be read: where it is and why."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass
class ReadReport:
    """What a read skipped; filled in while iterating."""

    bad: list[BadLine] = field(default_factory=list)
    lines: int = 0

    def skipped(self, path: Path, lineno: int, reason: str) -> None:
        self.bad.append(BadLine(str(path), lineno, reason))


def open_log(path: Path):
    """Open a live `.jsonl` or archived `.jsonl.gz` file for binary reading.

    An archive being rotated is listed as its `.jsonl` (see `archives_of`); when it was
    retired between the listing and this open, its `.gz` holds the same lines.
    """
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    try:
        return open(path, "rb")
    except FileNotFoundError:
        if layout.ARCHIVE not in path.parent.parts[-2:]:
            raise
        return gzip.open(path.with_name(path.name + ".gz"), "rb")


def read_file(path: Path, report: ReadReport | None = None, schema: type = ReadEvent) -> Iterator[dict[str, Any]]:
    """Yield each event of one file (each line checked against `schema`: see
    `events.decode_line`); a final line with no newline yet is left for later."""
    try:
        handle = open_log(path)
    except FileNotFoundError:
        return
    yield from _read_handle(handle, path, report, schema)


def _read_handle(handle, path: Path, report: ReadReport | None, schema: type = ReadEvent) -> Iterator[dict[str, Any]]:
    """The events of an open file, read a chunk at a time and split and decoded by the native
    reader (`_core.decode_chunk`: the checks of `events.decode_line`)."""
    if schema is not ReadEvent and schema is not Alert:
        raise TypeError(f"lines are read as ReadEvent or Alert, not {schema.__name__}")
    report = report if report is not None else ReadReport()
    lineno = 0
    with handle:
        try:
            for chunk in _line_chunks(handle.read):
                if isinstance(chunk, Skipped):  # one ended at the end of the file is left, as below
                    if chunk.ended:
                        lineno += 1
                        report.skipped(path, lineno, f"longer than {MAX_LINE:,} bytes")
                    continue
                if not chunk.endswith(b"\n"):
                    return  # a last line with no newline: a writer is still appending it (or a crash cut it)
                first = lineno + 1  # numbering goes on from the chunk before
                for lineno, item in enumerate(_core.decode_chunk(chunk, schema is Alert), first):
                    if item is None:  # blank
                        continue
                    report.lines += 1
                    if type(item) is dict:
                        yield item
                    else:
                        report.skipped(path, lineno, "%s: %s" % item)
        except (OSError, EOFError) as exc:  # a damaged archive: the lines before the damage are kept
            report.skipped(path, lineno + 1, f"unreadable: {exc}")


class Skipped(NamedTuple):
    """A line longer than MAX_LINE, passed over unheld: its length (newline included) and
    whether it ended (a newline) before the end of the file."""

    length: int
    ended: bool


def _line_chunks(read: Callable[[int], bytes], size: int = CHUNK) -> Iterator[bytes | Skipped]:
    """What `read(n)` gives (at most n bytes, b"" at the end) as chunks of whole lines, each
    ending with a newline, then what follows the last newline, if anything (the one chunk
    that does not end with one). A line longer than MAX_LINE is never held: `Skipped` comes
    in its place once it has ended, or the input has. An unfinished line is read on in steps
    as large as itself: copying it once a step costs twice its length, not its square."""
    rest, skipping = b"", None  # skipping: the bytes read of a line being skipped
    while data := read(size if skipping is not None else max(size, min(len(rest), MAX_LINE + 1 - len(rest)))):
        if skipping is not None:
            end = data.find(b"\n") + 1
            if not end:
                skipping += len(data)
                continue
            yield Skipped(skipping + end, True)
            skipping, data = None, data[end:]
        data = rest + data
        end = data.rfind(b"\n") + 1
        rest = data[end:]
        if end:
            yield data[:end] if rest else data
        if len(rest) > MAX_LINE:
            rest, skipping = b"", len(rest)
    if skipping is not None:
        yield Skipped(skipping, False)
    elif rest:
        yield rest


def bounded_lines(handle: BinaryIO) -> Iterator[bytes | Skipped]:
    """The lines of a binary file as iterating it gives them (each with its newline, the last
    maybe without), but a line longer than MAX_LINE is never held whole: `Skipped` comes in
    its place. What iterating a file costs is the longest line: a gigabyte with no newline
    must not take a gigabyte. (`_line_chunks` split at newlines; a chunk may hold a whole
    line a little over MAX_LINE, skipped here all the same.)"""
    for piece in _line_chunks(handle.read):
        if isinstance(piece, Skipped):
            yield piece
            continue
        for line in io.BytesIO(piece):
            ended = line.endswith(b"\n")
            yield line if len(line) - ended <= MAX_LINE else Skipped(len(line), ended)


def archives_of(log_dir: Path, name: str) -> list[Path]:
    """Archived files of one kind (`agent-work-stream`...), oldest first.

    Archive names end in a fixed-width UTC stamp, so name order is time order. During a
    rotation an archive also exists as `<stem>-<stamp>.jsonl` (renamed aside, maybe packed
    but not yet retired): that file holds every line its `.gz` holds, and maybe a few
    more, so it is listed instead of the `.gz`.
    """
    stem = name.removesuffix(".jsonl")
    folder = log_dir / layout.ARCHIVE
    if not folder.is_dir():
        return []
    chosen: dict[str, Path] = {}
    for path in folder.iterdir():
        n = path.name
        if n.startswith(stem + "-") and n.endswith((".jsonl", ".jsonl.gz")):
            key = n.removesuffix(".gz")
            if key not in chosen or n.endswith(".jsonl"):
                chosen[key] = path
    return [chosen[key] for key in sorted(chosen)]


def files_of(log_dir: Path, name: str, *, archives: bool = True) -> list[Path]:
    """Archives (oldest first) then the live file: the order events were written in."""
    live = log_dir / name
    return (archives_of(log_dir, name) if archives else []) + ([live] if live.exists() else [])


def read_kind(
    log_dir: Path, kind: str = "stream", *, archives: bool = True, report: ReadReport | None = None
) -> Iterator[dict[str, Any]]:
    """Every event of one kind (stream, errors, metrics, alerts), archives first.

    The live file is opened before the archives are listed, so a rotation running
    meanwhile neither hides its lines nor shows them twice.
    """
    log_dir = Path(log_dir)
    live_path = log_dir / layout.KINDS[kind]
    schema = Alert if kind == "alerts" else ReadEvent
    live = _open_or_none(live_path)
    try:
        if archives:
            own = _identity(live)
            for path in archives_of(log_dir, layout.KINDS[kind]):
                if own is None or _path_identity(path) != own:
                    yield from read_file(path, report, schema)
        if live is not None:
            yield from _read_handle(live, live_path, report, schema)
    finally:
        if live is not None:
            live.close()


def read_session(log_dir: Path, attempt_id: str, report: ReadReport | None = None) -> Iterator[dict[str, Any]]:
    """One attempt's transcript: its archive, a copy being archived, then the live file.

    They are opened in the opposite order (the way rotation moves them), so nothing moved
    meanwhile is missed; a line present in two of them is read once.
    """
    live = layout.session_path(Path(log_dir), attempt_id)
    pending = Path(log_dir) / layout.ARCHIVE / layout.SESSIONS / live.name
    paths = [pending.with_name(live.name + ".gz"), pending, live]
    handles = [_open_or_none(p) for p in reversed(paths)][::-1]
    seen: set[str] = set()
    try:
        for path, handle in zip(paths, handles):
            if handle is None:
                continue
            for event in _read_handle(handle, path, report):
                key = event.get("event_id")
                if key is None or key not in seen:
                    seen.add(key)
                    yield event
    finally:
        for handle in handles:
            if handle is not None:
                handle.close()


def _open_or_none(path: Path):
    try:
        return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    except (FileNotFoundError, NotADirectoryError):
        return None


def _identity(handle) -> tuple[int, int] | None:
    if handle is None:
        return None
    st = os.fstat(handle.fileno())
    return st.st_dev, st.st_ino


def _path_identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


@dataclass(frozen=True)
class Filter:
    """Which events to keep; None means any."""

    attempt: str | None = None
    types: frozenset[str] | None = None
    executor: str | None = None
    task: str | None = None
    since: float | None = None  # epoch seconds
    until: float | None = None

    def __call__(self, event: dict[str, Any]) -> bool:
        if self.attempt is not None and event.get("attempt_id") != self.attempt:
            return False
        if self.types is not None and event.get("event_type") not in self.types:
            return False
        if self.executor is not None and str(event.get("executor", "")).upper() != self.executor.upper():
            return False
        if self.task is not None and event.get("task_id") != self.task:
            return False
        if self.since is None and self.until is None:
            return True
        try:
            t = parse_time(event["timestamp"])
        except (KeyError, TypeError, ValueError):
            return False
        return (self.since is None or t >= self.since) and (self.until is None or t < self.until)


def select(events: Iterable[dict[str, Any]], keep: Callable[[dict[str, Any]], bool]) -> Iterator[dict[str, Any]]:
    return (e for e in events if keep(e))


def first_line(path: Path) -> bytes | None:
    """The first line of a file, if it is complete."""
    try:
        with open(path, "rb") as handle:
            line = handle.readline(MAX_LINE + 1)  # a longer one is no line to read
    except (FileNotFoundError, NotADirectoryError):
        return None
    return line if line.endswith(b"\n") else None


def last_line(path: Path, block: int = 65536) -> bytes | None:
    """The last complete line of a file, read backwards (transcripts can be large)."""
    try:
        handle = open(path, "rb")
    except (FileNotFoundError, NotADirectoryError):
        return None
    with handle:
        end = handle.seek(0, os.SEEK_END)
        pos = end
        while pos > 0:
            pos = max(0, pos - block)
            handle.seek(pos)
            data = handle.read(end - pos)
            complete = data[: data.rfind(b"\n")]  # drops a partial last line, if any
            start = complete.rfind(b"\n")
            if start >= 0 or (pos == 0 and data.rfind(b"\n") >= 0):
                return complete[start + 1 :] or None
        return None


def _arrived(stream: BinaryIO, size: int) -> bytes:
    """What one read1 gives, and what has arrived meanwhile up to `size` bytes (a pipe hands
    over 64 KiB a read: a fast writer's lines go on in MiB batches, not 64 KiB ones). Empty at
    the end of the stream."""
    parts = [stream.read1(size)]
    got = len(parts[0])
    while got and got < size and _ready(stream):
        more = stream.read1(size - got)
        if not more:
            break  # the end: the next read says so again
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _widen_pipe(stream: BinaryIO, size: int) -> None:
    """Let a pipe hold `size` bytes (Linux: up to /proc/sys/fs/pipe-max-size, 1 MiB by
    default). At its default 64 KiB a fast writer waits while a batch is recorded, and the
    next read finds 64 KiB: a lock round-trip per attempt for every ~150 lines."""
    try:
        fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, size)
    except (AttributeError, OSError, ValueError):  # not a pipe, not Linux, or over the limit
        pass


def _ready(stream: BinaryIO) -> bool:
    """Whether a read would return at once (in-memory streams always would)."""
    try:
        return bool(_poll([stream], [], [], 0)[0])
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both of the last
        return True


def arriving_chunks(stream: BinaryIO, chunk: int = 1 << 20) -> Iterator[tuple[int, bytes | None]]:
    """The complete lines of a binary stream such as stdin, in chunks of what has arrived,
    each with the number of its first line (from 1): a read returns as soon as some bytes
    are there, so a slow writer's line is handed on at once and a fast one's come a MiB at
    a time. A last line without its newline is handed on at the end, given one. A line
    longer than MAX_LINE is never held: it comes as (its number, None) once it has ended."""
    _widen_pipe(stream, chunk)
    number = 1
    for lines in _line_chunks(lambda size: _arrived(stream, size), chunk):
        if isinstance(lines, Skipped):
            yield number, None
            number += 1
        elif lines.endswith(b"\n"):
            yield number, lines
            number += lines.count(b"\n")
        elif lines.strip():
            yield number, lines + b"\n"
