"""What every importer is: an `Importer` (finds and reads one agent's transcripts) and a
`Mapper` (turns one transcript's records into agentlog events).

An importer module subclasses `Importer` with a `name`; defining the class registers it,
so adding an agent means adding one module under importers/, never editing a switch.

A `Mapper` keeps everything it remembers about a transcript in `self.state`, a plain
JSON-able dict, so an incremental import can stop after any line and resume later
exactly where it was (pending usage, open tool calls, the current model...).
Imported events carry an `event_id` derived from the agent's own ids (session + record
uuid or line), so importing a transcript twice, or on two machines, gives the same ids.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Iterator

import msgspec

from ... import jsonline
from ...events import now_iso, parse_time

# the price table (tomllib, importlib.resources) loads only when a caller prices usage
if TYPE_CHECKING:
    from ..pricing import Pricing

CLAUDE_CODE, CODEX, SWE_AGENT = "CLAUDE_CODE", "CODEX", "SWE_AGENT"
OPEN_WINDOW_S = 300.0  # a transcript written to within this time is still being written
RESULT_CHARS = 2000  # tool output kept per result: enough to compare, not a copy of the repo

_NAMESPACE = uuid.UUID("6f1c2a52-4b8e-4d0c-9a51-3c7a0e9d2b17")
_decode = msgspec.json.Decoder()


def stable_id(*parts: Any) -> str:
    """A UUID that is the same whenever the same source record is imported."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(str(p) for p in parts)))


def clip(text: Any, limit: int = RESULT_CHARS) -> Any:
    if isinstance(text, str) and len(text) > limit:
        return text[:limit] + f"…[{len(text) - limit} more chars]"
    return text


# --- what an import did ----------------------------------------------------------


@dataclass
class ImportStats:
    files: int = 0
    sessions: int = 0  # transcripts that produced events in this run
    events: int = 0
    open_sessions: int = 0  # still being written: no session_end yet
    skipped: Counter = field(default_factory=Counter)  # reason -> records

    def summary(self, unknown_models: set[str] | None = None) -> str:
        skipped = ", ".join(f"{reason} {n}" for reason, n in self.skipped.most_common()) or "none"
        line = (f"{self.sessions} sessions, {self.events} events "
                f"({self.open_sessions} still open), skipped: {skipped}")
        if unknown_models:
            line += f"; not priced (unknown model): {', '.join(sorted(unknown_models))}"
        return line


@dataclass
class Context:
    """What a mapper needs from the import run around it."""

    pricing: Pricing
    stats: ImportStats = field(default_factory=ImportStats)
    now: float = field(default_factory=lambda: __import__("time").time())
    open_window_s: float = OPEN_WINDOW_S
    shared: dict[str, Any] = field(default_factory=dict)  # importer-wide memory, persisted

    def skip(self, reason: str) -> None:
        self.stats.skipped[reason] += 1


# --- the per-transcript converter --------------------------------------------------


class Mapper:
    """Records of one transcript in, event dicts out. Subclasses implement `feed`."""

    executor: ClassVar[str]

    def __init__(self, attempt_id: str, ctx: Context, state: dict[str, Any] | None = None, *,
                 lifecycle: bool = True, stable_ids: bool = True):
        self.attempt_id = attempt_id
        self.ctx = ctx
        self.state: dict[str, Any] = state if state is not None else {}
        self.lifecycle = lifecycle  # importers own session_start/end; the wrapper does its own
        self.stable_ids = stable_ids

    # -- subclasses ---------------------------------------------------------------

    def feed(self, record: Any, where: int | str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def flush(self) -> list[dict[str, Any]]:
        """Events held back until a transcript is complete (e.g. usage of the last message)."""
        return []

    def end_status(self) -> str:
        return "failed" if self.state.get("last_error") else "success"

    def finish(self) -> list[dict[str, Any]]:
        """The transcript is complete: pending events, then session_end at its last record."""
        events = self.flush()
        if not self.lifecycle:
            return events
        events.extend(self.ensure_started(None, self.state.get("last_ts")))
        first, last = self.state.get("first_ts"), self.state.get("last_ts")
        data = {"completion_status": self.end_status(), "duration_ms": _ms_between(first, last)}
        data.update(self.state.get("end_data") or {})
        events.append(self.event("session_end", data, last, key="session_end"))
        return events

    # -- helpers --------------------------------------------------------------------

    def ensure_started(self, prompt: str | None, timestamp: str | None,
                       **data: Any) -> list[dict[str, Any]]:
        """session_start before the first event (with the prompt when one is known)."""
        if self.state.get("started") or not self.lifecycle:
            return []
        self.state["started"] = True
        start = {"prompt": prompt, "prompt_type": "initial", **(self.state.get("start_data") or {}), **data}
        return [self.event("session_start", start, timestamp, key="session_start")]

    def event(self, event_type: str, data: dict[str, Any], timestamp: str | None,
              key: Any = None) -> dict[str, Any]:
        """One event of this attempt, stamped with the transcript's time and a stable id."""
        timestamp = self.seen_time(timestamp)
        event: dict[str, Any] = {
            "attempt_id": self.attempt_id, "event_type": event_type, "executor": self.executor,
            "data": {k: v for k, v in data.items() if v is not None},
        }
        if timestamp:
            event["timestamp"] = timestamp
        for name in ("model", "session_id", "branch"):
            if self.state.get(name):
                event[name] = self.state[name]
        if self.stable_ids and key is not None:
            event["event_id"] = stable_id(self.executor, self.attempt_id, event_type, key)
        self._track_outcome(event_type, event["data"])
        return event

    def seen_time(self, timestamp: Any) -> str | None:
        """A valid ISO time for an event: the record's own, else the last one seen."""
        if isinstance(timestamp, str):
            try:
                parse_time(timestamp)
            except ValueError:
                timestamp = None
            else:  # records are not always in time order: keep the span's true ends
                if not self.state.get("first_ts") or _earlier(timestamp, self.state["first_ts"]):
                    self.state["first_ts"] = timestamp
                if not self.state.get("last_ts") or _earlier(self.state["last_ts"], timestamp):
                    self.state["last_ts"] = timestamp
                return timestamp
        return self.state.get("last_ts")

    def _track_outcome(self, event_type: str, data: dict[str, Any]) -> None:
        if event_type == "error":
            self.state["last_error"] = True
        elif event_type in ("agent_output", "tool_call", "followup_sent") or (
                event_type == "tool_result" and data.get("result") != "error"):
            self.state["last_error"] = False

    def usage(self, data: dict[str, Any], timestamp: str | None, key: Any) -> dict[str, Any]:
        """A usage event priced from the table (or the transcript's own cost)."""
        data = {k: v for k, v in data.items() if v is not None}
        self.ctx.pricing.price_usage(data.get("model") or self.state.get("model"), data)
        return self.event("usage", data, timestamp, key=key)


def _earlier(a: str, b: str) -> bool:
    return parse_time(a) < parse_time(b)


def _ms_between(first: str | None, last: str | None) -> int | None:
    try:
        return max(0, round((parse_time(last) - parse_time(first)) * 1000))
    except (TypeError, ValueError):
        return None


# --- the per-agent importer ------------------------------------------------------------

IMPORTERS: dict[str, type["Importer"]] = {}


class Importer:
    """Finds one agent's transcripts and reads each into events, resuming from `entry`.

    The default reads JSONL: it starts at the remembered byte offset, feeds complete
    lines to the mapper and leaves a half-written last line for next time. A transcript
    not written to for `open_window_s` is complete: its mapper finishes (session_end).
    """

    name: ClassVar[str]
    executor: ClassVar[str]
    default_path: ClassVar[str]
    pattern: ClassVar[str] = "*.jsonl"
    append_only: ClassVar[bool] = True  # grows by appending: identity + offset tell what is new

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            IMPORTERS[cls.name] = cls

    def files(self, root: Path) -> list[Path]:
        if root.is_file():
            return [root]
        return sorted(p for p in root.rglob(self.pattern) if p.is_file())

    def attempt_id(self, path: Path) -> str:
        return path.stem

    def mapper(self, path: Path, ctx: Context, state: dict[str, Any] | None) -> Mapper:
        raise NotImplementedError

    def stream_mapper(self, record: dict[str, Any], attempt_id: str, ctx: Context) -> Mapper | None:
        """A mapper for this agent's live JSON output when `record` looks like it, else None."""
        return None

    def read(self, path: Path, entry: dict[str, Any], ctx: Context) -> Iterator[dict[str, Any]]:
        """Events from the new part of a JSONL transcript; updates `entry` when exhausted."""
        if entry.get("ended"):
            return
        stat = path.stat()
        complete = ctx.now - stat.st_mtime >= ctx.open_window_s
        mapper = self.mapper(path, ctx, entry.get("mapper"))
        offset = entry.get("offset", 0)
        line_no = entry.get("line", 0)
        with open(path, "rb") as handle:
            handle.seek(offset)
            for raw in handle:
                if not raw.endswith(b"\n") and not complete:
                    break  # the agent is still writing this line
                offset += len(raw)
                line_no += 1
                if not raw.strip():
                    continue
                record, problem = decode_record(raw)
                if problem:
                    ctx.skip(problem)
                else:
                    yield from mapper.feed(record, line_no)
        if complete:
            yield from mapper.finish()
            entry["ended"] = True
        else:
            ctx.stats.open_sessions += 1
        entry.update(offset=offset, line=line_no, mapper=mapper.state)

    # importer-wide memory (e.g. which model calls were already counted)
    def load_shared(self, shared: dict[str, Any]) -> None:
        self.shared = shared

    def dump_shared(self) -> dict[str, Any]:
        return getattr(self, "shared", {})


def decode_record(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """One JSONL line as a dict, or None and why it is not one."""
    try:
        record = jsonline.decode(raw.removeprefix(b"\xef\xbb\xbf"), _decode)
    except msgspec.DecodeError:
        return None, "malformed_json"
    if not isinstance(record, dict):
        return None, "not_an_object"
    return record, None


def file_mtime_iso(path: Path) -> str:
    return now_iso(os.stat(path).st_mtime)
