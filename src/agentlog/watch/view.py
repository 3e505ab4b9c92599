"""The watchdog's typed view of a stream line: only the fields detectors read.

Decoding into this struct skips everything else (outputs, prompts, tool results) in C,
which is what makes catch-up fast. Fields are `Any` where producers disagree on types,
so an odd value reaches a detector (which checks it) instead of failing the line.
`tool_params` stays raw JSON: the tool loop only compares it, never reads it.
"""

from __future__ import annotations

from typing import Annotated, Any, NamedTuple

import msgspec

from ..events import BOM, UNTIMED


class Data(msgspec.Struct, gc=False):  # scalars only: no cycles, GC never scans them
    error_message: Any = None
    error_fingerprint: Any = None
    error_category: Any = None
    tool_name: Any = None
    tool_params: msgspec.Raw = msgspec.Raw(b"")
    prompt_type: Any = None
    cost_usd: Any = None
    completion_status: Any = None
    status: Any = None  # status_change: what the agent is doing now


class WatchEvent(msgspec.Struct, gc=False):
    timestamp: Any = None
    timestamp_quality: Any = None  # "approximate" | "synthetic": not a measure of real time
    event_type: Any = None
    attempt_id: Any = None
    event_id: Any = None
    executor: Any = None
    task_id: Any = None
    sequence_num: Any = None
    data: Data | None = None


class UsualEvent(msgspec.Struct, gc=False):
    """A `WatchEvent` as nearly every producer writes it: string ids, `data` present.

    Decoding a batch into this checks those types in C, so the hot loop need not; a line
    that fails it (odd, or malformed) is decoded on its own as a `WatchEvent` and goes the
    general way, through `Engine.process`.
    """

    timestamp: str
    event_type: str
    attempt_id: Annotated[str, msgspec.Meta(min_length=1)]
    data: Data
    timestamp_quality: Any = None
    event_id: Any = None
    executor: Any = None
    task_id: Any = None
    sequence_num: Any = None


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
    """The event on one line, or why it is not one."""
    if line[:3] == BOM:
        line = line[3:]
    try:
        return _decoder.decode(line)
    except msgspec.ValidationError as exc:  # a subclass of DecodeError: first
        return f"not an event ({exc})"
    except msgspec.DecodeError as exc:
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
