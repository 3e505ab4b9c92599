"""What every importer is: an `Importer` (finds and reads one agent's transcripts) and a
`Mapper` (turns one transcript's records into agentlog events).

An importer module subclasses `Importer` with a `name`; defining the class registers it,
so adding an agent means adding one module under importers/, never editing a switch.

A `Mapper` keeps everything it remembers about a transcript in `self.state`, a plain
JSON-able dict, so an incremental import can stop after any line and resume later
exactly where it was (pending usage, open tool calls, the current model...).
Imported events carry an `event_id` derived from the attempt (one per source file) and
the agent's own ids (record uuid or line), so importing a transcript twice, or on two
machines, gives the same ids.

Times: an event carries its record's own time. When the record has none, the event gets a
derived one and says so in `timestamp_quality`: "approximate" (another record's time, a
header's time plus the record's order) or "synthetic" (made up only to keep the order).
A transcript in which nothing has a time is not a session: it is skipped and counted.
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import json
import os
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Iterator

import msgspec

from ... import jsonline
from ...events import BOM, parse_time
from ...store.cursor import HEAD_BYTES
from ...store.reader import Skipped, bounded_lines

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
    skipped_files: Counter = field(default_factory=Counter)  # reason -> files that are not sessions

    def summary(self, unknown_models: set[str] | None = None) -> str:
        skipped = ", ".join(f"{reason} {n}" for reason, n in self.skipped.most_common()) or "none"
        line = f"{self.sessions} sessions, {self.events} events ({self.open_sessions} still open), skipped: {skipped}"
        if self.skipped_files:
            files = ", ".join(f"{reason} {n}" for reason, n in self.skipped_files.most_common())
            line += f"; files not imported: {files}"
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

    def skip_file(self, reason: str) -> None:
        self.stats.skipped_files[reason] += 1


# --- the per-transcript converter --------------------------------------------------


class Mapper:
    """Records of one transcript in, event dicts out. Subclasses implement `feed`.

    `time_quality` is set by a subclass while it feeds a record whose time it derived
    ("approximate" or "synthetic"); events stamped with that time carry it.
    """

    executor: ClassVar[str]

    def __init__(
        self,
        attempt_id: str,
        ctx: Context,
        state: dict[str, Any] | None = None,
        *,
        lifecycle: bool = True,
        stable_ids: bool = True,
    ):
        self.attempt_id = attempt_id
        self.ctx = ctx
        self.state: dict[str, Any] = state if state is not None else {}
        self.lifecycle = lifecycle  # importers own session_start/end; the wrapper does its own
        self.stable_ids = stable_ids
        self.time_quality: str | None = None

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
        self.time_quality = self.state.get("last_ts_quality")
        events.append(self.event("session_end", data, last, key=self._episode_key("session_end")))
        self.state["episode"] = self.state.get("episode", 0) + 1
        return events

    def reopen(self) -> None:
        """The transcript goes on after it was ended: the next event starts the attempt again
        (a session_start of prompt_type followup), and it ends again when it is complete."""
        self.state["started"] = False

    # -- helpers --------------------------------------------------------------------

    def _episode_key(self, name: str) -> Any:
        """The first start and end keep their plain keys; those of a re-opened attempt are numbered."""
        episode = self.state.get("episode", 0)
        return name if not episode else (name, episode)

    def ensure_started(self, prompt: str | None, timestamp: str | None, **data: Any) -> list[dict[str, Any]]:
        """session_start before the first event (with the prompt when one is known)."""
        if self.state.get("started") or not self.lifecycle:
            return []
        self.state["started"] = True
        prompt_type = "followup" if self.state.get("episode") else "initial"
        start = {"prompt": prompt, "prompt_type": prompt_type, **(self.state.get("start_data") or {}), **data}
        return [self.event("session_start", start, timestamp, key=self._episode_key("session_start"))]

    def event(self, event_type: str, data: dict[str, Any], timestamp: str | None, key: Any = None) -> dict[str, Any]:
        """One event of this attempt, stamped with the transcript's time and a stable id."""
        own = self._own_time(timestamp)
        quality = self.time_quality
        if own is None:  # no time of its own: the last one seen stands in for it
            own, quality = self.state.get("last_ts"), "approximate"
        event: dict[str, Any] = {
            "attempt_id": self.attempt_id,
            "event_type": event_type,
            "executor": self.executor,
            "data": {k: v for k, v in data.items() if v is not None},
        }
        if own:
            event["timestamp"] = own
            if quality:
                event["timestamp_quality"] = quality
        for name in ("model", "session_id", "branch"):
            if self.state.get(name):
                event[name] = self.state[name]
        if self.stable_ids and key is not None:
            # a file replaced at the same path is a new generation: its line-numbered records
            # must not take the ids of the old file's (the attempt id may be the same)
            generation = self.state.get("generation")
            event["event_id"] = stable_id(
                self.executor, self.attempt_id, event_type, *((generation,) if generation else ()), key
            )
        self._track_outcome(event_type, event["data"])
        return event

    def tool_outcome(
        self,
        name: Any,
        call_id: Any,
        text: str,
        failed: bool,
        ts: Any,
        key: Any,
        *,
        message: Any = None,
        fallback: str | None = None,
        error_key: Any = None,
    ) -> list[dict[str, Any]]:
        """A tool's result and, when it failed, the error that names the same call: the
        error says `message` (default: the output), else `fallback` (default "<tool> failed")."""
        call = {"tool_name": name, "call_id": call_id}
        result = {**call, "result": "error" if failed else "success", "result_data": clip(text)}
        events = [self.event("tool_result", result, ts, key=key)]
        if failed:
            said = str(text if message is None else message).strip()
            events.append(
                self.event(
                    "error",
                    {"error_message": clip(said or fallback or f"{name or 'tool'} failed", 1000), **call},
                    ts,
                    key=(key, "error") if error_key is None else error_key,
                )
            )
        return events

    def seen_time(self, timestamp: Any) -> str | None:
        """A valid ISO time for an event: the record's own, else the last one seen."""
        return self._own_time(timestamp) or self.state.get("last_ts")

    def _own_time(self, timestamp: Any) -> str | None:
        """`timestamp` when it is a valid ISO time (widening the transcript's span), else None."""
        if not isinstance(timestamp, str):
            return None
        try:
            parse_time(timestamp)
        except ValueError:
            return None
        # records are not always in time order: keep the span's true ends
        if not self.state.get("first_ts") or _earlier(timestamp, self.state["first_ts"]):
            self.state["first_ts"] = timestamp
        if not self.state.get("last_ts") or _earlier(self.state["last_ts"], timestamp):
            self.state["last_ts"] = timestamp
            self.state["last_ts_quality"] = self.time_quality
        return timestamp

    def _track_outcome(self, event_type: str, data: dict[str, Any]) -> None:
        if event_type == "error":
            self.state["last_error"] = True
        elif event_type in ("agent_output", "tool_call", "followup_sent") or (
            event_type == "tool_result" and data.get("result") != "error"
        ):
            self.state["last_error"] = False

    def usage(self, data: dict[str, Any], timestamp: str | None, key: Any) -> dict[str, Any]:
        """A usage event priced from the table (or the transcript's own cost)."""
        data = {k: v for k, v in data.items() if v is not None}
        self.ctx.pricing.price_usage(data.get("model") or self.state.get("model"), data)
        return self.event("usage", data, timestamp, key=key)

    def turn_complete(self, timestamp: str | None, key: Any) -> dict[str, Any]:
        """The agent finished its turn and waits for its user: not stuck (the watchdog's view)."""
        return self.event(
            "status_change", {"status": "turn_complete", "reason": "end_of_turn"}, timestamp, key=("turn_complete", key)
        )


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
    A complete transcript that grows later is read on: the attempt starts again and
    ends again. `entry` changes only when a read is over, so a read that stops half
    way (a crash, a kill) leaves it as it was.
    """

    name: ClassVar[str]
    executor: ClassVar[str]
    default_path: ClassVar[str]
    pattern: ClassVar[str] = "*.jsonl"
    append_only: ClassVar[bool] = True  # grows by appending: identity + offset tell what is new
    # what the README's agent table says of this agent (a test keeps it true)
    follow: ClassVar[bool] = True  # `watch --follow` reads it as it is written
    hooks: ClassVar[bool] = False  # `hooks install <name>` exists
    tokens: ClassVar[str] = "exact"  # exact | partial | estimated | absent
    cost: ClassVar[str] = "pricing"  # transcript | pricing | absent

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            IMPORTERS[cls.name] = cls

    def files(self, root: Path, *, follow_symlinks: bool = False, outside: list[Path] | None = None) -> list[Path]:
        """The transcripts under `root`. A symlink that leads out of `root` is not followed
        unless asked (it is listed in `outside`): a transcript folder is no reason to read
        whatever a link in it points at."""
        if root.is_file():
            return [root]
        top = root.resolve()
        found: dict[
            Path, Path
        ] = {}  # real path -> the first path found to it (a link inside the tree is no second file)
        visited = set()
        for folder, dirs, names in os.walk(root, followlinks=follow_symlinks):
            real = os.path.realpath(folder)
            if real in visited:  # a link back up the tree
                dirs.clear()
                continue
            visited.add(real)
            for name in fnmatch.filter(names, self.pattern):
                path = Path(folder, name)
                real = path.resolve()
                if not follow_symlinks and not real.is_relative_to(top):
                    if outside is not None:
                        outside.append(path)
                elif path.is_file():
                    found.setdefault(real, path)
        return sorted(found.values())

    def attempt_id(self, path: Path) -> str:
        """Unique per source file and the same on every import. A name that holds the agent's
        own session UUID (Claude Code, Codex) is unique already and stays as it is, so the
        hooks, OTLP and an import of one session agree on its attempt. Any other name
        (SWE-agent's instance id: run1/X.traj, run2/X.traj) gets a short hash of the file's
        real path and, for a transcript that grows by appending, of its first line."""
        real = Path(path).resolve()  # a link names the file it leads to
        name = self.readable_name(real)
        if UUID_IN_NAME.search(name):
            return name
        return f"{name}-{source_digest(real, first_line(real) if self.grows_by_appending(real) else b'')}"

    def readable_name(self, path: Path) -> str:
        return path.stem

    def attempt_ids(self, path: Path) -> list[str]:
        """Every attempt a read of `path` may write to (a store of many sessions has many)."""
        return [self.attempt_id(path)]

    def grows_by_appending(self, path: Path) -> bool:
        """Does this file grow by appending (an agent may keep both kinds in one folder)?"""
        return self.append_only

    def line_records(self, raw: bytes) -> tuple[list[Any], list[str]]:
        """The records of one line and why parts of it are none: JSON objects, unless the
        agent writes another text format line by line."""
        return records_in(raw)

    def mapper(self, path: Path, ctx: Context, state: dict[str, Any] | None) -> Mapper:
        raise NotImplementedError

    def stream_mapper(self, record: dict[str, Any], attempt_id: str, ctx: Context) -> Mapper | None:
        """A mapper for this agent's live JSON output when `record` looks like it, else None."""
        return None

    def read(self, path: Path, entry: dict[str, Any], ctx: Context) -> Iterator[dict[str, Any]]:
        """Events from the new part of a JSONL transcript; updates `entry` when exhausted."""
        stat = path.stat()
        if entry.get("ended") and stat.st_size <= entry.get("size", entry.get("offset", 0)):
            return  # complete, and nothing was added since
        complete = ctx.now - stat.st_mtime >= ctx.open_window_s
        resumed = not entry.get("skipped")  # a file skipped as no session is read again whole
        offset, line_no = (entry.get("offset", 0), entry.get("line", 0)) if resumed else (0, 0)
        mapper = self.mapper(path, ctx, copy.deepcopy(entry.get("mapper")) if resumed else None)
        if entry.get("generation"):
            mapper.state["generation"] = entry["generation"]
        if entry.get("ended") and resumed:
            mapper.reopen()
        seen: Counter = Counter()  # what the file holds, to say why it is not a session
        untimed: list[dict[str, Any]] = []  # events before the first time the transcript gives
        with open(path, "rb") as handle:
            handle.seek(offset)
            for raw in bounded_lines(handle):
                if isinstance(raw, Skipped):  # longer than MAX_LINE: never held
                    if not (raw.ended or complete):
                        break  # the agent is still writing this line
                    offset, line_no = offset + raw.length, line_no + 1
                    ctx.skip("line_too_long")
                    continue
                if not raw.endswith(b"\n") and not complete:
                    break  # the agent is still writing this line
                offset += len(raw)
                line_no += 1
                if not raw.removeprefix(BOM).strip():
                    continue
                seen["lines"] += 1
                records, problems = self.line_records(raw)
                for problem in problems:
                    ctx.skip(problem)
                for index, record in enumerate(records):
                    seen["records"] += 1
                    where = line_no if index == 0 else f"{line_no}.{index}"
                    yield from _timed(mapper, safe_feed(mapper, record, where), untimed)
        if not mapper.state.get("last_ts"):  # nothing has a time (yet): not a session (yet)
            if complete:
                ctx.skip_file(_untimed_reason(seen))
                entry.update(offset=0, line=0, mapper=None, ended=True, skipped=True, size=offset)
            return  # an open file is read again from the same place, when more may be known
        yield from _timed(mapper, [], untimed)
        if complete:
            yield from _guarded(ctx, mapper.finish)
        else:
            ctx.stats.open_sessions += 1
        entry.update(offset=offset, line=line_no, mapper=mapper.state, ended=complete)
        for stale in ("skipped", "size"):
            entry.pop(stale, None)


UUID_IN_NAME = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def source_digest(real: Path, head: bytes = b"") -> str:
    """8 hex digits naming a source file by where it is and how it starts."""
    return hashlib.sha256(str(real).encode("utf-8", "surrogateescape") + b"\0" + head).hexdigest()[:8]


def first_line(path: Path) -> bytes:
    """The first complete line (up to HEAD_BYTES of it): what an appending writer never changes."""
    try:
        with open(path, "rb") as handle:
            head = handle.readline(HEAD_BYTES)
    except OSError:
        return b""
    return head if head.endswith(b"\n") or len(head) == HEAD_BYTES else b""


def safe_feed(mapper: Mapper, record: Any, where: int | str) -> list[dict[str, Any]]:
    """`mapper.feed`, where a record the mapper cannot handle is counted, never fatal."""
    return _guarded(mapper.ctx, mapper.feed, record, where)


def _guarded(ctx: Context, call: Any, *args: Any) -> list[dict[str, Any]]:
    try:
        return call(*args)
    except Exception as exc:  # noqa: BLE001 - any shape of input a real agent can write: count it, go on
        ctx.skip(f"unreadable_record:{type(exc).__name__}")
        return []


def _timed(mapper: Mapper, events: list[dict[str, Any]], untimed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events without a time wait for the transcript's first time, which they then share."""
    out: list[dict[str, Any]] = []
    for event in events:
        if "timestamp" in event:
            out.extend(_stamped(untimed, mapper.state["first_ts"]))
            out.append(event)
        else:
            untimed.append(event)
    if untimed and mapper.state.get("first_ts") and not events:
        out.extend(_stamped(untimed, mapper.state["first_ts"]))
    return out


def _stamped(untimed: list[dict[str, Any]], timestamp: str) -> list[dict[str, Any]]:
    for event in untimed:
        event.update(timestamp=timestamp, timestamp_quality="approximate")
    done = untimed[:]
    untimed.clear()
    return done


def _untimed_reason(seen: Counter) -> str:
    if not seen["lines"]:
        return "empty_file"
    if not seen["records"]:
        return "not_json_lines"
    return "no_timestamp"


def records_in(raw: bytes) -> tuple[list[dict[str, Any]], list[str]]:
    """The records of one line, and why parts of it are none. A line is normally one
    record; after a writer died mid-line, the next writer's record is glued to the cut
    fragment (or two records share a line): those whole records are kept."""
    record, problem = decode_record(raw)
    if problem != "malformed_json":
        return ([record] if record is not None else []), ([problem] if problem else [])
    whole = _glued(raw)
    if whole:
        return whole, []
    found = [whole for whole in map(_glued, (raw[start:] for start in _starts(raw))) if whole]
    if not found:
        return [], ["malformed_json"]
    # the cut fragment is lost; where a cut ends as a value begins (`"uuid":`), the record glued
    # after it also reads as that value: the reading with most records of the fragment's kind wins
    kind = _first_key(raw)
    return max(found, key=lambda whole: sum(_first_key_of(r) == kind for r in whole)), ["malformed_json"]


def _first_key(raw: bytes) -> bytes:
    match = _FIRST_KEY.match(raw.removeprefix(BOM))
    return match.group(1) if match else b""


def _first_key_of(record: dict[str, Any]) -> bytes:
    return next(iter(record), "").encode()


def _starts(raw: bytes) -> list[int]:
    """Where a record glued to a fragment may start, likeliest first: a `{"` that JSON
    would not put there (after a letter or digit, say) before one that opens a nested object."""
    found = [m.start() for m in islice(_RECORD_START.finditer(raw, 1), 4 * _TRIES)]
    return sorted(found, key=lambda i: raw[i - 1 : i] in b":,[ \t")[:_TRIES]


def _glued(raw: bytes) -> list[dict[str, Any]]:
    """The records of a line that is one or more whole records back to back, else []."""
    records = []
    for part in _GLUE.split(raw.strip()):
        record, problem = decode_record(part)
        if record is None:
            return []
        records.append(record)
    return records


_GLUE = re.compile(rb"(?<=\})(?=\{)")
_RECORD_START = re.compile(rb'\{"')
_FIRST_KEY = re.compile(rb'\s*\{\s*"([^"\\]*)"')
_TRIES = 16  # places a glued record may start, tried at most (a garbage line stays cheap)


def decode_record(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """One JSONL line as a dict, or None and why it is not one."""
    try:
        record = jsonline.decode(raw.removeprefix(BOM), _decode)
    except msgspec.DecodeError:
        return None, "malformed_json"
    if not isinstance(record, dict):
        return None, "not_an_object"
    return record, None


def document_version(stat: os.stat_result) -> list[int]:
    return [stat.st_size, stat.st_mtime_ns]


def changed_document(path: Path, entry: dict[str, Any], ctx: Context) -> tuple[Any, os.stat_result] | None:
    """The JSON document a rewritten-whole transcript holds (SWE-agent, mini-swe-agent) and
    the file's stat; None when it ended and was not rewritten since (`entry["version"]`), or
    cannot be read now (counted: it may be caught mid-rewrite, and is read again next time)."""
    stat = path.stat()
    if entry.get("ended") and entry.get("version") == document_version(stat):
        return None
    try:
        return json.loads(path.read_bytes().removeprefix(BOM)), stat
    except (ValueError, UnicodeDecodeError, RecursionError):
        ctx.skip_file("not_json" if stat.st_size else "empty_file")
        return None
