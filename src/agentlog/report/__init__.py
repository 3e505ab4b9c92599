"""The weekly report: figures for a period against the one before, with recommendations.

    report = build_report(settings, days=7)
    paths = write_report(report, "reports/")      # {"html": ..., "md": ..., "json": ...}
    text = report_text(report)                    # the headline for a chat message

Delivery through the alert sinks and the weekly schedule (`WeeklySchedule`) are used by
`agentlog watch --weekly-report "SUN 09:00"`.
"""

from __future__ import annotations

from .build import Report, build_report
from .recommend import Recommendation, Thresholds
from .render import render_html, render_json, render_markdown, report_text, write_report
from .schedule import Spec, WeeklySchedule, next_due

__all__ = [
    "Recommendation",
    "Report",
    "Spec",
    "Thresholds",
    "WeeklySchedule",
    "build_report",
    "next_due",
    "render_html",
    "render_json",
    "render_markdown",
    "report_text",
    "write_report",
]
