"""Bar charts as geometry, drawn as inline SVG by `templates/_svg.html` (no script, opens offline)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

COLORS = {
    "succeeded": "#1f8a4c",
    "failed": "#c62828",
    "open": "#8fa8ff",
    "cost_usd": "#3557c9",
    "success_pct": "#1f8a4c",
}


@dataclass
class Rect:
    x: float
    y: float
    w: float
    h: float
    color: str
    tip: str


@dataclass
class Chart:
    title: str
    width: int = 560
    height: int = 220
    rects: list[Rect] = field(default_factory=list)
    xlabels: list[tuple[float, str]] = field(default_factory=list)
    ylabels: list[tuple[float, str]] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)  # (color, name)


LEFT, RIGHT, TOP, BOTTOM = 48, 8, 10, 24


def column_chart(
    title: str, labels: list[str], series: dict[str, list[float]], tick: Callable[[float], str] = lambda v: f"{v:g}"
) -> Chart:
    """Stacked columns: one per label, one segment per series (in the given order)."""
    chart = Chart(title, legend=[(COLORS.get(name, "#888"), name) for name in series] if len(series) > 1 else [])
    plot_w, plot_h = chart.width - LEFT - RIGHT, chart.height - TOP - BOTTOM
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    top = nice_max(max(totals, default=0))
    slot = plot_w / max(len(labels), 1)
    for i, label in enumerate(labels):
        x, base = LEFT + i * slot + slot * 0.15, TOP + plot_h
        for name, values in series.items():
            h = plot_h * values[i] / top if top else 0
            if h > 0:
                base -= h
                chart.rects.append(
                    Rect(x, base, slot * 0.7, h, COLORS.get(name, "#888"), f"{label} {name}: {tick(values[i])}")
                )
        if len(labels) <= 16 or i % math.ceil(len(labels) / 16) == 0:
            chart.xlabels.append((x + slot * 0.35, label))
    chart.ylabels = [(TOP + plot_h * (1 - f), tick(top * f)) for f in (0, 0.5, 1)]
    return chart


def row_chart(
    title: str, rows: list[dict[str, Any]], name_key: str, value_key: str, top: float, tick: Callable[[float], str]
) -> Chart:
    """Horizontal bars, one per row (e.g. success rate per executor)."""
    height = TOP + BOTTOM + 26 * max(len(rows), 1)
    chart = Chart(title, height=height)
    plot_w = chart.width - 150 - RIGHT
    for i, row in enumerate(rows):
        value = row.get(value_key) or 0
        y = TOP + i * 26
        chart.rects.append(
            Rect(
                150,
                y + 4,
                plot_w * min(value / top, 1) if top else 0,
                18,
                COLORS.get(value_key, "#3557c9"),
                f"{row[name_key]}: {tick(value)}",
            )
        )
        chart.ylabels.append((y + 17, f"{row[name_key]} {tick(value)}"))
    return chart


def nice_max(value: float) -> float:
    """A round axis maximum at or above `value` (1, 2, 2.5, 5 x 10^n)."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def report_charts(report) -> list[Chart]:
    from .. import formatting as fmt

    days = [d["day"][5:] for d in report.daily]
    charts = [
        column_chart(
            "Sessions per day", days, {k: [d[k] for d in report.daily] for k in ("succeeded", "failed", "open")}
        ),
        column_chart(
            "Cost per day (USD)", days, {"cost_usd": [d["cost_usd"] for d in report.daily]}, tick=lambda v: f"{v:.2f}"
        ),
    ]
    rated = [r for r in report.executors if r.get("success_pct") is not None]
    if rated:
        charts.append(row_chart("Success rate by executor", rated, "executor", "success_pct", 100, fmt.percent))
    return charts
