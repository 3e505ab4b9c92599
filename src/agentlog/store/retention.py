"""What rotation should do now: which live files are due, which transcripts go, which archives expire.

Pure decisions over the files on disk; `rotate.py` carries them out. The policy comes
from settings (AGENT_WORK_LOG_MAX_SIZE_MB, AGENT_WORK_ARCHIVE_RETENTION_DAYS,
AGENT_SESSION_LOG_RETENTION) and an optional `[rotate]` TOML table:

    [rotate]
    max_age = "7d"        # rotate a live file whose oldest event is older than this
    stale_session = "7d"  # an unfinished transcript idle this long counts as abandoned
    stream_days = 30      # archive retention per kind, capped by archive_retention_days
    errors_days = 90
    alerts_days = 30
    metrics_days = 0      # 0 (the default) keeps metrics archives forever
"""

from __future__ import annotations

import calendar
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from .. import jsonline
from ..events import BOM, EventError, decode_line, parse_time
from . import layout
from .reader import first_line, last_line

DAY = 86400.0
STAMP = "%Y%m%dT%H%M%S"  # + ".mmmZ": fixed width, so name order is time order


@dataclass(frozen=True)
class Policy:
    max_bytes: float
    max_age_s: float | None
    keep_s: dict[str, float | None]  # per kind; None keeps its archives forever
    sessions_live: int
    session_archive_s: float
    stale_session_s: float

    @classmethod
    def from_settings(cls, settings: Any) -> "Policy":
        table = settings.section("rotate")
        cap = settings.archive_retention_days * DAY
        keep: dict[str, float | None] = {}
        for kind in layout.KINDS:
            days = table[f"{kind}_days"]
            keep[kind] = min(days * DAY, cap) if days > 0 else None
        return cls(
            max_bytes=settings.log_max_size_mb * 1024 * 1024,
            max_age_s=table["max_age"],
            keep_s=keep,
            sessions_live=settings.session_log_retention,
            session_archive_s=cap,
            stale_session_s=table["stale_session"],
        )


def stamp(t: float) -> str:
    """`20260209T142345.123Z`: the archive name's UTC time."""
    ms = int(t * 1000)
    return f"{time.strftime(STAMP, time.gmtime(ms // 1000))}.{ms % 1000:03d}Z"


def stamp_time(text: str) -> float | None:
    try:
        seconds = calendar.timegm(time.strptime(text[:15], STAMP))
        return seconds + int(text[16:19]) / 1000 if text[15] == "." and text.endswith("Z") else None
    except (ValueError, IndexError):
        return None


def event_time(raw: bytes | None) -> float | None:
    """The timestamp of one raw line (an event, a metrics line or an alert, which has no
    event_type), or None when it has none readable."""
    if not raw:
        return None
    try:
        return parse_time(jsonline.decode(raw.removeprefix(BOM))["timestamp"])
    except (msgspec.DecodeError, KeyError, TypeError, ValueError):
        return None


def due(path: Path, policy: Policy, now: float) -> str | None:
    """Why a live file should be rotated now (None: it should not)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size == 0:
        return None
    if size >= policy.max_bytes:
        return f"size {size} B >= {policy.max_bytes:.0f} B"
    oldest = event_time(first_line(path))
    if policy.max_age_s is not None and oldest is not None and now - oldest >= policy.max_age_s:
        return f"oldest event {(now - oldest) / DAY:.1f} days old"
    return None


def finished(path: Path, policy: Policy, now: float) -> str | None:
    """Why a transcript may be archived (None: it may still be running).

    Finished means its last event is a session_end; an attempt that never wrote one is
    taken as abandoned only after `stale_session` without a write."""
    last = last_line(path)
    try:
        if last and decode_line(last).get("event_type") == "session_end":
            return "finished"
    except EventError:
        pass
    idle = now - path.stat().st_mtime
    return f"unfinished, idle {idle / DAY:.1f} days" if idle >= policy.stale_session_s else None


def sessions_to_archive(log_dir: Path, policy: Policy, now: float) -> list[tuple[Path, str]]:
    """Transcripts beyond the newest `sessions_live` (by last write) that are not running."""
    folder = log_dir / layout.SESSIONS
    try:
        entries = [e for e in os.scandir(folder) if e.name.endswith(".jsonl") and e.is_file()]
    except FileNotFoundError:
        return []
    entries.sort(key=lambda e: e.stat().st_mtime, reverse=True)
    chosen = []
    for entry in entries[max(0, policy.sessions_live) :]:
        try:
            reason = finished(Path(entry.path), policy, now)
        except FileNotFoundError:
            continue
        if reason:
            chosen.append((Path(entry.path), reason))
    return chosen


def expired(log_dir: Path, policy: Policy, now: float) -> list[tuple[Path, str]]:
    """Archives past their kind's retention (age = the rotation time in the name)."""
    folder = log_dir / layout.ARCHIVE
    found = []
    for kind, name in layout.KINDS.items():
        keep = policy.keep_s[kind]
        if keep is None:
            continue
        stem = name.removesuffix(".jsonl") + "-"
        for path in _listing(folder):
            if path.name.startswith(stem) and path.name.endswith(".jsonl.gz"):
                when = stamp_time(path.name[len(stem) : -len(".jsonl.gz")]) or path.stat().st_mtime
                if now - when >= keep:
                    found.append((path, f"{kind} archive {(now - when) / DAY:.1f} days old"))
    for path in _listing(folder / layout.SESSIONS):
        if path.name.endswith(".jsonl.gz") and now - path.stat().st_mtime >= policy.session_archive_s:
            found.append((path, f"transcript archive {(now - path.stat().st_mtime) / DAY:.1f} days old"))
    return found


def _listing(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_file())
    except FileNotFoundError:
        return []
