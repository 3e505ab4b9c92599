"""The watchdog's typed view of a stream line in Python: `events.ReadEvent`, the fields every
reader relies on, so a line the watchdog skips as malformed is the line `cat` or `replay` skip.

The native engine decodes lines itself; this view is what it hands to detectors written in
Python (the slow path), and what the guard, the fleet and the MCP tools read events with.
`tool_params` stays raw JSON: detectors compare or search it, never need it decoded.
The texts the failure-risk features measure (a prompt, the model's writing, a tool's output)
stay raw too: looked at only for their size and a bounded slice of their ends.
"""

from __future__ import annotations

from typing import NamedTuple

import msgspec

from .. import _core
from ..events import BOM, ReadData, ReadEvent, UNTIMED, parse_time


class Data(ReadData, gc=False):  # scalars only: no cycles, GC never scans them
    tool_params: msgspec.Raw = msgspec.Raw(b"")
    # texts kept raw (never decoded): the failure-risk features measure them, bounded
    prompt: msgspec.Raw = msgspec.Raw(b"")
    thinking: msgspec.Raw = msgspec.Raw(b"")
    content: msgspec.Raw = msgspec.Raw(b"")
    output: msgspec.Raw = msgspec.Raw(b"")
    result_data: msgspec.Raw = msgspec.Raw(b"")


class WatchEvent(ReadEvent, gc=False):
    data: Data = None  # type: ignore[assignment]  # absent: None (ignored); null: malformed
    model: str | None = None  # whose context window a usage filled (failure risk)


_decoder = msgspec.json.Decoder(WatchEvent)


class Malformed(NamedTuple):
    """A line that is not an event: its place in the lines given, and why."""

    index: int
    reason: str


def decode(line: bytes) -> WatchEvent | None:
    """The event on one line, or None for a blank, malformed or non-object line."""
    event = decode_or_why(line)
    return None if isinstance(event, str) else event


def decode_or_why(line: bytes) -> WatchEvent | str:
    """The event on one line, or why it is not one: the native decoder's verdict
    (`_core.line_problem`, what `cat` and `replay` skip too), then the typed view."""
    problem = _core.line_problem(line)
    if problem is not None:
        field, reason = problem
        return reason if field == "line" else f"not an event ({reason})"
    try:
        return _decoder.decode(line.removeprefix(BOM))
    except msgspec.DecodeError as exc:  # the two decoders disagree (a bug): still only a skipped line
        return f"not valid JSON ({exc})"


def timed(event: WatchEvent) -> bool:
    """Whether the event's time measures real time: not approximate or synthetic (rules
    about repetition count such an event; rules about time spans leave it out)."""
    quality = event.timestamp_quality
    return quality is None or type(quality) is not str or quality not in UNTIMED


def trigger_of(event: WatchEvent) -> str:
    """A stable identity of an event, for deterministic alert ids."""
    if isinstance(event.event_id, str) and event.event_id:
        return event.event_id
    return f"{event.timestamp}#{event.sequence_num}"


def event_time(timestamp: str) -> float | None:
    """Epoch seconds of an event's timestamp not in the stream's own format (the native engine
    parses that one itself and asks here for the others), or None when it is no time."""
    if len(timestamp) == 24 and timestamp[19] == "." and timestamp[23] == "Z":  # the stream's shape, odd digits
        try:
            base = parse_time(timestamp[:19] + "Z")
            return base + int(timestamp[20:23]) / 1000
        except ValueError:
            return None
    try:
        return parse_time(timestamp)
    except ValueError:
        return None
