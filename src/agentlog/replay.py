"""Session replay: one attempt's transcript and its alerts as a timeline.

    timeline = build_timeline(log_dir, "ve-a1b2-implement-auth")
    print_timeline(timeline, Console())          # the terminal view
    Path("a.html").write_text(render_html(timeline))   # a standalone page

Tool results are folded under the call they answer (by call_id, else the latest open call
of the same tool); alerts raised for the attempt are placed where they happened (the time
of the event that triggered them). `follow` prints a running session as it grows and
`play` re-plays a finished one with its timing, scaled.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from .events import Alert, EventError, decode_line, parse_time
from .store import layout
from .store.metrics import session_metrics
from .store.reader import BadLine, ReadReport, read_kind, read_session
from .store.tail import Tailer
from .terminal import printable
from .store.alerts import decode_alert, read_alerts
from . import formatting as fmt

ICONS = {
    "session_start": "▶",
    "followup_sent": "↩",
    "agent_output": "💬",
    "agent_thinking": "💭",
    "tool_call": "🔧",
    "tool_result": "↳",
    "error": "❌",
    "usage": "💰",
    "status_change": "🔄",
    "session_end": "🏁",
    "alert": "🚨",
}
DETAIL_LIMIT = 20_000  # characters of one folded detail (a tool result can be megabytes)


@dataclass
class Entry:
    """One line of the timeline: an event, or an alert interleaved where it happened."""

    kind: str  # the event type, or "alert"
    timestamp: str | None
    elapsed_ms: float | None
    seq: int | None
    title: str  # what happened, on one line
    detail: str | None = None  # the folded part: params, full output, stack trace, evidence
    tone: str = ""  # ok | bad | warn | "" (for colours and CSS classes)
    result: "Entry | None" = None  # a tool call's result, folded under it
    call_id: str | None = None
    tool: str | None = None
    tokens: float | None = None  # a usage event's tokens and cost (the session page charts them)
    cost_usd: float | None = None

    @property
    def icon(self) -> str:
        return ICONS.get(self.kind, "•")

    @property
    def t(self) -> float | None:
        try:
            return parse_time(self.timestamp) if self.timestamp else None
        except ValueError:
            return None


@dataclass
class Timeline:
    attempt_id: str
    entries: list[Entry] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)  # executor, model, task, prompt, started
    metrics: dict[str, Any] = field(default_factory=dict)  # the session's metrics line (footer)
    alerts: int = 0
    ended: bool = False
    bad: list[BadLine] = field(default_factory=list)  # malformed transcript lines: where and why

    @property
    def found(self) -> bool:
        return bool(self.entries)

    @property
    def skipped(self) -> int:
        return len(self.bad)


class TimelineBuilder:
    """Adds events and alerts one at a time (so `follow` can print each as it comes)."""

    def __init__(self, attempt_id: str):
        self.timeline = Timeline(attempt_id)
        self.events: list[dict[str, Any]] = []
        self._open_calls: list[Entry] = []

    def add_event(self, event: dict[str, Any]) -> Entry:
        self.events.append(event)
        self._context(event)
        entry = describe(event)
        if entry.kind == "tool_result":
            call = self._match(entry)
            if call is not None:
                call.result = entry
                return entry
        elif entry.kind == "tool_call":
            self._open_calls.append(entry)
        elif entry.kind == "session_end":
            self.timeline.ended = True
        self.timeline.entries.append(entry)
        return entry

    def add_alert(self, alert: Alert) -> Entry:
        entry = describe_alert(alert)
        self.timeline.alerts += 1
        self.timeline.entries.append(entry)
        return entry

    def finish(self) -> Timeline:
        if self.events:
            self.timeline.metrics = session_metrics(self.events)["metrics"]
        return self.timeline

    def _match(self, result: Entry) -> Entry | None:
        for i in range(len(self._open_calls) - 1, -1, -1):
            call = self._open_calls[i]
            if (result.call_id and call.call_id == result.call_id) or (not result.call_id and call.tool == result.tool):
                return self._open_calls.pop(i)
        return None

    def _context(self, event: dict[str, Any]) -> None:
        context = self.timeline.context
        for key in ("executor", "model", "task_id", "task_title", "branch"):
            if event.get(key) is not None:
                context[key] = event[key]
        context.setdefault("started", event.get("timestamp"))
        if event.get("event_type") == "session_start":
            context.setdefault("prompt", (event.get("data") or {}).get("prompt"))


def build_timeline(log_dir: Path | str, attempt_id: str, alerts: Iterable[Alert] | None = None) -> Timeline:
    """The attempt's transcript (live or archived; else its stream lines) with its alerts."""
    log_dir = Path(log_dir)
    report = ReadReport()
    events = list(read_session(log_dir, attempt_id, report))
    if not events:
        events = [e for e in read_kind(log_dir, "stream", report=report) if e.get("attempt_id") == attempt_id]
    if alerts is None:
        alerts = (a for a in read_alerts(log_dir, archives=True) if a.attempt_id == attempt_id)
    builder = TimelineBuilder(attempt_id)
    merge(builder, events, alerts)
    timeline = builder.finish()
    timeline.bad = report.bad
    return timeline


def merge(builder: TimelineBuilder, events: Iterable[dict[str, Any]], alerts: Iterable[Alert]) -> list[Entry]:
    """Add events in transcript order, each alert before the first event later than it."""
    pending = sorted(alerts, key=_alert_time)
    shown = []
    for event in events:
        t = _event_time(event)
        while pending and t is not None and _alert_time(pending[0]) < t:
            shown.append(builder.add_alert(pending.pop(0)))
        shown.append(builder.add_event(event))
    shown += [builder.add_alert(alert) for alert in pending]
    return shown


def render_html(timeline: Timeline) -> str:
    """A standalone page (styles inlined, no scripts) of the timeline."""
    from .web.templating import render, static_text

    return render("replay_export.html", timeline=timeline, css=static_text("agentlog.css"))


# --- describing one event -----------------------------------------------------------


def describe(event: dict[str, Any]) -> Entry:
    kind = str(event.get("event_type"))
    data = event.get("data") or {}
    entry = Entry(kind, event.get("timestamp"), event.get("elapsed_ms"), event.get("sequence_num"), kind)
    describe_data = _DESCRIBERS.get(kind)
    if describe_data is not None:
        describe_data(entry, data)
    return entry


def _start(entry: Entry, data: dict) -> None:
    entry.title = f"session start ({data.get('prompt_type') or 'initial'})"
    entry.detail = _text(data.get("prompt"))


def _followup(entry: Entry, data: dict) -> None:
    entry.title = f"follow-up{': ' + str(data['reason']) if data.get('reason') else ''}"
    entry.detail = _text(data.get("message"))


def _output(entry: Entry, data: dict) -> None:
    entry.title = fmt.clip(data.get("output"), 100) or "(no output)"
    entry.detail = _text(data.get("output"))
    entry.tone = "bad" if data.get("stream_type") == "stderr" else ""


def _thinking(entry: Entry, data: dict) -> None:
    text = data.get("thinking") or data.get("content")
    entry.title, entry.detail = fmt.clip(text, 100) or "(thinking)", _text(text)


def _tool_call(entry: Entry, data: dict) -> None:
    entry.tool, entry.call_id = str(data.get("tool_name")), data.get("call_id")
    params = data.get("tool_params")
    entry.title = f"{entry.tool} {fmt.clip(_compact(params), 90)}".rstrip()
    entry.detail = _text(params)


def _tool_result(entry: Entry, data: dict) -> None:
    entry.tool, entry.call_id = data.get("tool_name"), data.get("call_id")
    failed = data.get("result") == "error"
    entry.tone = "bad" if failed else "ok"
    entry.title = (
        f"{'✗' if failed else '✓'} {data.get('result') or 'result'}: {fmt.clip(_compact(data.get('result_data')), 90)}"
    )
    entry.detail = _text(data.get("result_data"))


def _error(entry: Entry, data: dict) -> None:
    entry.tone = "bad"
    tags = " ".join(f"[{data[k]}]" for k in ("error_category", "error_fingerprint") if data.get(k))
    entry.title = f"{fmt.clip(data.get('error_message'), 100)} {tags}".strip()
    entry.detail = "\n\n".join(t for t in (_text(data.get("error_message")), _text(data.get("stack_trace"))) if t)


def _usage(entry: Entry, data: dict) -> None:
    tokens = sum(
        v for k, v in data.items() if k.endswith("_tokens") and k != "total_tokens" and isinstance(v, (int, float))
    )
    entry.title = f"{fmt.count(tokens)} tokens, {fmt.money(data.get('cost_usd'))}"
    entry.tokens = tokens
    cost = data.get("cost_usd")
    entry.cost_usd = cost if isinstance(cost, (int, float)) and not isinstance(cost, bool) else None


def _status(entry: Entry, data: dict) -> None:
    entry.title = (
        f"status {data.get('previous_status') or '?'} → {data.get('status')}"
        f"{': ' + str(data['reason']) if data.get('reason') else ''}"
    )


def _end(entry: Entry, data: dict) -> None:
    status = data.get("completion_status") or "ended"
    entry.tone = "ok" if status == "success" else "bad"
    entry.title = f"session end: {status}"
    entry.detail = _text(data.get("outcome")) if data.get("outcome") else None


_DESCRIBERS: dict[str, Callable[[Entry, dict], None]] = {
    "session_start": _start,
    "followup_sent": _followup,
    "agent_output": _output,
    "agent_thinking": _thinking,
    "tool_call": _tool_call,
    "tool_result": _tool_result,
    "error": _error,
    "usage": _usage,
    "status_change": _status,
    "session_end": _end,
}


def describe_alert(alert: Alert) -> Entry:
    evidence = {
        k: getattr(alert, k)
        for k in (
            "error_fingerprint",
            "tool_name",
            "occurrences",
            "idle_time_ms",
            "cost_usd",
            "threshold",
            "window_ms",
            "message",
        )
        if getattr(alert, k) is not None
    }
    what = alert.message or alert.error_fingerprint or alert.tool_name or ""
    return Entry(
        "alert",
        alert.event_time or alert.timestamp,
        None,
        None,
        f"ALERT {alert.type} [{alert.severity}] {what} → {alert.recommendation}".replace("  ", " "),
        detail=json.dumps(evidence, indent=2, ensure_ascii=False) if evidence else None,
        tone="bad" if alert.severity == "high" else "warn",
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1, default=str)
    return (
        text
        if len(text) <= DETAIL_LIMIT
        else text[:DETAIL_LIMIT] + f"\n… ({len(text) - DETAIL_LIMIT:,} more characters)"
    )


def _compact(value: Any) -> str:
    if value is None or isinstance(value, str):
        return value or ""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)[:1000]


def _event_time(event: dict[str, Any]) -> float | None:
    try:
        return parse_time(event["timestamp"])
    except (KeyError, TypeError, ValueError):
        return None


def _alert_time(alert: Alert) -> float:
    try:
        return parse_time(alert.event_time or alert.timestamp)
    except (TypeError, ValueError):
        return float("inf")


# --- terminal -----------------------------------------------------------------------

_STYLES = {"ok": "green", "bad": "red", "warn": "yellow"}
TIME_WIDTH = 23  # 2026-02-09 14:23:45.123 (UTC)
INDENT = " " * (TIME_WIDTH + 21)  # where folded details start: under the event's title


def entry_lines(entry: Entry, full: bool = False) -> list[tuple[str, str]]:
    """(text, rich style) lines for one entry, recorded text made printable; results
    folded under their call."""
    time_part = fmt.when(entry.timestamp, ms=True) if entry.timestamp else "-"
    elapsed = f"+{fmt.duration(entry.elapsed_ms)}" if entry.elapsed_ms is not None else ""
    seq = f"#{entry.seq}" if entry.seq is not None else ""
    style = "bold red" if entry.kind == "alert" else _STYLES.get(entry.tone, "")
    head = f"{time_part:<{TIME_WIDTH}} {elapsed:>9} {seq:>5} {entry.icon} {entry.kind:<14} "
    lines = [(head + printable(entry.title, one_line=True), style)]
    if full and entry.detail and entry.kind != "alert":
        lines += [(f"{INDENT}│ {printable(line, one_line=True)}", "dim") for line in entry.detail.splitlines()]
    if entry.result is not None:
        lines.append((f"{INDENT}└ {printable(entry.result.title, one_line=True)}", _STYLES.get(entry.result.tone, "")))
    return lines


def print_entry(console, entry: Entry, full: bool = False) -> None:
    from rich.text import Text

    for text, style in entry_lines(entry, full):
        console.print(Text(text, style=style), soft_wrap=True)  # Text: agent output is never markup


def print_header(console, timeline: Timeline) -> None:
    from rich.text import Text

    c = timeline.context
    console.print(Text(printable(f"Replay of {timeline.attempt_id}", one_line=True), style="bold"))
    parts = [f"{k}: {c[k]}" for k in ("executor", "model", "task_id", "task_title") if c.get(k)]
    if parts:
        console.print(Text(printable("  ".join(parts), one_line=True), style="dim"))


def print_footer(console, timeline: Timeline) -> None:
    from rich.text import Text

    m = timeline.metrics
    status = m.get("completion_status") or ("open" if not timeline.ended else "ended")
    console.rule()
    footer = Text(
        f"duration {fmt.duration(m.get('duration_ms'))}   tokens {fmt.count(m.get('total_tokens'))}   "
        f"cost {fmt.money(m.get('cost_usd'))}   tool calls {m.get('tool_calls', 0)}   "
        f"errors {m.get('errors', 0)}   alerts {timeline.alerts}   outcome "
    )
    footer.append(printable(status, one_line=True), style="bold")
    console.print(footer)


def print_timeline(timeline: Timeline, console, full: bool = False) -> None:
    print_header(console, timeline)
    for entry in timeline.entries:
        print_entry(console, entry, full)
    print_footer(console, timeline)


# --- timing: play and follow ----------------------------------------------------------


def play(
    timeline: Timeline,
    show: Callable[[Entry], None],
    speed: float,
    *,
    max_wait_s: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    idle: Callable[[float], None] | None = None,
) -> None:
    """Show entries with their real gaps divided by `speed`; a gap longer than
    `max_wait_s` (after scaling) is cut short and reported through `idle(seconds)`."""
    last = None
    for entry in timeline.entries:
        t = entry.t
        if last is not None and t is not None and t > last:
            wait = (t - last) / speed
            if wait > max_wait_s and idle is not None:
                idle(t - last)
            sleep(min(wait, max_wait_s))
        last = t if t is not None else last
        show(entry)


class NumberedLines:
    """New complete lines of one growing file with their line numbers, through the tailer
    (so a rotation or a replaced file loses nothing); numbering restarts with each new file."""

    def __init__(self, path: Path):
        self.path = path
        self.tailer = Tailer(path, None, start="beginning")
        self._file: tuple[int, int] | None = None
        self._count = 0

    def read(self) -> list[tuple[int, bytes]]:
        numbered = []
        for batch in self.tailer.batches():
            mark = batch.position[batch.index]
            if (mark.dev, mark.ino) != self._file:
                self._file, self._count = (mark.dev, mark.ino), 0
            for line in batch.lines:
                self._count += 1
                if line.strip():
                    numbered.append((self._count, line))
        return numbered

    def close(self) -> None:
        self.tailer.close()


def follow(
    log_dir: Path | str,
    attempt_id: str,
    show: Callable[[Entry], None],
    *,
    poll_s: float = 0.2,
    grace_s: float = 1.0,
    stop: Callable[[], bool] = lambda: False,
) -> Timeline:
    """Show the attempt's entries as they are written, until it ends (plus `grace_s` for
    the alerts its end may raise) or `stop()` says so. Returns the timeline so far."""
    log_dir = Path(log_dir)
    transcript = NumberedLines(layout.session_path(log_dir, attempt_id))
    alerts = NumberedLines(log_dir / layout.ALERTS)
    try:
        builder = TimelineBuilder(attempt_id)
        for entry in merge(builder, _events(transcript, builder), _alerts(alerts.read(), attempt_id)):
            show(entry)  # what was written before we started, interleaved as in a replay
        ended_at = None
        while not stop():
            for event in _events(transcript, builder):
                show(builder.add_event(event))
            for alert in _alerts(alerts.read(), attempt_id):
                show(builder.add_alert(alert))
            if builder.timeline.ended:
                ended_at = ended_at or time.monotonic()
                if time.monotonic() - ended_at >= grace_s:
                    break
            time.sleep(poll_s)
        return builder.finish()
    finally:
        transcript.close()
        alerts.close()


def _events(transcript: NumberedLines, builder: TimelineBuilder) -> list[dict[str, Any]]:
    """The new events of the transcript; its malformed lines go to the timeline's `bad`."""
    events = []
    for lineno, line in transcript.read():
        try:
            events.append(decode_line(line))
        except EventError as exc:
            builder.timeline.bad.append(BadLine(str(transcript.path), lineno, str(exc)))
    return events


def _alerts(lines: list[tuple[int, bytes]], attempt_id: str) -> list[Alert]:
    alerts = (decode_alert(line, whole=True) for _, line in lines)
    return [a for a in alerts if a is not None and a.attempt_id == attempt_id]
