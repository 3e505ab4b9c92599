"""The event schema: envelope, per-type `data` fields, validation, encode/decode.

Events travel as plain dicts on the write path so that unknown fields written by
other producers (or by the original PowerShell/Node system) are kept, not dropped.
Writing checks every field of the schema (`validate`); reading checks, once per line and
the same way for every reader, the fields agentlog computes with (`ReadEvent`): a line
where one of them has the wrong type is malformed, reported and skipped. Numbers are
finite, >= 0 and within reason (`Tokens`, `Usd`, `Millis`) on both paths.
"""

from __future__ import annotations

import datetime as _dt
import functools
import os
from typing import Annotated, Any

import msgspec

from . import _core

# --- numbers: finite, >= 0 and within reason, wherever they come from --------

MAX_TOKENS = 10**12  # tokens of one event (one model call, or a whole session)
MAX_USD = 1_000_000.0  # dollars of one event: more is a unit error, and sums of it overflow
MAX_MS = 10 * 365 * 86_400_000.0  # ten years

Tokens = Annotated[int, msgspec.Meta(ge=0, le=MAX_TOKENS)]
Usd = Annotated[float, msgspec.Meta(ge=0, le=MAX_USD)]
Millis = Annotated[float, msgspec.Meta(ge=0, le=MAX_MS)]
Count = Annotated[int, msgspec.Meta(ge=0, le=2**53)]  # sequence numbers

# --- typed views -------------------------------------------------------------


class Event(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The stream envelope. Unknown envelope fields are ignored by this view."""

    timestamp: str
    event_type: str
    # how far `timestamp` is the source's own clock: absent = it is; see TIMESTAMP_QUALITIES
    timestamp_quality: str | None = None
    timestamp_original: str | None = None  # the time the writer gave, when it was clamped
    attempt_id: str | None = None
    event_id: str | None = None
    session_id: str | None = None
    task_id: str | None = None
    task_title: str | None = None
    executor: str | None = None
    executor_variant: str | None = None
    model: str | None = None
    branch: str | None = None
    elapsed_ms: Millis | None = None
    sequence_num: Count | None = None
    data: dict[str, Any] | None = None


class _Data(msgspec.Struct, kw_only=True):
    """Base of the per-type data specs; only used to validate, never to rebuild."""


class SessionStart(_Data):
    prompt: str | None = None
    prompt_type: str | None = None  # initial | followup | retry
    task_description: str | None = None
    repo: str | None = None
    commit: str | None = None
    working_dir: str | None = None
    parent_attempt_id: str | None = None
    experiment: str | None = None  # an A/B test this run belongs to (`agentlog ab`), with its variant
    variant: str | None = None
    context_sha256: str | None = None  # what shaped the agent (context files, skills, MCP, model): hooks stamp it


class FollowupSent(_Data):
    message: str | None = None
    reason: str | None = None


class AgentOutput(_Data):
    output: str | None = None
    stream_type: str | None = None


class AgentThinking(_Data):
    thinking: str | None = None
    content: str | None = None


class ToolCall(_Data):
    tool_name: str
    tool_params: Any = None
    call_id: str | None = None


class ToolResult(_Data):
    tool_name: str | None = None
    result: str | None = None  # success | error
    result_data: Any = None
    call_id: str | None = None
    duration_ms: Millis | None = None


class Error(_Data):
    error_message: str
    error_fingerprint: str | None = None
    error_category: str | None = None
    stack_trace: str | None = None


class Usage(_Data):
    input_tokens: Tokens | None = None
    output_tokens: Tokens | None = None
    cache_creation_tokens: Tokens | None = None
    cache_read_tokens: Tokens | None = None
    reasoning_tokens: Tokens | None = None
    total_tokens: Tokens | None = None
    cost_usd: Usd | None = None


class StatusChange(_Data):
    status: str | None = None
    previous_status: str | None = None
    reason: str | None = None


class SessionEnd(_Data):
    completion_status: str | None = None
    duration_ms: Millis | None = None
    total_tokens: Tokens | None = None
    cost_usd: Usd | None = None
    outcome: dict[str, Any] | None = None


DATA_SPECS: dict[str, type[_Data]] = {
    "session_start": SessionStart,
    "followup_sent": FollowupSent,
    "agent_output": AgentOutput,
    "agent_thinking": AgentThinking,
    "tool_call": ToolCall,
    "tool_result": ToolResult,
    "error": Error,
    "usage": Usage,
    "status_change": StatusChange,
    "session_end": SessionEnd,
}
EVENT_TYPES = frozenset(DATA_SPECS)

COMPLETION_STATUSES = frozenset({"success", "failed", "timeout", "interrupted"})
# Other spellings of the four that writers use, accepted in any case (`emit end --status done`).
STATUS_SYNONYMS = {
    "done": "success",
    "completed": "success",
    "complete": "success",
    "succeeded": "success",
    "ok": "success",
    "error": "failed",
    "errored": "failed",
    "failure": "failed",
    "timed_out": "timeout",
    "timedout": "timeout",
    "cancelled": "interrupted",
    "canceled": "interrupted",
    "aborted": "interrupted",
}

# `timestamp_quality`, when the time is not simply the source's own clock:
TIMESTAMP_QUALITIES = {
    "approximate": "derived, e.g. a header's time plus the record's order",
    "synthetic": "made up to keep the order, e.g. steps placed 1 s apart",
    "clamped": "the writer's time was implausible: the arrival time, the given one in timestamp_original",
}
# times that say nothing about how long things took: rules that measure real time skip them
UNTIMED = frozenset({"approximate", "synthetic"})
EARLIEST = 946_684_800.0  # 2000-01-01T00:00:00Z: an earlier time is an unset clock (0001-01-01, the epoch)


# --- reading ------------------------------------------------------------------


# The `data` fields agentlog computes with, whatever the event type, typed as the write schema
# types them (optional here); the others (prompts, outputs, params...) are shown as they are.
READ_DATA = (
    "error_message",
    "error_fingerprint",
    "error_category",
    "tool_name",
    "result",
    "prompt_type",
    "status",
    "completion_status",
    *Usage.__struct_fields__,
    "duration_ms",
)
_WRITE_TYPES = {f.name: f.type for spec in DATA_SPECS.values() for f in msgspec.structs.fields(spec)}
ReadData = msgspec.defstruct(
    "ReadData", [(name, _WRITE_TYPES[name] | None, None) for name in READ_DATA], gc=False, module=__name__
)


class ReadEvent(msgspec.Struct, gc=False):
    """What every reader may rely on in a line (the watchdog decodes exactly this): text
    `event_type`; the fields below, when present, of their type; `data` an object. The
    envelope's other fields (task_title, model, branch...) are shown as they are."""

    event_type: str
    timestamp: str | None = None
    timestamp_quality: str | None = None  # "approximate" | "synthetic" | "clamped": see Event
    attempt_id: str | None = None
    event_id: str | None = None
    task_id: str | None = None
    executor: str | None = None
    elapsed_ms: Millis | None = None
    sequence_num: Count | None = None
    data: ReadData = None  # type: ignore[assignment]  # absent: None (ignored); null: malformed


class Alert(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One line of agent-alerts.jsonl, in the original analyzer's format plus an id."""

    timestamp: str
    type: str
    attempt_id: str
    severity: str
    recommendation: str
    alert_id: str | None = None
    executor: str | None = None
    task_id: str | None = None
    message: str | None = None
    error_fingerprint: str | None = None
    error_category: str | None = None
    occurrences: int | None = None
    tool_name: str | None = None
    idle_time_ms: float | None = None
    cost_usd: float | None = None
    threshold: float | None = None
    window_ms: float | None = None
    event_time: str | None = None
    key: str | None = None  # type|attempt|subject: the cooldown key (one loop = one key)


# --- errors ------------------------------------------------------------------


class EventError(ValueError):
    """An event that does not fit the schema: names the field and the problem."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


# --- validation --------------------------------------------------------------


def validate(event: dict[str, Any]) -> dict[str, Any]:
    """Check an event for writing; returns it (normalised in place) or raises EventError."""
    if not isinstance(event, dict):
        raise EventError("event", f"expected a JSON object, got {type(event).__name__}")
    event_type = event.get("event_type")
    if not isinstance(event_type, str) or event_type not in DATA_SPECS:
        known = ", ".join(sorted(EVENT_TYPES))
        raise EventError("event_type", f"{event_type!r} is not one of: {known}")
    attempt = event.get("attempt_id")
    if not isinstance(attempt, str) or not attempt:
        raise EventError("attempt_id", "required, a non-empty string")
    if "timestamp" in event:
        _check_timestamp(event["timestamp"])
    quality = event.get("timestamp_quality")
    if quality is not None and (type(quality) is not str or quality not in TIMESTAMP_QUALITIES):
        raise EventError("timestamp_quality", f"{quality!r} is not one of: {', '.join(TIMESTAMP_QUALITIES)}")
    if event.get("data") is None:
        event["data"] = {}
    try:
        msgspec.convert(event, _CHECKS[event_type])  # every envelope and data field's type, in one C call
    except msgspec.ValidationError as exc:
        raise _field_error(exc, event) from None
    if event_type == "session_end":
        normalize_end(event["data"])
    return event


class _Envelope(Event, kw_only=True):
    timestamp: str | None = None  # stamped by the recorder when absent
    data: dict[str, Any] = {}


# per event type: the envelope with its typed data, to check an event in one call
def _written(kind: str, spec: type[_Data]) -> type:
    """The spec plus the read schema's fields it does not declare: what is written can be read."""
    extra = [(f.name, f.type, None) for f in msgspec.structs.fields(ReadData) if f.name not in spec.__struct_fields__]
    return msgspec.defstruct(f"{kind}_data", extra, bases=(spec,), kw_only=True)


_CHECKS = {
    kind: msgspec.defstruct(f"{kind}_check", [("data", _written(kind, spec))], bases=(_Envelope,), kw_only=True)
    for kind, spec in DATA_SPECS.items()
}


@functools.cache
def write_schema() -> _core.WriteSchema:
    """The same checks natively (the recorder's hot path), read from these structs by
    `msgspec.inspect`, so they cannot drift; a refusal goes to `validate` for msgspec's
    error. Made on first use: reading the structs takes ~15 ms, which only a recorder needs."""
    return _core.WriteSchema(_CHECKS)


def _field_error(exc: msgspec.ValidationError, event: dict[str, Any]) -> EventError:
    """msgspec's "Expected `str`, got `int` - at `$.executor`" as EventError("executor", ...),
    with the value found there (`nan`, `-3`, `1e308` say more than the bound they miss)."""
    reason, _, where = str(exc).partition(" - at `$")
    path = where.rstrip("`").lstrip(".")
    if not path:
        if reason.startswith("Object missing required field"):
            return EventError(reason.split("`")[1], "missing")
        return EventError("event", reason)
    value: Any = event
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    got = f" (got {value!r})" if isinstance(value, (int, float)) and ", got " not in reason else ""
    return EventError(path.split(".")[0].split("[")[0], f"{reason}{got} at {path}")


def _check_timestamp(value: Any) -> None:
    if not isinstance(value, str):
        raise EventError("timestamp", f"expected an ISO 8601 string, got {type(value).__name__}")
    try:
        parse_time(value)
    except ValueError:
        raise EventError("timestamp", f"{value!r} is not an ISO 8601 time") from None


def canonical_status(status: Any) -> str | None:
    """One of the four completion statuses for `status` or a synonym of one; else None."""
    if not isinstance(status, str):
        return None
    status = status.strip().lower()
    return status if status in COMPLETION_STATUSES else STATUS_SYNONYMS.get(status)


def normalize_end(data: dict[str, Any]) -> dict[str, Any]:
    """Map a synonym to its completion status (`done` -> success) and any other status to
    failed, keeping the original in `completion_status_raw`.

    The original system rejected e.g. `setup_failed` or `stale_timeout` and silently
    lost the session end; we accept them as failures.
    """
    status = data.get("completion_status")
    if status is None or status in COMPLETION_STATUSES:
        return data
    data.setdefault("completion_status_raw", status)
    data["completion_status"] = canonical_status(status) or "failed"
    return data


def succeeded(data: dict[str, Any] | None) -> bool:
    """The one success rule: completion_status == "success".

    Older files spell it two more ways, both accepted: `outcome.status == "completed"`
    and `metrics.success == true` (or a top-level `success` in a metrics line).
    """
    if not data:
        return False
    if data.get("completion_status") == "success":
        return True
    outcome = data.get("outcome")
    if isinstance(outcome, dict) and outcome.get("status") in ("completed", "success"):
        return True
    metrics = data.get("metrics")
    if isinstance(metrics, dict) and metrics.get("success") is True:
        return True
    return data.get("success") is True


# --- decoding ----------------------------------------------------------------

BOM = b"\xef\xbb\xbf"


def decode_line(line: bytes, schema: type = ReadEvent) -> dict[str, Any]:
    """One line as a dict; raises EventError saying what is wrong: not UTF-8, not JSON,
    nested deeper than `_core.MAX_DEPTH`, not an object, or not fitting `schema` (an
    event's `ReadEvent`; `Alert` for a line of agent-alerts.jsonl). The native decoder
    (native/src/read.rs) does it all in one pass; a leading BOM is skipped."""
    if schema is not ReadEvent and schema is not Alert:
        raise TypeError(f"lines are read as ReadEvent or Alert, not {schema.__name__}")
    try:
        return _core.decode_line(line, schema is Alert)
    except _core.LineError as exc:
        raise EventError(*exc.args) from None


encode = msgspec.json.Encoder().encode


# --- ids and times -----------------------------------------------------------

#: UTC time as `2026-02-09T14:23:45.123Z`, the stream's format, of epoch seconds `t`
#: (default: now), rounded to the millisecond (native/src/record/ids.rs).
now_iso = _core.now_iso


def parse_time(value: str) -> float:
    """Epoch seconds of an ISO 8601 timestamp (naive times are UTC).

    The last one is remembered: the recorder parses each event's time twice (validate,
    stamp), and a burst of events shares one."""
    global _last_parsed
    last = _last_parsed
    if last[0] == value:
        return last[1]
    if not isinstance(value, str):  # after the memo, which only ever holds a real time and its answer
        raise TypeError(f"expected an ISO 8601 string, got {type(value).__name__}")
    seconds = parse_datetime(value).timestamp()
    _last_parsed = (value, seconds)
    return seconds


def parse_datetime(value: str) -> _dt.datetime:
    """The aware datetime of an ISO 8601 timestamp (naive times are UTC)."""
    parsed = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_dt.timezone.utc)


_last_parsed: tuple[str, float] = ("1970-01-01T00:00:00Z", 0.0)  # replaced whole: safe across threads


#: A UUIDv7 (RFC 9562) for an event at epoch seconds `t` (default: now): 48-bit ms
#: timestamp, then 74 bits that are random per process plus a counter (the RFC's
#: "monotonic random" method): unique across processes, time-ordered, cheap
#: (native/src/record/ids.rs; a forked child draws new random bits).
new_event_id = _core.new_event_id
os.register_at_fork(after_in_child=_core.reseed_ids)
