"""What an agent may ask about itself: the watchdog's verdicts on its own session, live.

    telemetry = Telemetry(log_dir, WatchConfig.from_settings(settings), budget_usd=1.0)
    telemetry.am_i_looping(session_id=None, cwd="/repo")   # a dict of <= 2 KB

One source of truth. A session's verdict comes from the watchdog's own `Engine`, with the
watchdog's settings, fed the session's transcript (`agent-sessions/<attempt>.jsonl`) as it
grows, as the guard's hooks feed it: the engine judges each attempt on its own events only
(see watch/engine.py), so it raises the same alert at the same event as `agentlog watch`
reading the whole stream. Only the wall clock's checks (stuck) are left to the watchdog: an
agent that asks is not stuck. Open alerts come from `agent-alerts.jsonl`, which `watch` and
the guard write.

The calling session is found the way the hooks name it: its session id when given (the
hooks record it as the attempt id), else the most recent session started in the caller's
working directory (the hooks record the agent's `cwd` in `session_start`).

Every answer costs O(what was appended since the last one): transcripts and the errors and
alerts files are read on from where the last call stopped; nothing here writes anything.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any
from zlib import crc32

import msgspec

from .. import jsonline
from ..events import parse_time
from ..store import layout
from ..store.reader import first_line, last_line
from ..watch.config import WatchConfig
from ..watch.engine import Engine
from ..web import acks

MAX_BYTES = 2048  # an answer's size on the wire (UTF-8 JSON)
MAX_SESSIONS = 64  # sessions whose engines are kept; the least recently asked goes first
MAX_ALERTS = 64  # kept per session, the latest
MAX_CANDIDATES = 500  # latest sessions per error weighed by similar_failures
MAX_SCAN = 400  # session files looked at (newest first) to find the caller's by cwd
MAX_READ_AFTER = 8 << 20  # bytes of another session read to tell what it did after an error


class NoSession(LookupError):
    """No session of the caller's was found in the log."""


# -- the lines, decoded only as far as the answers need ------------------------------------------


class _Data(msgspec.Struct, gc=False):
    working_dir: Any = None
    tool_name: Any = None
    tool_params: msgspec.Raw = msgspec.Raw(b"")
    cost_usd: Any = None
    error_message: Any = None
    error_fingerprint: Any = None
    error_category: Any = None
    completion_status: Any = None


class _Event(msgspec.Struct, gc=False):
    event_type: Any = None
    timestamp: Any = None
    attempt_id: Any = None
    data: _Data | None = None


class _Alert(msgspec.Struct, gc=False):
    attempt_id: Any = None
    alert_id: Any = None
    type: Any = None
    severity: Any = None
    recommendation: Any = None
    message: Any = None
    event_time: Any = None
    decision: Any = None


_event_decoder = msgspec.json.Decoder(_Event)
_alert_decoder = msgspec.json.Decoder(_Alert)


def _lines(path: Path, offset: int, ino: int | None, limit: int | None = None) -> tuple[list[bytes], int, int] | None:
    """Complete lines appended to `path` since `offset` (from 0 when the file is another one
    now: rotated or replaced), with the new offset and inode; None when there is no file."""
    try:
        stat = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.st_ino != ino or stat.st_size < offset:
        offset = 0
    if stat.st_size == offset:
        return [], offset, stat.st_ino
    with open(path, "rb") as handle:
        handle.seek(offset)
        chunk = handle.read(limit if limit is not None else stat.st_size - offset)
    end = chunk.rfind(b"\n") + 1
    return chunk[:end].splitlines(), offset + end, stat.st_ino


def _event(line: bytes) -> _Event | None:
    try:
        event = jsonline.decode(line.removeprefix(b"\xef\xbb\xbf"), _event_decoder)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return event if event.data is not None and type(event.event_type) is str else None


def _seconds(timestamp: Any) -> float | None:
    try:
        return parse_time(timestamp) if type(timestamp) is str else None
    except ValueError:
        return None


def _short(value: Any, size: int = 160) -> Any:
    if type(value) is str and len(value) > size:
        return value[: size - 1] + "…"
    return value


# -- one session, as the watchdog sees it -------------------------------------------------------


class SessionWatch:
    """One session's engine (the watchdog's settings) and what the answers add, fed its
    transcript from where the last call stopped."""

    def __init__(self, attempt_id: str, config: WatchConfig):
        self.attempt_id = attempt_id
        self.config = config
        self._reset(None)

    def _reset(self, ino: int | None) -> None:
        self.engine = Engine(self.config)
        self.offset, self.ino = 0, ino
        self.alerts: list[tuple[Any, float]] = []  # (alert, when it was known) the engine raised, oldest first
        self.events = self.cost_usd = 0
        self.last_time = self.progress_time = None  # event times: the latest event, the latest new call
        self.calls: set[int] = set()  # crc32 of (tool, params) of the calls made: a new one is progress
        self.errors: dict[str, int] = {}  # fingerprint -> occurrences in this session
        self.status = None  # completion_status of its session_end, if it ended

    def catch_up(self, path: Path, now: float) -> None:
        read = _lines(path, self.offset, self.ino)
        if read is None:
            return
        lines, offset, ino = read
        if ino != self.ino or offset < self.offset:
            self._reset(ino)  # another file at the path: its own, fresh state (as the guard does)
        self.offset, self.ino = offset, ino
        if not lines:
            return
        raised = self.engine.feed(lines, now=now)
        for line in lines:
            event = _event(line)
            if event is not None:
                self._note(event)
        # an alert stands from when it is known: an event out of order or a gap (stuck) may
        # date it long before the session's latest event
        known = self.last_time or 0
        self.alerts.extend((alert, max(_seconds(alert.event_time) or 0, known)) for alert in raised)
        del self.alerts[:-MAX_ALERTS]

    def _note(self, event: _Event) -> None:
        self.events += 1
        data, kind = event.data, event.event_type
        t = _seconds(event.timestamp)
        if t is not None and (self.last_time is None or t > self.last_time):
            self.last_time = t
        if kind == "session_start":
            self.status = None  # a new session of the attempt is open again
        elif kind == "tool_call" and type(data.tool_name) is str:
            key = crc32(bytes(data.tool_params), crc32(data.tool_name.encode()))
            if key not in self.calls:
                self.calls.add(key)
                self.progress_time = t if t is not None else self.progress_time
        elif kind == "usage" and type(data.cost_usd) in (int, float):
            self.cost_usd += data.cost_usd
        elif kind == "error":
            fp = _fingerprint(data)
            if fp is not None:
                self.errors[fp[0]] = self.errors.get(fp[0], 0) + 1
        elif kind == "session_end":
            self.status = data.completion_status if type(data.completion_status) is str else "ended"

    def rules(self) -> list[dict[str, Any]]:
        """How close each loop rule is to firing: the count it has reached, its threshold."""
        attempt = self.engine.active.get(self.attempt_id)
        slots = attempt.slots if attempt is not None else {}
        found = []
        tool = slots.get("tool_loop")
        if tool is not None and tool.run:
            found.append(
                {"rule": "tool_loop", "count": max(tool.run.values()), "threshold": self.config.tool_repeat_threshold}
            )
        errors = slots.get("error_loop")
        if errors is not None and errors.times:
            window = self.config.error_loop_window_ms / 1000
            latest = self.last_time or 0
            count = max(sum(1 for t in times if t is None or latest - t <= window) for times in errors.times.values())
            found.append({"rule": "error_loop", "count": count, "threshold": self.config.error_loop_threshold})
        return found

    def looping(self) -> list[Any]:
        """The alerts still standing: known within the cooldown of the latest event time,
        which is how long the watchdog holds back the same alert again."""
        horizon = (self.last_time or 0) - self.config.alert_cooldown_ms / 1000
        return [alert for alert, known in self.alerts if known >= horizon]


def _fingerprint(data: _Data) -> tuple[str, str | None] | None:
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


# -- the log, indexed as it grows ---------------------------------------------------------------


class _Tail:
    """A file read on from where the last call stopped."""

    def __init__(self, path: Path):
        self.path, self.offset, self.ino = path, 0, None

    def new_lines(self) -> list[bytes]:
        read = _lines(self.path, self.offset, self.ino)
        if read is None:
            return []
        lines, self.offset, self.ino = read
        return lines


class ErrorIndex:
    """fingerprint -> how often, in which sessions (agent-errors.jsonl, read as it grows)."""

    def __init__(self, log_dir: Path):
        self.tail = _Tail(log_dir / layout.ERRORS)
        self.count: dict[str, int] = {}
        self.sessions: dict[str, dict[str, int]] = {}  # fp -> attempt -> occurrences (latest last)
        self.category: dict[str, str] = {}

    def refresh(self) -> None:
        for line in self.tail.new_lines():
            event = _event(line)
            if event is None or type(event.attempt_id) is not str:
                continue
            found = _fingerprint(event.data)
            if found is None:
                continue
            fp, category = found
            self.count[fp] = self.count.get(fp, 0) + 1
            seen = self.sessions.setdefault(fp, {})
            seen[event.attempt_id] = seen.pop(event.attempt_id, 0) + 1
            if category:
                self.category[fp] = category


class AlertIndex:
    """attempt -> its latest alerts (agent-alerts.jsonl: the watchdog's and the guard's)."""

    KEEP = 8

    def __init__(self, log_dir: Path):
        self.tail = _Tail(log_dir / layout.ALERTS)
        self.by_attempt: dict[str, list[_Alert]] = {}
        self.total: dict[str, int] = {}

    def refresh(self) -> None:
        for line in self.tail.new_lines():
            try:
                alert = jsonline.decode(line, _alert_decoder)
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue
            if type(alert.attempt_id) is not str:
                continue
            kept = self.by_attempt.setdefault(alert.attempt_id, [])
            if any(a.alert_id == alert.alert_id for a in kept if alert.alert_id is not None):
                continue  # a watchdog restarted without its checkpoint may write one again
            kept.append(alert)
            del kept[: -self.KEEP]
            self.total[alert.attempt_id] = self.total.get(alert.attempt_id, 0) + 1


# -- the answers --------------------------------------------------------------------------------


class Telemetry:
    """The four answers over one log dir; see the module's docstring."""

    def __init__(
        self, log_dir: Path | str, config: WatchConfig | None = None, budget_usd: float | None = None, clock=time.time
    ):
        self.log_dir = Path(log_dir)
        self.config = config or WatchConfig()
        self.budget_usd = budget_usd if budget_usd and budget_usd > 0 else self.config.cost_anomaly_threshold
        self.clock = clock
        self.sessions: OrderedDict[str, SessionWatch] = OrderedDict()
        self.errors = ErrorIndex(self.log_dir)
        self.alerts = AlertIndex(self.log_dir)
        self._by_cwd: dict[str, tuple[int, str]] = {}  # cwd -> (sessions folder mtime_ns, attempt)
        self._cwd_of: dict[tuple[str, int], str | None] = {}  # (file, inode) -> working_dir of its first line
        self._after: dict[tuple[str, str, int], dict[str, Any]] = {}  # (attempt, fp, size) -> what it did next
        self.lock = threading.Lock()  # one question at a time: the SDK runs tools on worker threads

    def warm(self) -> None:
        """Read what the log holds now, so that the first answer costs no more than the next."""
        with self.lock:
            self.errors.refresh()
            self.alerts.refresh()

    # -- who is asking

    def identify(self, session_id: str | None = None, cwd: str | None = None) -> str:
        """The caller's attempt id: `session_id` (or $AGENTLOG_SESSION_ID) when given, else
        the latest session started in `cwd` (default: this process's working directory)."""
        session_id = session_id or os.environ.get("AGENTLOG_SESSION_ID")
        if session_id:
            return session_id
        cwd = os.path.realpath(cwd or os.getcwd())
        folder = self.log_dir / layout.SESSIONS
        try:
            version = os.stat(folder).st_mtime_ns  # a new session's file changes it
        except FileNotFoundError:
            raise NoSession(f"no sessions recorded in {self.log_dir}") from None
        known = self._by_cwd.get(cwd)
        if known is not None and known[0] == version:
            return known[1]
        with os.scandir(folder) as entries:
            files = sorted(
                (
                    (e.stat().st_mtime_ns, e.name, e.inode())
                    for e in entries
                    if e.name.endswith(".jsonl") and e.is_file()
                ),
                reverse=True,
            )
        for _, name, ino in files[:MAX_SCAN]:
            found = self._start_of(folder / name, ino)
            if found is not None and found[0] == cwd:
                self._by_cwd[cwd] = (version, found[1])
                return found[1]
        raise NoSession(
            f"no session started in {cwd} among the latest {MAX_SCAN} in {folder}; "
            "pass session_id (the agent's session id)"
        )

    def _start_of(self, path: Path, ino: int) -> tuple[str, str] | None:
        """(working dir, attempt id) from a transcript's first line, which never changes."""
        key = (path.name, ino)
        if key not in self._cwd_of:
            line = first_line(path)
            event = _event(line) if line else None
            ok = (
                event is not None
                and event.event_type == "session_start"
                and type(event.attempt_id) is str
                and type(event.data.working_dir) is str
            )
            self._cwd_of[key] = (os.path.realpath(event.data.working_dir), event.attempt_id) if ok else None
        return self._cwd_of[key]

    def session(self, attempt_id: str) -> SessionWatch:
        path = layout.session_path(self.log_dir, attempt_id)
        if attempt_id not in self.sessions and not path.exists():
            raise NoSession(f"no transcript of session {attempt_id[:120]!r} in {path.parent}")
        watch = self.sessions.pop(attempt_id, None) or SessionWatch(attempt_id, self.config)
        self.sessions[attempt_id] = watch
        if len(self.sessions) > MAX_SESSIONS:
            self.sessions.popitem(last=False)
        watch.catch_up(path, self.clock())
        return watch

    # -- the tools

    def am_i_looping(self, session_id: str | None = None, cwd: str | None = None) -> dict[str, Any]:
        watch = self.session(self.identify(session_id, cwd))
        standing = watch.looping()
        latest = standing[-1] if standing else None
        answer = {
            "session": watch.attempt_id,
            "looping": bool(standing),
            "events": watch.events,
            "rules": watch.rules(),
            "alerts": [_alert(a) for a in reversed(standing[-8:])],
            "recommended_action": latest.recommendation if latest else "continue",
        }
        if latest is not None:
            answer["why"] = _short(latest.message)
        return fit(answer)

    def session_health(self, session_id: str | None = None, cwd: str | None = None) -> dict[str, Any]:
        watch = self.session(self.identify(session_id, cwd))
        self.alerts.refresh()
        now = self.clock()
        logged = self.alerts.by_attempt.get(watch.attempt_id, [])
        journaled = {a.alert_id for a in logged}
        acknowledged = acks.acknowledged(self.log_dir) if logged else set()  # on the dashboard's Alerts page
        standing = [a for a in watch.looping() if a.alert_id not in journaled]  # not yet written by `watch`
        answer = {
            "session": watch.attempt_id,
            "events": watch.events,
            "status": watch.status or "open",
            "cost_usd": round(watch.cost_usd, 4),
            "budget_usd": self.budget_usd,
            "budget_used": round(watch.cost_usd / self.budget_usd, 3) if self.budget_usd else None,
            "failure_risk": None,  # no failure model is trained on this log yet
            "s_since_last_event": _ago(now, watch.last_time),
            "s_since_progress": _ago(now, watch.progress_time),
            "errors": sum(watch.errors.values()),
            "alerts_logged": self.alerts.total.get(watch.attempt_id, 0) + len(standing),
            "alerts": [_alert(a) for a in reversed(standing[-3:])]
            + [_alert(a, a.alert_id in acknowledged) for a in reversed(logged[-3:])],
        }
        return fit(answer)

    def seen_this_error(self, text: str, session_id: str | None = None, cwd: str | None = None) -> dict[str, Any]:
        from ..intel import analyze_error

        info = analyze_error(text[:2000])
        self.errors.refresh()
        fp = info.fingerprint
        sessions = self.errors.sessions.get(fp, {})
        me = self._maybe_me(session_id, cwd)
        others = [a for a in reversed(sessions) if a != me]
        answer = {
            "fingerprint": fp,
            "template": _short(info.template, 200),
            "category": self.errors.category.get(fp, info.category),
            "seen": self.errors.count.get(fp, 0),
            "sessions": len(sessions),
            "recent_sessions": others[:5],
            "got_past_it": [self._after_error(a, fp) for a in others[:3]],
        }
        return fit(answer)

    def similar_failures(self, k: int = 3, session_id: str | None = None, cwd: str | None = None) -> dict[str, Any]:
        watch = self.session(self.identify(session_id, cwd))
        self.errors.refresh()
        k = max(1, min(int(k), 10))
        shared: dict[str, int] = {}
        for fp in watch.errors:
            # the latest sessions of each error: a common one was met by thousands
            for attempt in islice(reversed(self.errors.sessions.get(fp, {})), MAX_CANDIDATES):
                if attempt != watch.attempt_id:
                    shared[attempt] = shared.get(attempt, 0) + 1
        # most errors in common first; among equals, the most recent (met first above)
        order = {a: i for i, a in enumerate(shared)}
        ranked = sorted(shared, key=lambda a: (shared[a] * -1, order[a]))[:k]
        answer = {
            "session": watch.attempt_id,
            "own_errors": len(watch.errors),
            "similar": [{"session": a, "shared_errors": shared[a], "outcome": self._outcome(a)} for a in ranked],
        }
        if not watch.errors:
            answer["note"] = "this session has recorded no error yet"
        return fit(answer)

    # -- other sessions

    def _maybe_me(self, session_id: str | None, cwd: str | None) -> str | None:
        try:
            return self.identify(session_id, cwd)
        except NoSession:
            return None

    def _outcome(self, attempt_id: str) -> str:
        line = last_line(layout.session_path(self.log_dir, attempt_id))
        event = _event(line) if line else None
        if event is None or event.event_type != "session_end":
            return "open"
        status = event.data.completion_status
        return status if type(status) is str else "ended"

    def _after_error(self, attempt_id: str, fp: str) -> dict[str, Any]:
        """What a session did after its last occurrence of `fp`: its next tool call, and how it ended."""
        path = layout.session_path(self.log_dir, attempt_id)
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            return {"session": attempt_id, "outcome": "unknown (transcript gone)"}
        key = (attempt_id, fp, size)
        if key not in self._after:
            read = _lines(path, 0, None, MAX_READ_AFTER)
            next_call = None
            for line in read[0] if read else ():
                event = _event(line)
                if event is None:
                    continue
                if event.event_type == "error" and (_fingerprint(event.data) or ("",))[0] == fp:
                    next_call = "pending"
                elif next_call == "pending" and event.event_type == "tool_call":
                    params = bytes(event.data.tool_params).decode("utf-8", "replace")
                    next_call = f"{event.data.tool_name} {_short(params, 100)}"
            if next_call == "pending":
                next_call = None
            if len(self._after) > 4096:
                self._after.clear()
            self._after[key] = {"session": attempt_id, "next": next_call, "outcome": self._outcome(attempt_id)}
        return self._after[key]


def _alert(alert: Any, acknowledged: bool = False) -> dict[str, Any]:
    found = {
        "id": alert.alert_id,
        "type": alert.type,
        "severity": alert.severity,
        "recommendation": alert.recommendation,
        "at": alert.event_time,
    }
    if getattr(alert, "decision", None):
        found["decision"] = alert.decision
    if acknowledged:
        found["acknowledged"] = True
    return found


def _ago(now: float, then: float | None) -> float | None:
    return None if then is None else round(max(0.0, now - then), 1)


def fit(answer: dict[str, Any], limit: int = MAX_BYTES) -> dict[str, Any]:
    """The answer within `limit` bytes of JSON: strings cut first, then the longest lists'
    last items dropped (they are ordered most telling first), with `truncated` set."""
    encode = msgspec.json.encode
    if len(encode(answer)) <= limit:
        return answer
    answer = _cut_strings(answer, 120)
    answer["truncated"] = True
    while len(encode(answer)) > limit:
        lists = [(len(encode(v)), k) for k, v in answer.items() if isinstance(v, list) and v]
        if not lists:
            answer = _cut_strings(answer, 40)
            break
        key = max(lists)[1]
        answer[key] = answer[key][:-1]
    return answer


def _cut_strings(value: Any, size: int) -> Any:
    if isinstance(value, str):
        return _short(value, size)
    if isinstance(value, dict):
        return {k: _cut_strings(v, size) for k, v in value.items()}
    if isinstance(value, list):
        return [_cut_strings(v, size) for v in value]
    return value
