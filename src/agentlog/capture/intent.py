"""The write-ahead intent of an import: what a batch was about to append, so that a batch
cut short (a kill, a crash, a full disk) is finished by the next import, each event once.

Before a batch of transcripts writes its first event, the import state records an intent:
the size of every log file the batch appends to (stream, errors, metrics and the batch's
own session transcripts) and which transcripts it reads. Once the batch is written, the
new read positions replace the intent in one save. An intent found at the next start
means the batch may be partly written. Those transcripts are read again from their
saved positions (the same records give the same events with the same ids), and
`Completion` writes each event only to the files that lack it, looking only past the
recorded sizes: a recovery costs a read of what the cut batch wrote, not of the log.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import msgspec

from ..store import layout

_decode = msgspec.json.Decoder()
_SHARED = (layout.STREAM, layout.ERRORS, layout.METRICS)


def sizes(log_dir: Path, transcripts: Iterable[str]) -> dict[str, list[int]]:
    """[inode, size] of the shared log files and of the given transcripts (0, 0: none yet)."""
    return {relpath: _mark(log_dir / relpath) for relpath in (*_SHARED, *transcripts)}


def _mark(path: Path) -> list[int]:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return [0, 0]
    return [stat.st_ino, stat.st_size]


class Completion:
    """A writer in front of the recorder's own that drops lines already on disk.

    `written[relpath]` holds the event ids (for the metrics file: attempt ids) found past
    the intent's size of that file. The transcript is the reference for an event's exact
    line: `as_written(event)` gives the copy already in the transcript, so its numbering
    (sequence_num, elapsed_ms) is the one the other files must get too.
    """

    def __init__(self, inner: Any, log_dir: Path, marks: Mapping[str, list[int]]):
        self.inner = inner
        self.written: dict[str, set[str]] = {}
        self.lines: dict[str, dict[str, Any]] = {}  # event id -> the event as a transcript holds it
        self.kept = 0  # events that were already in their transcript
        for relpath, (ino, size) in marks.items():
            path = log_dir / relpath
            _end_torn_line(path, size, private=relpath not in _SHARED)
            key = "attempt_id" if relpath == layout.METRICS else "event_id"
            found = self.written[relpath] = set()
            for event in _events_after(path, ino, size):
                value = event.get(key)
                if isinstance(value, str):
                    found.add(value)
                    if relpath not in _SHARED and key == "event_id":
                        self.lines[value] = event

    def as_written(self, events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for event in events:
            stored = self.lines.get(event.get("event_id"))  # type: ignore[arg-type]
            if stored is not None:
                self.kept += 1
            yield stored if stored is not None else event

    # -- the Writer protocol -------------------------------------------------------------

    def append_many(self, relpaths: tuple[str, ...], line: bytes) -> None:
        targets = tuple(r for r in relpaths if not self._has(r, line))
        if targets:
            self.inner.append_many(targets, line)

    def write_batch(self, batch: Mapping[str, list[bytes]]) -> None:
        kept = {r: [line for line in lines if not self._has(r, line)] for r, lines in batch.items()}
        self.inner.write_batch({r: lines for r, lines in kept.items() if lines})

    def _has(self, relpath: str, line: bytes) -> bool:
        found = self.written.get(relpath)
        if not found:
            return False
        key = "attempt_id" if relpath == layout.METRICS else "event_id"
        try:
            value = _decode.decode(line).get(key)
        except (msgspec.DecodeError, AttributeError):
            return False
        if value in found:
            found.discard(value)  # once: a later line with the same key is a new one
            return True
        return False

    def read(self, relpath: str) -> Iterator[dict[str, Any]]:
        return self.inner.read(relpath)

    def ends(self, relpath: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        return self.inner.ends(relpath)

    def flush(self) -> None:
        self.inner.flush()

    def close(self) -> None:
        self.inner.close()


def _events_after(path: Path, ino: int, size: int) -> Iterator[dict[str, Any]]:
    """The events of `path` past `size` (the whole file when it is another file now)."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return
    with handle:
        if os.fstat(handle.fileno()).st_ino != ino or os.fstat(handle.fileno()).st_size < size:
            size = 0  # rotated or replaced since the intent: what it holds now is all there is
        if size:
            handle.seek(size - 1)
            if handle.read(1) != b"\n":
                handle.readline()  # the intent's size fell inside a line someone else cut
        for raw in handle:
            try:
                event = _decode.decode(raw)
            except msgspec.DecodeError:
                continue
            if isinstance(event, dict):
                yield event


def _end_torn_line(path: Path, size: int, *, private: bool) -> None:
    """A write cut by a kill can leave part of a line at the end. A transcript only this
    import writes loses it (the event is written again whole); a shared file gets the
    newline, so the fragment is one malformed line and the next writer's line stays whole."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND)
    except FileNotFoundError:
        return
    try:
        end = os.fstat(fd).st_size
        if not end or os.pread(fd, 1, end - 1) == b"\n":
            return
        if not private:
            os.write(fd, b"\n")
            return
        tail = os.pread(fd, end - size, size) if end > size else b""
        cut = tail.rfind(b"\n")
        os.ftruncate(fd, size + cut + 1 if cut >= 0 else min(size, end))
    finally:
        os.close(fd)
