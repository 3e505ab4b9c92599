"""Acknowledged alerts: `state/alerts-acknowledged.jsonl`, one line per acknowledgement.

The alerts journal is never rewritten (the watchdog and the guard append to it, and its
lines are what every reader shares); an acknowledgement is a line of its own, appended with
O_APPEND like every log line, so two browsers acknowledging at once both land.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import msgspec

from ..events import now_iso
from ..store import layout, modes

FILE = "alerts-acknowledged.jsonl"
ALERT_ID = re.compile(r"[0-9a-f]{8,64}")  # what engine.alert_id makes (and the guard's, the same way)


class Ack(msgspec.Struct):
    alert_id: str
    at: str


def path_of(log_dir: Path) -> Path:
    return Path(log_dir) / layout.STATE / FILE


def acknowledged(log_dir: Path) -> set[str]:
    """The ids acknowledged so far; unreadable lines are skipped."""
    try:
        raw = path_of(log_dir).read_bytes()
    except FileNotFoundError:
        return set()
    found = set()
    for line in raw.splitlines():
        try:
            found.add(msgspec.json.decode(line, type=Ack).alert_id)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
    return found


def acknowledge(log_dir: Path, alert_id: str) -> None:
    if not ALERT_ID.fullmatch(alert_id):
        raise ValueError(f"not an alert id: {alert_id[:80]!r}")
    path = path_of(log_dir)
    modes.make_dirs(path.parent)
    fd = modes.create(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, msgspec.json.encode(Ack(alert_id, now_iso())) + b"\n")
    finally:
        os.close(fd)
