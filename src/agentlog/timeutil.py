"""Times as people type them: `2h`, `7d`, `30m`, `2026-02-09`, `2026-02-09T14:00:00Z`."""

from __future__ import annotations

import re
import time

from .events import parse_time

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")


def parse_when(text: str, now: float | None = None) -> float:
    """Epoch seconds for a relative age (`7d` = seven days ago) or an ISO 8601 time."""
    text = text.strip()
    match = _RELATIVE.fullmatch(text)
    if match:
        return (time.time() if now is None else now) - float(match[1]) * _UNITS[match[2]]
    try:
        return parse_time(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither an age like 7d/12h/30m nor an ISO 8601 time") from None


def parse_duration(text: str) -> float:
    """Seconds in `1d`, `12h`, `30m`, `45s`."""
    match = _RELATIVE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration like 1d, 12h, 30m or 45s")
    return float(match[1]) * _UNITS[match[2]]
