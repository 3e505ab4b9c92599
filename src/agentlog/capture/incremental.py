"""Import agents' transcripts into the log, once: remember how far each file was read.

The state file (`<log_dir>/state/import-<agent>.json`) maps each transcript to its
identity (device, inode and a hash of its first bytes, so a replaced file starts over),
the byte offset read so far and the mapper's own memory. Importing again adds nothing;
a file that grew adds only its new part; a session still being written gets its
session_end on a later run. The state is saved after the events are flushed, by
writing a temporary file and renaming it over the old one.

`follow_once` is the unit of live following: call it again and again (on a file-change
notification or a timer) with the same state to turn new records into events.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..recorder import Recorder
from ..store import layout
from ..store.atomic import replace_file
from .importers import Context, Importer, ImportStats, get
from .pricing import Pricing

_HEAD = 512  # bytes hashed to tell a rewritten file from a grown one
_SAVE_EVERY_S = 5.0


class ImportState:
    """How far each transcript of one agent was imported, persisted as one JSON file."""

    def __init__(self, path: Path | None, data: dict[str, Any] | None = None):
        self.path = path
        self.data = data or {"files": {}, "shared": {}}

    @classmethod
    def load(cls, log_dir: Path, agent: str) -> "ImportState":
        path = Path(log_dir) / layout.STATE / f"import-{agent}.json"
        try:
            return cls(path, json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return cls(path)
        except ValueError:  # a damaged state file: start over (event ids are stable)
            return cls(path)

    @property
    def shared(self) -> dict[str, Any]:
        return self.data.setdefault("shared", {})

    def entry(self, file: Path, importer: Importer) -> dict[str, Any]:
        """The remembered progress of `file`, reset when the file is not the one we read."""
        key = str(file.resolve())
        files = self.data.setdefault("files", {})
        identity = _identity(file) if importer.append_only else {}
        entry = files.get(key)
        if entry is None or entry.get("identity") != identity or entry.get("offset", 0) > file.stat().st_size:
            entry = files[key] = {"identity": identity}
        return entry

    def save(self) -> None:
        if self.path is None:
            return
        replace_file(self.path, json.dumps(self.data, separators=(",", ":")).encode())


def _identity(file: Path) -> dict[str, Any]:
    stat = file.stat()
    with open(file, "rb") as handle:
        head = handle.read(_HEAD)
    return {"dev": stat.st_dev, "ino": stat.st_ino, "head": hashlib.sha1(head).hexdigest(), "head_len": len(head)}


@dataclass
class ImportResult:
    stats: ImportStats
    unknown_models: set[str] = field(default_factory=set)

    def summary(self) -> str:
        return self.stats.summary(self.unknown_models)


Progress = Callable[[Path, int], None]  # called after each file with its size in bytes


def import_path(agent: str | Importer, path: Path | str | None, recorder: Recorder, *,
                state: ImportState | None = None, pricing: Pricing | None = None,
                open_window_s: float | None = None, progress: Progress | None = None,
                files: list[Path] | None = None) -> ImportResult:
    """Import what is new in the transcripts under `path` (a file or a folder)."""
    importer = get(agent) if isinstance(agent, str) else agent
    root = Path(path or importer.default_path).expanduser()
    state = state if state is not None else ImportState.load(recorder.log_dir, importer.name)
    pricing = pricing or Pricing.load(recorder.settings.section("pricing"))
    ctx = Context(pricing, now=time.time(), shared=state.shared)
    if open_window_s is not None:
        ctx.open_window_s = open_window_s
    last_save = time.monotonic()
    for file in files if files is not None else importer.files(root):
        try:
            _import_file(importer, file, state, ctx, recorder)
        except OSError:
            ctx.skip("unreadable_file")  # vanished or unreadable: try again next time
        if progress is not None:
            progress(file, _size(file))
        if time.monotonic() - last_save > _SAVE_EVERY_S:
            recorder.flush()
            state.save()
            last_save = time.monotonic()
    recorder.flush()
    state.save()
    return ImportResult(ctx.stats, set(pricing.unknown))


def _import_file(importer: Importer, file: Path, state: ImportState, ctx: Context, recorder: Recorder) -> None:
    entry = state.entry(file, importer)
    ctx.stats.files += 1
    written = len(recorder.record_many(importer.read(file, entry, ctx)))
    if written:
        ctx.stats.sessions += 1
        ctx.stats.events += written


def _size(file: Path) -> int:
    try:
        return file.stat().st_size
    except OSError:
        return 0


def follow_once(agent: str | Importer, path: Path | str | None, recorder: Recorder,
                state: ImportState, **options: Any) -> ImportResult:
    """One polling step of live following: import only what was written since the last call."""
    return import_path(agent, path, recorder, state=state, **options)
