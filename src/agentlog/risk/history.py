"""The recorded history as the risk model sees it: each attempt's step features and outcome.

Lines are decoded into the watchdog's own typed view (plus the envelope's model), so the
features of a replay or a training run are those the live watch computes.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import msgspec

from ..store import layout
from ..store.reader import ReadReport, files_of, open_log
from ..watch.view import WatchEvent, decode_or_why
from .features import State, Tracker


_decoder = msgspec.json.Decoder(WatchEvent)


def read_events(log_dir: Path, report: ReadReport | None = None) -> Iterator[WatchEvent]:
    """Every stream event (archives first), as the watch decodes it; a bad line is reported."""
    report = report if report is not None else ReadReport()
    for path in files_of(Path(log_dir), layout.STREAM):
        try:
            handle = open_log(path)
        except FileNotFoundError:
            continue
        with handle:
            for lineno, raw in enumerate(handle, 1):
                if not raw.endswith(b"\n") or not raw.strip():
                    continue
                report.lines += 1
                try:
                    yield _decoder.decode(raw.removeprefix(b"\xef\xbb\xbf"))
                except msgspec.DecodeError:
                    why = decode_or_why(raw)
                    report.skipped(path, lineno, why if isinstance(why, str) else "not an event")


@dataclass
class Run:
    """One attempt's features at each step; `ended`: the last one was closed by session_end."""

    attempt_id: str
    executor: str | None = None
    task_id: str | None = None
    vectors: list[list[float]] = field(default_factory=list)
    ended: bool = False
    status: str | None = None  # completion_status of its session_end
    cost: float = 0.0
    tokens: int = 0

    def live(self) -> list[list[float]]:
        """The steps scored while the run went on (those an alert could come from)."""
        return self.vectors[:-1] if self.ended else self.vectors


def runs(events: Iterator[WatchEvent], keep: Callable[[WatchEvent], bool] | None = None) -> list[Run]:
    """Per attempt, the features of every step (its latest session)."""
    found: dict[str, tuple[Run, State]] = {}
    for event in events:
        attempt = event.attempt_id
        if type(attempt) is not str or not attempt or event.data is None or (keep and not keep(event)):
            continue
        if attempt not in found or event.event_type == "session_start":
            found[attempt] = (Run(attempt), State())
        run, state = found[attempt]
        run.executor = event.executor or run.executor
        run.task_id = event.task_id or run.task_id
        closed = Tracker(state).feed(event)
        if closed is not None:
            run.vectors.append(closed[1])
        if event.event_type == "session_end":
            run.ended, run.status = True, event.data.completion_status
        run.cost, run.tokens = state.cost, state.tokens
    return [run for run, _ in found.values()]


def read_labels(path: Path) -> dict[str, bool]:
    """attempt id -> failed, from CSV (columns attempt_id and one of failed / resolved /
    outcome) or JSON lines with the same keys. Raises ValueError saying what is wrong."""
    text = Path(path).read_text(encoding="utf-8")
    rows = (
        # lines end at "\n" only: str.splitlines() also cuts at U+2028 or U+0085 inside a value
        [json.loads(line) for line in text.split("\n") if line.strip()]
        if text.lstrip().startswith("{")
        else list(csv.DictReader(text.splitlines()))
    )
    labels = {}
    for number, row in enumerate(rows, 1):
        attempt = row.get("attempt_id")
        failed = _failed(row)
        if not attempt or failed is None:
            raise ValueError(f"{path}: row {number}: needs attempt_id and failed, resolved or outcome")
        labels[attempt] = failed
    return labels


_TRUE = {"true", "1", "yes"}
_SUCCESS = {"success", "resolved", "passed", "pass"}
_FAILURE = {"failed", "failure", "unresolved", "timeout", "interrupted", "fail"}


def _failed(row: dict) -> bool | None:
    for key, invert in (("failed", False), ("resolved", True)):
        value = row.get(key)
        if value is not None and str(value).strip() != "":
            truth = value if isinstance(value, bool) else str(value).strip().lower() in _TRUE
            return truth != invert
    outcome = str(row.get("outcome") or "").strip().lower()
    return False if outcome in _SUCCESS else True if outcome in _FAILURE else None
