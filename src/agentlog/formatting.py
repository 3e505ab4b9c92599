"""Numbers and times as people read them, shared by the dashboard, the report, replay and
the CLI's tables: one rounding and one set of units everywhere."""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any

_UNITS = ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def duration(ms: float | None) -> str:
    """`850ms`, `12.3s`, `4m 05s`, `2h 10m`; `-` when unknown."""
    if ms is None:
        return "-"
    if not math.isfinite(ms):
        return str(ms)
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
    if abs(usd) < 0.00005:  # would print as $0: a cost that is not nothing says so
        return ("-" if usd < 0 else "") + "<$0.0001"
    return "$" + f"{usd:.4f}".rstrip("0").rstrip(".")  # small sums keep their digits: $0.0042


def count(n: float | None) -> str:
    """`950`, `12.3k`, `4.5M`, `123.5G` ... `1.2E`; beyond that `1.2e+21`; `-` when unknown."""
    if n is None:
        return "-"
    n = float(n)
    if not math.isfinite(n):
        return str(n)
    if abs(n) >= 999.95e18:
        return f"{n:.1e}"
    for limit, suffix in _UNITS:
        if abs(n) >= limit * 0.99995:  # 999,999 is 1.0M, not 1000.0k
            return f"{n / limit:.1f}{suffix}"
    return f"{n:.0f}" if n == int(n) else f"{n:.1f}"


def percent(p: float | None) -> str:
    return "-" if p is None else f"{p:.0f}%"


def number(n: float | None) -> str:
    """A plain quantity (errors per session, counts): whole numbers as such, else one decimal."""
    if n is None:
        return "-"
    if isinstance(n, float):
        if not math.isfinite(n):
            return str(n)
        return f"{n:,.0f}" if n.is_integer() else f"{n:,.1f}"
    return f"{n:,}"


def label(column: str) -> str:
    """A column name as a table header; the unit moves into the values (`avg_duration_ms`
    is headed `avg duration` and shows `1m 23s`)."""
    for suffix in _COLUMN_UNITS:
        if column.endswith(suffix):
            column = column[: -len(suffix)]
            break
    return column.replace("_", " ")


def cell(column: str, value: Any) -> str:
    """A value of the named column as a table shows it: money, percent, duration and token
    counts by the column's unit; yes/no; times in UTC; lists and mappings on one line."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        for suffix, show in _COLUMN_UNITS.items():
            if column.endswith(suffix):
                return show(value)
        return count(value) if "tokens" in column else number(value)
    if isinstance(value, _dt.datetime):
        return when(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ("; " if any(" " in str(v) for v in value) else ", ").join(map(str, value))
    return str(value)


def when(value: Any, ms: bool = False) -> str:
    """A datetime, epoch seconds or ISO string as `2026-02-09 14:23:45` UTC (with `ms`,
    `2026-02-09 14:23:45.123`); text that is not a time is returned as it is."""
    if value is None:
        return "-"
    if isinstance(value, str):
        try:
            value = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    try:
        if isinstance(value, (int, float)):
            value = _dt.datetime.fromtimestamp(value, _dt.timezone.utc)
        if value.tzinfo is not None:
            value = value.astimezone(_dt.timezone.utc)
    except (OverflowError, OSError, ValueError):  # a time no calendar of ours holds
        return str(value)
    return value.strftime("%Y-%m-%d %H:%M:%S") + (f".{value.microsecond // 1000:03d}" if ms else "")


def clip(text: Any, limit: int = 120) -> str:
    """The first line of `text`, cut to `limit` characters with an ellipsis."""
    if text is None:
        return ""
    line = str(text).strip().split("\n", 1)[0]
    more = len(line) > limit or "\n" in str(text).strip()
    return (line[: limit - 1] + "…") if len(line) > limit else line + (" …" if more else "")


_COLUMN_UNITS = {"_usd": money, "_pct": percent, "_ms": duration}
