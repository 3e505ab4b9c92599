"""Import agents' transcripts into the log, once: remember how far each file was read.

The state file (`<log_dir>/state/import-<agent>.json`) maps each transcript to its
identity (a hash of the bytes it held when it was last read, so a grown file goes on
and a replaced one starts over), the byte offset read so far and the mapper's own
memory. Importing again adds nothing; a file that grew adds only its new part; a
session still being written gets its session_end on a later run.

Events and the state advance together: transcripts are imported in batches, each
opened by a write-ahead intent and closed by saving the new positions (see intent.py),
so an import killed at any point and run again writes every event exactly once. One
import per agent and log dir runs at a time (a lock beside the state file).

`follow_once` is the unit of live following: call it again and again (on a file-change
notification or a timer) with the same state to turn new records into events.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from ..recorder import Recorder
from ..store import cursor, layout
from ..store.state import StateFile
from ..store.writer import StoreError
from . import intent
from .importers import Context, Importer, ImportStats
from .pricing import Pricing

BATCH_BYTES = 64 << 20  # unread transcript bytes per batch: bounds what a recovery reads again
BATCH_FILES = 1000


class ImportState:
    """How far each transcript of one agent was imported, kept in one state file."""

    def __init__(self, path: Path | None, data: dict[str, Any] | None = None):
        self.file = StateFile(path) if path is not None else None
        self.path = path
        self.data = data or _empty()
        self._version = self.file.version() if self.file else None

    @classmethod
    def load(cls, log_dir: Path, agent: str) -> "ImportState":
        return cls(Path(log_dir) / layout.STATE / f"import-{agent}.json").reload()

    def reload(self) -> "ImportState":
        if self.file is not None:
            self._version = self.file.version()
            loaded = self.file.load()  # missing or damaged: start over (event ids are stable)
            self.data = loaded if isinstance(loaded, dict) else _empty()
        return self

    @property
    def shared(self) -> dict[str, Any]:
        return self.data.setdefault("shared", {})

    @property
    def intent(self) -> dict[str, Any] | None:
        return self.data.get("intent")

    def entry(self, file: Path, importer: Importer) -> dict[str, Any]:
        """The remembered progress of `file`, reset when the file is not the one we read."""
        key = str(file.resolve())
        files = self.data.setdefault("files", {})
        entry = files.get(key)
        if entry is None:
            entry = files[key] = {}
        elif importer.grows_by_appending(file) and not _same_file(file, entry):  # replaced: a new generation
            entry = files[key] = {"generation": entry.get("generation", 0) + 1}
        return entry

    def save(self) -> None:
        if self.file is None:
            return
        self.file.save(self.data)
        self._version = self.file.version()

    @contextmanager
    def locked(self) -> Iterator["ImportState"]:
        """One import of this agent into this log dir at a time; the state as the last one left it."""
        if self.file is None:
            yield self
            return
        with self.file.locked():
            if self.file.version() != self._version:  # another process imported meanwhile
                self.reload()
            yield self


def _empty() -> dict[str, Any]:
    return {"files": {}, "shared": {}}


def _same_file(file: Path, entry: dict[str, Any]) -> bool:
    """Is `file` still the one `entry` describes: at least as long, and starting with the
    bytes it had when it was read (up to HEAD_BYTES of them: a small file that grows stays itself)."""
    known = entry.get("identity") or entry  # older states kept it under "identity"
    length = known.get("head_len", 0)
    if file.stat().st_size < max(entry.get("offset", 0), entry.get("size", 0), length):
        return False
    return "head" not in known or cursor.same_start(file, length, known["head"])


def _remember_head(file: Path, entry: dict[str, Any]) -> None:
    """Fingerprint the bytes read so far (up to HEAD_BYTES): what the file must still start with."""
    length = min(cursor.HEAD_BYTES, max(entry.get("offset", 0), entry.get("size", 0)))
    entry.pop("identity", None)
    if entry.get("head_len") != length or "head" not in entry:
        with open(file, "rb") as handle:
            entry.update(head=cursor.digest(handle.read(length)), head_len=length)


@dataclass
class ImportResult:
    stats: ImportStats
    unknown_models: set[str] = field(default_factory=set)

    def summary(self) -> str:
        return self.stats.summary(self.unknown_models)


Progress = Callable[[Path, int], None]  # called after each file with its size in bytes


def import_path(
    importer: Importer,
    path: Path | str | None,
    recorder: Recorder,
    *,
    state: ImportState | None = None,
    pricing: Pricing | None = None,
    open_window_s: float | None = None,
    progress: Progress | None = None,
    files: list[Path] | None = None,
    follow_symlinks: bool = False,
    listed: Callable[[list[Path]], None] | None = None,
) -> ImportResult:
    """Import what is new in the transcripts under `path` (a file or a folder).

    `files` (already listed by `importer.files`) saves listing them again. A symlink that
    leads out of `path` is skipped (and counted) unless `follow_symlinks`. `listed` is
    told which files will be read, `progress` each one read."""
    root = Path(path or importer.default_path).expanduser()
    state = state if state is not None else ImportState.load(recorder.log_dir, importer.name)
    pricing = pricing or Pricing.load(recorder.settings.section("pricing"))
    with state.locked():
        ctx = Context(pricing, now=time.time(), shared=state.shared)
        if open_window_s is not None:
            ctx.open_window_s = open_window_s
        if files is None:
            outside: list[Path] = []
            files = importer.files(root, follow_symlinks=follow_symlinks, outside=outside)
            for _link in outside:
                ctx.skip_file("symlink_out_of_tree")
        ctx.stats.files = len(files)
        if listed is not None:
            listed(files)
        run = _Run(importer, state, ctx, recorder, progress)
        if state.intent is not None:
            run.recover()
        for batch in _batches(files, state):
            run.batch(batch)
        state.save()
    return ImportResult(ctx.stats, set(pricing.unknown))


def _batches(files: list[Path], state: ImportState) -> Iterator[list[Path]]:
    """Files in groups of at most BATCH_FILES, or about BATCH_BYTES of unread bytes."""
    known = state.data.get("files", {})
    batch: list[Path] = []
    unread = 0
    for file in files:
        batch.append(file)
        unread += max(0, _size(file) - (known.get(str(file.resolve())) or {}).get("offset", 0))
        if len(batch) >= BATCH_FILES or unread >= BATCH_BYTES:
            yield batch
            batch, unread = [], 0
    if batch:
        yield batch


class _Run:
    """One import: batches of files, each opened by an intent when it first writes."""

    def __init__(
        self, importer: Importer, state: ImportState, ctx: Context, recorder: Recorder, progress: Progress | None
    ):
        self.importer, self.state, self.ctx, self.recorder, self.progress = importer, state, ctx, recorder, progress
        self.pending: list[Path] = []  # the rest of the current batch, for its intent

    def batch(self, files: list[Path]) -> None:
        for index, file in enumerate(files):
            self.pending = files[index:]
            self.file(file)
        if self.state.intent is not None:
            self.commit()

    def recover(self) -> None:
        """Finish the batch a previous import left half written, before anything else."""
        left = self.state.intent or {}
        completion = intent.Completion(self.recorder.writer, self.recorder.log_dir, left.get("marks", {}))
        self.recorder.writer = completion
        try:
            for key in left.get("files", []):
                file = Path(key)
                if file.exists():  # a transcript, or a folder of event files
                    self.file(file, completion)
        finally:
            self.recorder.writer = completion.inner
        self.ctx.stats.events -= completion.kept
        self.commit()

    def commit(self) -> None:
        self.recorder.flush()
        self.state.data.pop("intent", None)
        self.state.save()

    def _open_intent(self) -> None:
        """Before the batch's first write: what it reads and how long each file it writes is."""
        if self.state.intent is not None:
            return
        keys = [str(f.resolve()) for f in self.pending]
        transcripts = [
            f"{layout.SESSIONS}/{layout.session_file_name(attempt)}"
            for f in self.pending
            for attempt in self.importer.attempt_ids(f)
        ]
        self.recorder.flush()
        self.state.data["intent"] = {"files": keys, "marks": intent.sizes(self.recorder.log_dir, transcripts)}
        self.state.save()

    def file(self, file: Path, completion: intent.Completion | None = None) -> None:
        try:
            self._read(file, completion)
        finally:
            if self.progress is not None:
                self.progress(file, _size(file))

    def _read(self, file: Path, completion: intent.Completion | None) -> None:
        ctx = self.ctx
        try:
            entry = self.state.entry(file, self.importer)
        except OSError:
            ctx.skip_file("unreadable_file")  # vanished or unreadable: try again next time
            return
        if entry.get("failed"):
            return  # given up on until the file is replaced
        work = dict(entry)  # the entry changes only when the file was read to its end
        announced = _Announced(self.importer.read(file, work, ctx), self._open_intent)
        events = completion.as_written(announced) if completion is not None else announced
        try:
            written = self.recorder.record_many(events, on_invalid=self._invalid)
        except StoreError:
            raise  # the log cannot be written: nothing more can be imported
        except Exception as exc:  # noqa: BLE001 - one bad file never stops an import
            ctx.skip_file(f"unreadable_file:{type(exc).__name__}")
            if announced.started:  # part of it is written: never write that part twice
                entry["failed"] = type(exc).__name__
            return
        entry.clear()
        entry.update(work)
        if self.importer.grows_by_appending(file):
            _remember_head(file, entry)
        if written:
            ctx.stats.sessions += len({event.get("attempt_id") for event in written})  # a store holds many
            ctx.stats.events += len(written)

    def _invalid(self, _index: int, error: Exception) -> None:
        self.ctx.skip(f"invalid_event:{getattr(error, 'field', 'event')}")


class _Announced:
    """The events of one file; `before_first` runs before the first one goes on."""

    def __init__(self, events: Iterable[dict[str, Any]], before_first: Callable[[], None]):
        self.events, self.before_first, self.started = events, before_first, False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for event in self.events:
            if not self.started:
                self.before_first()
                self.started = True
            yield event


def _size(file: Path) -> int:
    try:
        return file.stat().st_size
    except OSError:
        return 0


def follow_once(
    importer: Importer, path: Path | str | None, recorder: Recorder, state: ImportState, **options: Any
) -> ImportResult:
    """One polling step of live following: import only what was written since the last call."""
    return import_path(importer, path, recorder, state=state, **options)
