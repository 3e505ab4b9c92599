"""Numbers and times as people read them, shared by the dashboard, the report and replay."""

from __future__ import annotations

import datetime as _dt
from typing import Any


def duration(ms: float | None) -> str:
    """`850ms`, `12.3s`, `4m 05s`, `2h 10m`; `-` when unknown."""
    if ms is None:
        return "-"
    seconds = ms / 1000
    if seconds < 1:
        return f"{ms:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def money(usd: float | None) -> str:
    if usd is None:
        return "-"
    if abs(usd) >= 0.1 or not usd:
        return f"${usd:,.2f}"
    return "$" + f"{usd:.4f}".rstrip("0").rstrip(".")  # small sums keep their digits: $0.0042


def count(n: float | None) -> str:
    if n is None:
        return "-"
    n = float(n)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= limit:
            return f"{n / limit:.1f}{suffix}"
    return f"{n:.0f}" if n == int(n) else f"{n:.1f}"


def percent(p: float | None) -> str:
    return "-" if p is None else f"{p:.0f}%"


def when(value: Any) -> str:
    """A datetime or ISO string as `2026-02-09 14:23:45` UTC."""
    if value is None:
        return "-"
    if isinstance(value, str):
        try:
            value = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, (int, float)):
        value = _dt.datetime.fromtimestamp(value, _dt.timezone.utc)
    if value.tzinfo is not None:
        value = value.astimezone(_dt.timezone.utc)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def clip(text: Any, limit: int = 120) -> str:
    """The first line of `text`, cut to `limit` characters with an ellipsis."""
    if text is None:
        return ""
    line = str(text).strip().split("\n", 1)[0]
    more = len(line) > limit or "\n" in str(text).strip()
    return (line[: limit - 1] + "…") if len(line) > limit else line + (" …" if more else "")
