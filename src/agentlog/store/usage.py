"""Disk usage per kind of log: live vs archived bytes, and the time span of its events."""

from __future__ import annotations

import gzip
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

from ..events import now_iso
from . import layout
from .reader import archives_of, bounded_lines, first_line, last_line
from .retention import event_time
from .rotate import RETIRED
from .cursor import MAX_LINE


@dataclass
class Usage:
    kind: str
    live_bytes: int = 0
    live_files: int = 0
    archive_bytes: int = 0  # compressed archives plus files being rotated
    archive_files: int = 0
    oldest: str | None = None  # event time, UTC
    newest: str | None = None

    @property
    def total_bytes(self) -> int:
        return self.live_bytes + self.archive_bytes

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_bytes": self.total_bytes}


def disk_usage(log_dir: Path | str) -> list[Usage]:
    """One row per kind (stream, errors, metrics, alerts, sessions)."""
    log_dir = Path(log_dir)
    rows = [_kind(log_dir, kind, name) for kind, name in layout.KINDS.items()]
    rows.append(_sessions(log_dir))
    return rows


def _kind(log_dir: Path, kind: str, name: str) -> Usage:
    usage = Usage(kind)
    live = log_dir / name
    archives = archives_of(log_dir, name)
    files = archives + ([live] if live.exists() else [])
    usage.live_bytes = _size(live)
    usage.live_files = int(live.exists())
    stem = name.removesuffix(".jsonl") + "-"
    for path in _everything_archived(log_dir / layout.ARCHIVE, stem):
        usage.archive_bytes += _size(path)
    usage.archive_files = len(archives)
    usage.oldest = _first(files)
    usage.newest = _last(reversed(files))
    return usage


def _sessions(log_dir: Path) -> Usage:
    usage = Usage("sessions")
    live = _listing(log_dir / layout.SESSIONS)
    archived = _listing(log_dir / layout.ARCHIVE / layout.SESSIONS)
    usage.live_bytes, usage.live_files = sum(map(_size, live)), len(live)
    usage.archive_bytes = sum(map(_size, archived)) + sum(
        map(_size, _listing(log_dir / layout.ARCHIVE / layout.SESSIONS / RETIRED))
    )
    usage.archive_files = len({p.name.removesuffix(".gz") for p in archived})
    starts = [t for t in map(_start, live + archived) if t is not None]
    usage.oldest = now_iso(min(starts)) if starts else None
    # the newest event is in a live transcript; else in the last archived one
    newest = sorted(live, key=_mtime, reverse=True) or sorted(archived, key=_mtime, reverse=True)[:1]
    ends = [t for t in map(_end, newest) if t is not None]
    usage.newest = now_iso(max(ends)) if ends else None
    return usage


def _everything_archived(folder: Path, stem: str) -> list[Path]:
    """Archives, files being rotated and retired copies awaiting their purge."""
    return [p for sub in (folder, folder / RETIRED) for p in _listing(sub) if p.name.startswith(stem)]


def _first(paths: Iterable[Path]) -> str | None:
    for path in paths:
        t = _start(path)
        if t is not None:
            return now_iso(t)
    return None


def _last(paths: Iterable[Path]) -> str | None:
    for path in paths:
        t = _end(path)
        if t is not None:
            return now_iso(t)
    return None


def _start(path: Path) -> float | None:
    if path.suffix != ".gz":
        return event_time(first_line(path))
    try:
        with gzip.open(path, "rb") as handle:
            return event_time(handle.readline(MAX_LINE + 1))
    except (OSError, EOFError):
        return None


def _end(path: Path) -> float | None:
    """The last event's time: read backwards in a live file, to the end of an archive."""
    if path.suffix != ".gz":
        return event_time(last_line(path))
    last = None
    try:
        with gzip.open(path, "rb") as handle:
            for line in bounded_lines(handle):
                if isinstance(line, bytes) and line.endswith(b"\n") and line.strip():
                    last = line
    except (OSError, EOFError):
        pass
    return event_time(last)


def _listing(folder: Path) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(folder) if e.is_file() and not e.name.startswith(".")]
    except FileNotFoundError:
        return []


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
