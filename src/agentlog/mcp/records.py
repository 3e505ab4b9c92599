"""The log's lines, decoded only as far as the answers need: events, alerts, their times
and error fingerprints."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import msgspec

from .. import jsonline
from ..events import parse_time


class Data(msgspec.Struct, gc=False):
    working_dir: Any = None
    tool_name: Any = None
    tool_params: msgspec.Raw = msgspec.Raw(b"")
    cost_usd: Any = None
    error_message: Any = None
    error_fingerprint: Any = None
    error_category: Any = None
    completion_status: Any = None


class Event(msgspec.Struct, gc=False):
    event_type: Any = None
    timestamp: Any = None
    attempt_id: Any = None
    data: Data | None = None


class Alert(msgspec.Struct, gc=False):
    attempt_id: Any = None
    alert_id: Any = None
    type: Any = None
    severity: Any = None
    recommendation: Any = None
    message: Any = None
    event_time: Any = None
    decision: Any = None


_event_decoder = msgspec.json.Decoder(Event)
_events_decoder = msgspec.json.Decoder(list[Event])
alert_decoder = msgspec.json.Decoder(Alert)
_ERRORS = (msgspec.DecodeError, msgspec.ValidationError)
_SPLIT = 16  # a batch that does not decode whole is retried in this many parts


def event(line: bytes) -> Event | None:
    """The event on `line`, or None for a line that is not one (malformed, no data)."""
    try:
        found = jsonline.decode(line.removeprefix(b"\xef\xbb\xbf"), _event_decoder)
    except _ERRORS:
        return None
    return _usable(found)


def events(lines: list[bytes]) -> list[Event | None]:
    """`event(line)` of each line, decoded as one JSON array (one C call: an index of a
    large file is built several times faster); a batch holding a line that does not decode
    so (malformed, blank, glued, a BOM, one `jsonline` may refuse) goes in parts, down to
    line by line."""
    found = jsonline.decode_all(lines, _events_decoder)
    if found is not None:
        return [_usable(e) for e in found]
    if len(lines) > _SPLIT:
        step = -(-len(lines) // _SPLIT)
        return [e for i in range(0, len(lines), step) for e in events(lines[i : i + step])]
    return [event(line) for line in lines]


def _usable(found: Event) -> Event | None:
    return found if found.data is not None and type(found.event_type) is str else None


def seconds(timestamp: Any) -> float | None:
    try:
        return parse_time(timestamp) if type(timestamp) is str else None
    except ValueError:
        return None


def fingerprint(data: Data) -> tuple[str, str | None] | None:
    """(fingerprint, category) of an error event: as written, else as the recorder derives them."""
    fp = data.error_fingerprint
    category = data.error_category if type(data.error_category) is str else None
    if type(fp) is str and fp:
        return fp, category
    if type(data.error_message) is str and data.error_message:
        fp, derived = _analyze(data.error_message[:2000])
        return fp, category or derived
    return None


@lru_cache(maxsize=8192)
def _analyze(message: str) -> tuple[str, str]:
    """(fingerprint, category) as the recorder derives them; logs repeat their messages."""
    from ..intel import analyze_error

    info = analyze_error(message)
    return info.fingerprint, info.category
