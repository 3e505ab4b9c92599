"""Alerts as people read them (stdout, chat notifications), like the original monitor's."""

from __future__ import annotations

from ..events import Alert
from ..terminal import printable

EMOJI = {"high": "🚨", "medium": "⚠️", "low": "ℹ️"}
EVIDENCE = (
    ("error_fingerprint", "Error"),
    ("error_category", "Category"),
    ("tool_name", "Tool"),
    ("occurrences", "Occurrences"),
    ("idle_time_ms", "Idle ms"),
    ("cost_usd", "Cost $"),
    ("threshold", "Threshold"),
    ("window_ms", "Window ms"),
)


def title(alert: Alert) -> str:
    return f"{EMOJI.get(alert.severity, '•')} {alert.type} [{alert.severity}] {alert.attempt_id}"


def body(alert: Alert) -> str:
    lines = [f"Attempt: {alert.attempt_id}", f"Executor: {alert.executor or '?'}"]
    if alert.message:
        lines.append(alert.message)
    lines += [f"{label}: {getattr(alert, name)}" for name, label in EVIDENCE if getattr(alert, name) is not None]
    lines.append(f"Recommendation: {alert.recommendation}")
    return "\n".join(lines)


def one_line(alert: Alert) -> str:
    """The alert on one terminal line, recorded text in it made printable. It starts with
    the time the alert was raised, so lines listed as they arrived read in order; the time
    of the event that triggered it follows when that differs (a replay of old logs, an
    agent idle since then)."""
    what = alert.message or alert.error_fingerprint or alert.tool_name or ""
    event = (
        f"  (event {alert.event_time})" if alert.event_time and alert.event_time[:19] != alert.timestamp[:19] else ""
    )
    return printable(
        f"{alert.timestamp}  {alert.severity.upper():6} {alert.type:32} "
        f"{alert.attempt_id}  {alert.executor or '-'}  {what}  -> {alert.recommendation}{event}",
        one_line=True,
    )
