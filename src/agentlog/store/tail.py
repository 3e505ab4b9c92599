"""Follow a growing JSONL file, surviving rotation, truncation and restarts.

    tailer = Tailer(log_dir / "agent-work-stream.jsonl", FileCheckpoints(log_dir / "state"), "watch")
    while True:
        for batch in tailer.batches():          # complete lines only, up to the end of the file
            handle(batch.lines)
            tailer.commit(batch.position)       # temp file, fsync, rename: survives kill -9
        tailer.wait(1.0)                        # inotify wakeup (or a short poll), or timeout

A file is recognised by (device, inode) and by a hash of its first bytes ("head"), so:
- rename rotation: the old file is read to its end (writers keep appending to it for a
  moment) while the new file is read from its start;
- copytruncate: the live file's head changes or it shrinks; the rest of the old content is
  read from the copy (found by its head), then the live file from its start;
- a restart after either: the checkpointed file is found again by inode or by head, also
  when it was compressed into `archive/*.gz` meanwhile.
Several rotations between two looks are followed when `agentlog rotate` made them (its
manifest lists them); an external rotator's generation that was never looked at is lost.
A final line without its newline is left for later (a writer is mid-append). A line longer
than MAX_LINE is skipped, never held whole, and listed in `Tailer.skipped`: a file with no
newline for gigabytes must take neither the memory nor the time.
"""

from __future__ import annotations

import gzip
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol

import msgspec

from . import modes
from .cursor import HEAD_BYTES, MAX_LINE, Mark, digest
from .state import StateFile

CHUNK = 1 << 20
ROTATION_GRACE_S = 1.0  # writers notice a rotation within REOPEN_CHECK_S (0.25 s)


# --- checkpoints -----------------------------------------------------------------


class CheckpointStore(Protocol):
    """Where a consumer's position is kept: a file today, NATS KV in fleet mode, memory in tests."""

    def load(self, name: str) -> dict[str, Any] | None: ...

    def save(self, name: str, value: dict[str, Any]) -> None: ...


class FileCheckpoints:
    """One durable state file (`store.state.StateFile`, JSON) per name in `folder`."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.checkpoint.json"

    def load(self, name: str) -> dict[str, Any] | None:
        value = StateFile(self.path(name)).load()
        return value if isinstance(value, dict) else None

    def save(self, name: str, value: dict[str, Any]) -> None:
        StateFile(self.path(name)).save(value)

    def save_encoded(self, name: str, data: bytes) -> None:
        """`save` of a value already encoded as JSON (by `Tailer.encode`)."""
        StateFile(self.path(name)).save_bytes(data)


class MemoryCheckpoints:
    def __init__(self, values: dict[str, dict[str, Any]] | None = None) -> None:
        self.values: dict[str, dict[str, Any]] = values or {}

    def load(self, name: str) -> dict[str, Any] | None:
        return self.values.get(name)

    def save(self, name: str, value: dict[str, Any]) -> None:
        self.save_encoded(name, msgspec.json.encode(value))

    def save_encoded(self, name: str, data: bytes) -> None:
        self.values[name] = msgspec.json.decode(data)


class Committer:
    """Persists checkpoints on a thread of its own, so a slow fsync never delays the reader.

    Only the latest value matters: one still waiting when a newer one comes is replaced
    (each is a complete position with its state). The caller encodes the value on its own
    thread, which makes it a consistent copy of state it goes on changing. A save that
    failed is raised by the next `submit` or `flush`.
    """

    def __init__(self, store: CheckpointStore, name: str):
        self.store, self.name = store, name
        self._cond = threading.Condition()
        self._pending: bytes | None = None
        self._saving = False
        self._closed = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"commit-{name}", daemon=True)
        self._thread.start()

    @property
    def idle(self) -> bool:
        """Nothing waiting and nothing being written: a new value would be saved at once."""
        return self._pending is None and not self._saving

    def submit(self, data: bytes) -> None:
        with self._cond:
            self._raise()
            self._pending = data
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the latest submitted value is saved; False on timeout."""
        with self._cond:
            done = self._cond.wait_for(lambda: self._error is not None or self.idle, timeout)
            self._raise()
            return done

    def close(self) -> None:
        try:
            self.flush()
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            self._thread.join()

    def _raise(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _run(self) -> None:
        save = getattr(self.store, "save_encoded", None)
        if save is None:
            save = lambda name, data: self.store.save(name, msgspec.json.decode(data))  # noqa: E731
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._closed)
                if self._pending is None:
                    return
                data, self._pending, self._saving = self._pending, None, True
            try:
                save(self.name, data)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                with self._cond:
                    self._error = exc
            finally:
                with self._cond:
                    self._saving = False
                    self._cond.notify_all()


# --- positions -------------------------------------------------------------------


Position = tuple  # tuple[Mark, ...]: files still draining (oldest first), then the live one


def position_token(position: Position) -> str:
    """A position as one URL- and header-safe word (the dashboard's live alerts use it as the
    SSE id a reconnecting browser sends back); `tailer_at` resumes from it."""
    return "~".join(".".join(map(str, msgspec.structs.astuple(mark))) for mark in position) or "0"


def tailer_at(path: Path | str, token: str | None, name: str = "at") -> Tailer:
    """A tailer of `path` resuming after `token` (`position_token`), following the rotations
    since; at the end of the file when there is no token, from the start of the live file
    when the token names nothing readable (everything in it is new)."""
    if token is None:
        return Tailer(path, None, name, start="end")
    try:
        marks = [list(msgspec.structs.astuple(_mark_of(part))) for part in token.split("~") if part != "0"]
    except ValueError:
        return Tailer(path, None, name, start="beginning")
    return Tailer(path, MemoryCheckpoints({name: {"files": marks, "saved": None}}), name)


def _mark_of(word: str) -> Mark:
    dev, ino, offset, head, head_len = word.split(".")
    return Mark(int(dev), int(ino), int(offset), head, int(head_len))


@dataclass
class Batch:
    """Complete lines as read: `chunk[:end]`, each with its newline (empty lines too). The
    chunk may go on with the start of the next line. It is a view of the tailer's read
    buffer, valid until the next batch is asked for: `data` and `lines` are copies to keep
    (a consumer that takes a chunk and its end, as the watch engine does, copies nothing)."""

    chunk: memoryview
    end: int
    position: Position  # where to resume after these lines
    index: int = 0  # which file of the position the lines came from
    path: Path | None = None  # that file's path when it was opened

    @property
    def data(self) -> bytes:
        """The complete lines."""
        return bytes(self.chunk[: self.end])

    @property
    def lines(self) -> list[bytes]:
        """The lines without their newlines."""
        return self.data.split(b"\n")[:-1]


class _Source:
    """One open file being read: the live one, or a rotated one still draining."""

    def __init__(self, handle, dev: int, ino: int, path: Path, compressed: bool = False):
        self.handle, self.dev, self.ino, self.path = handle, dev, ino, path
        self.compressed = compressed
        self.offset = 0  # end of the last complete line handed out (or skipped)
        # Every read lands in this one buffer: fresh memory for each chunk cost more in page
        # faults than the reading itself. buffer[kept_at:kept_at + kept] is an incomplete line
        # after offset, moved to the front before the next read.
        self.buffer = bytearray()
        self.kept_at = self.kept = 0
        self.held = 0  # bytes after offset already read: those kept, or of the line skipped
        self.skipping = False  # the line after offset is longer than MAX_LINE
        self.skipped: list[tuple[int, int]] = []  # (offset, length) of lines skipped, for the tailer
        self.rotated_at: float | None = 0.0 if compressed else None
        self.head = self.pread(0, HEAD_BYTES)

    def pread(self, pos: int, size: int) -> bytes:
        self.handle.seek(pos)
        return self.handle.read(size)

    def size(self) -> int:
        return os.fstat(self.handle.fileno()).st_size

    def mark(self) -> Mark:
        known = min(HEAD_BYTES, self.offset)
        if len(self.head) < known:
            self.head = self.pread(0, HEAD_BYTES)
        head = self.head[:known]
        return Mark(self.dev, self.ino, self.offset, digest(head), len(head))

    def read(self, size: int = CHUNK) -> tuple[memoryview, int] | None:
        """What follows the current position and where its complete lines end in it (0 when
        none is complete yet), or None at the end of the file. The view is of a buffer the
        next read reuses: valid until then."""
        # an incomplete line is read on in steps as large as itself (up to MAX_LINE): copying
        # it once per step costs twice its size in all, not its size squared over `size`
        grow = 0 if self.skipping else min(self.held, MAX_LINE + 1 - self.held)
        view = self._room(self.kept + max(size, grow))
        self.handle.seek(self.offset + self.held)
        got = self.handle.readinto(view[self.kept :])
        if not got:
            return None
        first, last = 0, self.kept + got
        if self.skipping:
            first = self.buffer.find(b"\n", 0, last) + 1
            if not first:
                self.held += got
                return view[:0], 0
            self.skipped.append((self.offset, self.held + first))
            self.offset += self.held + first
            self.held, self.skipping = 0, False
        cut = self.buffer.rfind(b"\n", first, last) + 1 or first
        self.offset += cut - first
        self.kept_at, self.kept = cut, last - cut
        self.held = self.kept
        if self.held > MAX_LINE:
            self.kept, self.skipping = 0, True
        return view[first:last], cut - first

    def _room(self, size: int) -> memoryview:
        """The buffer, at least `size` long, with the kept bytes moved to its front."""
        kept = self.buffer[self.kept_at : self.kept_at + self.kept]
        if len(self.buffer) < size or len(self.buffer) > 4 * max(size, CHUNK):
            # a new one, never a resize: a view of the old one may still be held (a chunk
            # handed out); one grown for a long line is given back once the line is done
            self.buffer = bytearray(size)
        self.buffer[: self.kept] = kept
        self.kept_at = 0
        return memoryview(self.buffer)[:size]

    def replaced(self) -> bool:
        """True when the file was truncated or rewritten in place (copytruncate)."""
        if self.size() < self.offset + self.held:
            return True
        known = min(len(self.head), self.offset)
        return known > 0 and self.pread(0, known) != self.head[:known]

    def close(self) -> None:
        self.handle.close()


def _open_plain(path: Path) -> _Source | None:
    try:
        handle = open(path, "rb", buffering=0)
    except (FileNotFoundError, IsADirectoryError):
        return None
    st = os.fstat(handle.fileno())
    return _Source(handle, st.st_dev, st.st_ino, path)


# --- the tailer --------------------------------------------------------------------


@dataclass
class Tailer:
    """Reads complete lines of `path` in order across rotations; resumes from a checkpoint.

    start: where a first start (no checkpoint) begins: "end", "beginning" (of the live file)
    or "history" (the rotated generations first: see `history()`).
    `commit(position, extra)` persists the position (and an opaque `extra` the consumer
    wants saved together with it, e.g. its own state) atomically; `extra` comes back as
    `tailer.extra` after a restart.
    """

    path: Path
    checkpoints: CheckpointStore | None = None
    name: str = "tail"
    start: str = "end"
    extra: Any = None
    restored: bool = False
    lost: list[Mark] = field(default_factory=list)  # checkpointed files that could not be found
    skipped: list[tuple[Path, int, int]] = field(default_factory=list)  # lines over MAX_LINE: (file, offset, length)
    _sources: list[_Source] = field(default_factory=list)
    # The last live file (dev, ino), or the rotations already known when there was none:
    # a live file that appears later is read after whatever was rotated since.
    _after: tuple[int, int] | frozenset[str] = frozenset()
    _history: list[Path] = field(default_factory=list)  # rotated before the first file, oldest first
    _waker: Any = None
    _committer: Committer | None = None

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        modes.make_dirs(self.path.parent)
        saved = self.checkpoints.load(self.name) if self.checkpoints else None
        if saved:
            self.restored = True
            self.extra = saved.get("extra")
            self._restore([msgspec.convert(m, Mark) for m in saved.get("files", [])], saved.get("saved"))
        else:
            from .rotate import rotations

            live = _open_plain(self.path)
            # read after the open (see _older_than), and only when needed: with a live file
            # and no history wanted, the live file itself is what later rotations follow
            wanted = live is None or self.start == "history"
            known = rotations(self.path.parent, self.path.name) if wanted else []
            self._after = frozenset(archive for archive, _ in known)
            if live is not None:
                if self.start == "end":
                    live.offset = live.size() - len(_partial_tail(live))
                self._add_live(live)
            if self.start == "history":
                self._take_history(self._older_than(live, known))

    # -- reading -----------------------------------------------------------------

    def batches(self, max_bytes: int = CHUNK) -> Iterator[Batch]:
        """Every complete line available now, in batches; returns at the end of the data."""
        while True:
            self._follow_rotation()
            progressed = False
            for source in list(self._sources):
                while True:
                    read = source.read(max_bytes)
                    if read is None:
                        break
                    progressed = True
                    if source.skipped:  # told to the consumer, which may report them
                        self.skipped += [(source.path, offset, length) for offset, length in source.skipped]
                        source.skipped.clear()
                    if read[1]:
                        yield Batch(*read, self.position(), self._sources.index(source), source.path)
                self._retire(source)
            if not progressed:
                return

    def lines(self) -> Iterator[tuple[bytes, Position]]:
        """Each complete line with the position just after it (for per-line acknowledgement)."""
        for batch in self.batches():
            marks, i, lines = batch.position, batch.index, batch.lines
            end = marks[i].offset
            ends = []
            for line in reversed(lines):
                ends.append(end)
                end -= len(line) + 1
            for line, offset in zip(lines, reversed(ends)):
                yield line, marks[:i] + (msgspec.structs.replace(marks[i], offset=offset),) + marks[i + 1 :]

    def position(self) -> Position:
        return tuple(s.mark() for s in self._sources)

    def commit(self, position: Position, extra: Any = None) -> None:
        """Persist `position` (and `extra`): after a restart, reading resumes right there."""
        self.extra = extra
        if self._committer is not None:  # after any value still waiting there, not before
            self._committer.submit(self.encode(position, extra))
            self._committer.flush()
        elif self.checkpoints is not None:
            self.checkpoints.save(self.name, self._record(position, extra))

    def commit_background(self, position: Position, extra: Any = None) -> None:
        """`commit`, with the write and its fsync done on a committer thread.

        `position` and `extra` are encoded now, so the caller may change its state at
        once. Whatever the caller must have on disk before this checkpoint (its own
        output for the lines up to `position`) must be written before this call.
        """
        self.extra = extra
        if self.checkpoints is None:
            return
        if self._committer is None:
            self._committer = Committer(self.checkpoints, self.name)
        self._committer.submit(self.encode(position, extra))

    @property
    def committing(self) -> bool:
        """A background commit is waiting or being written."""
        return self._committer is not None and not self._committer.idle

    def settle(self, timeout: float | None = None) -> bool:
        """Wait until background commits are on disk; False on timeout."""
        return self._committer.flush(timeout) if self._committer is not None else True

    def encode(self, position: Position, extra: Any = None) -> bytes:
        """The checkpoint record of `position` and `extra`, as JSON."""
        return msgspec.json.encode(self._record(position, extra))

    def _record(self, position: Position, extra: Any) -> dict[str, Any]:
        return {"files": list(position), "extra": extra, "path": str(self.path), "saved": time.time()}

    def lag(self) -> int:
        """Bytes written but not yet handed out."""
        total = 0
        for source in self._sources:
            if not source.compressed:
                total += max(0, source.size() - source.offset - source.held)
        return total

    def wait(self, timeout: float) -> bool:
        """Block until the file may have changed, or `timeout` seconds; True when woken."""
        if self._waker is None:
            self._waker = make_waker(self.path)
        return self._waker.wait(timeout)

    def close(self) -> None:
        committer, self._committer = self._committer, None
        try:
            if committer is not None:
                committer.close()
        finally:
            for source in self._sources:
                source.close()
            self._sources.clear()
            if self._waker is not None:
                self._waker.close()
                self._waker = None

    # -- rotation -----------------------------------------------------------------

    def _live(self) -> _Source | None:
        source = self._sources[-1] if self._sources else None
        return source if source is not None and source.rotated_at is None else None

    def _follow_rotation(self) -> None:
        live = self._live()
        if live is not None and live.replaced():
            copy = self._find(live.mark(), exclude=(live.dev, live.ino))
            live.close()
            self._sources.remove(live)
            if copy is not None:
                self._sources.append(copy)
            elif live.offset:
                self.lost.append(live.mark())  # truncated, and no copy of the rest to be found
            fresh = _open_plain(self.path)
            if fresh is not None:
                self._add_live(fresh)
            return
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        if live is not None and st is not None and (st.st_dev, st.st_ino) == (live.dev, live.ino):
            return
        if live is not None:
            live.rotated_at = time.monotonic()  # renamed away: drain it, then let go
            if st is None:  # and nothing in its place yet: whatever is rotated from now on is new
                self._after = self._known_rotations()
        if st is not None and not any((s.dev, s.ino) == (st.st_dev, st.st_ino) for s in self._sources):
            fresh = _open_plain(self.path)
            self._sources.extend(self._missed(fresh))  # two rotations before we looked
            if fresh is not None:
                self._add_live(fresh)

    def _add_live(self, source: _Source) -> None:
        self._sources.append(source)
        self._after = (source.dev, source.ino)

    def _retire(self, source: _Source) -> None:
        """Close a rotated file once it is read to its end and writers have moved on."""
        if source.rotated_at is None:
            return
        if source.compressed or time.monotonic() - source.rotated_at >= ROTATION_GRACE_S:
            source.close()
            self._sources.remove(source)

    def _restore(self, marks: list[Mark], saved_at: float | None = None) -> None:
        for i, mark in enumerate(marks):
            is_last = i == len(marks) - 1
            source = self._reopen(mark, live_allowed=is_last, saved_at=saved_at)
            if source is None:
                self.lost.append(mark)
                continue
            source.offset = mark.offset
            self._sources.append(source)
        if marks:
            self._after = (marks[-1].dev, marks[-1].ino)
        else:  # saved before there was a file: what was rotated while we were down is not known
            self._after = self._known_rotations()
        if self._live() is None:
            fresh = _open_plain(self.path)
            if marks:  # the live file of the checkpoint was rotated while we were down
                self._sources.extend(self._missed(fresh))
            if fresh is not None and not any((s.dev, s.ino) == (fresh.dev, fresh.ino) for s in self._sources):
                self._add_live(fresh)
            elif fresh is not None:
                fresh.close()

    def _known_rotations(self) -> frozenset[str]:
        from .rotate import rotations

        return frozenset(archive for archive, _ in rotations(self.path.parent, self.path.name))

    def _missed(self, fresh: _Source | None) -> list[_Source]:
        """Files rotated after the last live file (or, before there was one, since the start),
        oldest first, read from their start; none that is already open (or is `fresh`, the
        live file just opened)."""
        from .rotate import rotated_after

        have = {(s.dev, s.ino) for s in self._sources}
        if fresh is not None:
            have.add((fresh.dev, fresh.ino))
        found = []
        for path in rotated_after(self.path.parent, self.path.name, self._after):
            source = _open_rotated(path)
            if source is None:
                continue
            if (source.dev, source.ino) in have:
                source.close()
                continue
            have.add((source.dev, source.ino))
            found.append(source)
        return found

    def history(self) -> list[Path]:
        """With start="history", on a first start (no checkpoint): the packed generations
        rotated before the first file `batches()` reads, oldest first, for the consumer to
        read before it (`reader.open_log`). Generations still pending are read by
        `batches()` instead: writers may still be appending to them."""
        return self._history

    def _take_history(self, archives: list[Path]) -> None:
        pending = []
        for archive in archives:
            plain = archive.with_name(archive.name.removesuffix(".gz"))
            source = _open_rotated(plain)
            if source is not None:
                pending.append(source)
            elif plain.with_name(plain.name + ".gz").exists():
                self._history.append(plain.with_name(plain.name + ".gz"))
        self._sources[:0] = pending

    def _older_than(self, live: _Source | None, known: list[tuple[str, tuple[int, int]]]) -> list[Path]:
        """The archives of generations older than `live` (opened before `known` was read from
        the manifest, so that a rotation in between is on one side only): those rotated after
        it are found by following it, not here. Archives no manifest knows come first."""
        from .reader import archives_of

        names = [archive for archive, _ in known]
        if live is not None:
            own = (live.dev, live.ino)
            try:
                st = os.stat(self.path)
                moved = (st.st_dev, st.st_ino) != own
            except FileNotFoundError:
                moved = True
            idents = [ident for _, ident in known]
            if moved and own in idents:  # rotated since we opened it
                names = names[: len(idents) - 1 - idents[::-1].index(own)]
            elif idents and idents[-1] == own:  # noted for rotation, not renamed yet: still ours
                names = names[:-1]
        folder = self.path.parent / "archive"
        noted = {archive.removesuffix(".gz") for archive, _ in known}
        unnoted = [p for p in archives_of(self.path.parent, self.path.name) if p.name.removesuffix(".gz") not in noted]
        return unnoted + [folder / name for name in names]

    def _reopen(self, mark: Mark, live_allowed: bool, saved_at: float | None = None) -> _Source | None:
        live = _open_plain(self.path)
        if live is not None:
            if (
                (live.dev, live.ino) == (mark.dev, mark.ino)
                and live.size() >= mark.offset
                and _matches(live, mark)
                and not self._rotated_since(mark, saved_at)
            ):
                if not live_allowed:
                    live.rotated_at = time.monotonic()
                return live
            live.close()
        return self._find(mark)

    def _rotated_since(self, mark: Mark, saved_at: float | None) -> bool:
        """A mark with nothing read (no head to check) on a file rotated after the checkpoint
        was saved: the live file has the same inode only because the file system reused it."""
        if mark.head_len or saved_at is None:
            return False
        from .retention import stamp_time
        from .rotate import find_rotated

        path = find_rotated(self.path.parent, self.path.name, mark)
        if path is None:
            return False
        stem = self.path.name.removesuffix(".jsonl") + "-"
        rotated = stamp_time(path.name[len(stem) : len(stem) + 20])
        return rotated is not None and rotated >= saved_at

    def _find(self, mark: Mark, exclude: tuple[int, int] | None = None) -> _Source | None:
        """The file a mark was taken on, positioned at the mark: where the rotation put
        it (its manifest knows), else among rotated siblings and archives (copytruncate)."""
        from .rotate import find_rotated

        path = find_rotated(self.path.parent, self.path.name, mark)
        source = _open_rotated(path) if path is not None else None
        if source is not None and (source.dev, source.ino) != exclude:
            source.offset = mark.offset
            return source
        if source is not None:
            source.close()
        if mark.head_len == 0:
            return None  # nothing read from it: any file would match; not worth a wrong guess
        for path in _candidates(self.path):
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            if exclude == (st.st_dev, st.st_ino):
                continue
            if path.suffix != ".gz" and st.st_size < mark.offset:
                continue
            source = _open_rotated(path)
            if source is None:
                continue
            if _matches(source, mark):
                source.offset = mark.offset
                return source
            source.close()
        return None


def read_finished(path: Path, skipped: list[tuple[Path, int, int]]) -> Iterator[tuple[memoryview, int, int]]:
    """The complete lines of a file no longer written (an archive, maybe gzipped), read as
    `Tailer.batches` reads: (chunk, where its lines end, the chunk's offset; the chunk valid
    until the next one is asked for). Lines longer than MAX_LINE are added to `skipped`
    (file, offset, length). Nothing when it cannot be opened."""
    source = _open_rotated(path)
    if source is None:
        return
    try:
        while (read := source.read()) is not None:
            skipped += [(path, offset, length) for offset, length in source.skipped]
            source.skipped.clear()
            chunk, end = read
            if end:
                yield chunk, end, source.offset - end
    finally:
        source.close()


def _open_rotated(path: Path) -> _Source | None:
    """A rotated file, to be drained: gzip archives are read decompressed."""
    compressed = path.suffix == ".gz"
    try:
        handle = gzip.open(path, "rb") if compressed else open(path, "rb", buffering=0)
    except OSError:
        return None
    try:
        st = os.fstat(handle.fileno())
        source = _Source(handle, st.st_dev, st.st_ino, path, compressed=compressed)
    except (OSError, EOFError):
        handle.close()
        return None
    if not compressed:
        source.rotated_at = time.monotonic()
    return source


def _matches(source: _Source, mark: Mark) -> bool:
    try:
        head = source.pread(0, mark.head_len)
    except (OSError, EOFError):
        return False
    return mark.starts(head)


def _candidates(path: Path) -> list[Path]:
    """Where a rotated copy of `path` may be: beside it, or in archive/ (newest first)."""
    stem = path.name.removesuffix(".jsonl")
    found: list[Path] = []
    for folder in (path.parent, path.parent / "archive"):
        try:
            entries = [p for p in folder.iterdir() if p.name.startswith(stem) and p != path and p.is_file()]
        except FileNotFoundError:
            continue
        found.extend(sorted(entries, key=lambda p: p.name, reverse=True))
    return found


def _partial_tail(source: _Source) -> bytes:
    """Bytes after the last newline of a file (an incomplete line a writer is finishing)."""
    pos = source.size()
    tail = b""
    while pos > 0:
        step = min(65536, pos)
        pos -= step
        block = source.pread(pos, step)
        cut = block.rfind(b"\n")
        if cut >= 0:
            return block[cut + 1 :] + tail
        tail = block + tail
    return tail


# --- wakeups ---------------------------------------------------------------------


class _PollWaker:
    """Fallback: sleep a short interval; the caller reads to the end anyway."""

    interval = 0.02

    def wait(self, timeout: float) -> bool:
        time.sleep(max(0.0, min(timeout, self.interval)))
        return True

    def close(self) -> None:
        pass


class _InotifyWaker:
    """Raw inotify on the file's directory: ~0.1 ms from a write to the wakeup.

    Events are queued by the kernel while the caller processes, so a write that lands
    after the last read always makes the next wait() return at once: no lost wakeups.
    The directory is watched (not the file) to see renames and creations too.
    """

    def __init__(self, path: Path):
        from inotify_simple import INotify, flags

        self.name = path.name
        self.inotify = INotify()
        mask = (
            flags.MODIFY
            | flags.CREATE
            | flags.MOVED_TO
            | flags.MOVED_FROM
            | flags.DELETE
            | flags.CLOSE_WRITE
            | flags.ATTRIB
        )
        self.structural = flags.CREATE | flags.MOVED_TO | flags.MOVED_FROM | flags.DELETE
        self.inotify.add_watch(str(path.parent), mask)

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            events = self.inotify.read(timeout=max(0, int(left * 1000)))
            if any(e.name == self.name or e.mask & self.structural for e in events):
                return True
            if left <= 0 or not events and time.monotonic() >= deadline:
                return False

    def close(self) -> None:
        self.inotify.close()


def make_waker(path: Path):
    """inotify where the platform has it, a short poll elsewhere (or AGENTLOG_POLL=1)."""
    if os.environ.get("AGENTLOG_POLL") != "1":
        try:
            return _InotifyWaker(Path(path))
        except (ImportError, OSError):
            pass
    return _PollWaker()
