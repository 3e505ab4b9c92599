"""The detection engine: per-attempt state, event-time windows, cooldowns, alert ids.

Pure and deterministic: lines (or events) in, alerts out, no I/O and no wall clock
except what the caller passes to `tick(now)`. The same input gives the same alerts with
the same `alert_id`, which is what lets the watchdog restart after kill -9 without
repeating or missing one: `snapshot()` is saved with the tailer's checkpoint, and alerts
already in the journal are skipped by id.

Memory stays O(active attempts x window): an attempt's state goes at its session_end
(only what a detector keeps across sessions stays, in a bounded `ended` table), and a
long-idle attempt goes once its stuck alert was raised (or it was found waiting for its
user, see `stuck_agent`).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from hashlib import blake2b
from typing import Any, Callable

import msgspec

from .. import jsonline
from ..events import Alert, now_iso, parse_time
from .config import WatchConfig
from .detectors import Attempt, BaseDetector, Finding, load_detectors
from .view import Malformed, UsualEvent, WatchEvent, decode_or_why

REOPENING = frozenset({"session_start", "followup_sent"})  # events that revive an ended attempt
MAX_ENDED = 50_000
_ISO_FAST = 24  # len("2026-02-09T14:23:45.123Z")
_MS = {f".{ms:03d}Z": ms / 1000 for ms in range(1000)}  # the stream's millisecond suffix, pre-parsed
_SPLIT = 16  # a batch that does not decode as usual events is retried in this many parts


_usual = msgspec.json.Decoder(UsualEvent)
_usual_lines = msgspec.json.Decoder(list[UsualEvent])
_ERRORS = (msgspec.DecodeError, msgspec.ValidationError)


def decode_batch(lines: list[bytes], out: list, start: int = 0) -> list:
    """`out` + runs of usual events (lists, one C call each), the other lines in between
    one by one (a `WatchEvent`, or `Malformed` at its index + `start`); blank lines are
    left out. The lines are decoded as one JSON array, so a blank line, a line that holds
    two objects (glued) or one that `jsonline` may refuse sends its part the careful way."""
    joined = b"\n,".join(lines)
    if not jsonline.suspect(joined):
        try:
            events = _usual_lines.decode(b"[" + joined + b"]")
            if len(events) == len(lines):  # a line holding `{...},{...}` makes more events than lines
                out.append(events)
                return out
        except _ERRORS:
            pass
    if len(lines) > _SPLIT:  # a few odd lines in a big batch: only their part goes line by line
        step = -(-len(lines) // _SPLIT)
        for i in range(0, len(lines), step):
            decode_batch(lines[i:i + step], out, start + i)
        return out
    for i, line in enumerate(lines, start):
        try:
            out.append([jsonline.decode(line, _usual)])
        except _ERRORS:
            if line.strip():
                event = decode_or_why(line)
                out.append(Malformed(i, event) if isinstance(event, str) else event)
    return out


class Engine:
    def __init__(self, config: WatchConfig | None = None, detectors: list[BaseDetector] | None = None):
        self.config = config or WatchConfig()
        self.detectors = detectors if detectors is not None else load_detectors(self.config)
        handlers: dict[str, list] = {}
        for detector in self.detectors:
            for kind, handler in detector.handlers().items():
                handlers.setdefault(kind, []).append(handler)
        handlers.setdefault("session_end", []).append(self._ended)  # after the detectors saw it
        # the hot path calls, per event type, only the methods that want it
        self.handlers = {kind: tuple(found) for kind, found in handlers.items()}
        self.kept_names = [d.name for d in self.detectors if d.keep_after_end]
        self.clocked = [d for d in self.detectors if d.idle_after_s is not None]
        self.idle_after = min((d.idle_after_s for d in self.clocked), default=None)
        self.evict_after = max(3 * (self.idle_after or 0), self.config.error_loop_window_ms / 1000,
                               self.config.tool_loop_window_ms / 1000)
        self.cooldown_s = self.config.alert_cooldown_ms / 1000
        self.active: dict[str, Attempt] = {}
        # ordered: the oldest is dropped in O(1) (a plain dict's first key is found by a scan
        # past every deleted slot, which made each end of session O(ended) once the cap was hit)
        self.ended: OrderedDict[str, dict[str, Any] | None] = OrderedDict()
        self.cooldowns: dict[str, float] = {}  # key -> event time of its last alert
        self.clock = 0.0  # the latest event time seen
        self.since: float | None = None  # events older than this are ignored (--since)
        self.events = self.malformed = self.ignored = 0
        self._seconds: dict[str, float] = {}

    # -- input -----------------------------------------------------------------------

    def feed(self, lines: list[bytes], on_malformed: Callable[[Malformed], None] | None = None) -> list[Alert]:
        """Process raw stream lines; malformed ones are counted, handed to `on_malformed`
        (with their index in `lines` and the reason) and skipped."""
        alerts: list[Alert] = []
        for part in decode_batch(lines, []):
            if type(part) is list:
                self._usual(part, alerts)
            elif type(part) is Malformed:
                self.malformed += 1
                if on_malformed is not None:
                    on_malformed(part)
            else:
                alerts.extend(self.process(part) or ())
        return alerts

    def _usual(self, events: list[UsualEvent], alerts: list[Alert]) -> None:
        """The hot path of a catch-up: `process` for events whose types were checked while
        decoding, with everything looked up once per batch. Both paths must agree (tested)."""
        active, handlers, seconds = self.active, self.handlers, self._seconds
        idle_after = math.inf if self.idle_after is None else self.idle_after
        since = -math.inf if self.since is None else self.since
        clock, ignored = self.clock, 0
        for event in events:
            ts = event.timestamp
            ms = _MS.get(ts[19:])
            base = seconds.get(ts[:19]) if ms is not None else None
            if base is not None:
                t = base + ms
            else:
                t = self._time(ts)
                if t is None:
                    ignored += 1
                    continue
            if t < since:
                ignored += 1
                continue
            attempt_id = event.attempt_id
            attempt = active.get(attempt_id)
            if attempt is None:
                attempt = self._open(attempt_id, event.event_type)
                if attempt is None:
                    ignored += 1  # a straggler after the session ended
                    continue
            elif t - attempt.last_time >= idle_after:
                alerts.extend(self._clock(attempt_id, attempt, t))  # it was idle until now
            if t >= attempt.last_time:
                attempt.last_time = t
                attempt.last_id = event  # its identity is made only if an alert asks
                attempt.idle_alerted = False
            if attempt.executor is None:
                attempt.executor = event.executor
                attempt.task_id = event.task_id
            if t > clock:
                clock = t
            found = handlers.get(event.event_type)
            if found is not None:
                for handler in found:
                    finding = handler(event, t, attempt)
                    if finding is not None:
                        alert = self._raise(finding, attempt_id, attempt, event, t)
                        if alert is not None:
                            alerts.append(alert)
        self.clock = clock
        self.events += len(events)
        self.ignored += ignored

    def process(self, event: WatchEvent) -> list[Alert] | None:
        """One event; events without attempt_id, data or a readable timestamp are ignored."""
        self.events += 1
        attempt_id, kind = event.attempt_id, event.event_type
        t = self._time(event.timestamp)
        if (type(attempt_id) is not str or not attempt_id or t is None or type(kind) is not str
                or event.data is None):
            self.ignored += 1
            return None
        if self.since is not None and t < self.since:
            self.ignored += 1
            return None
        attempt = self.active.get(attempt_id)
        alerts: list[Alert] | None = None
        if attempt is None:
            attempt = self._open(attempt_id, kind)
            if attempt is None:
                self.ignored += 1  # a straggler after the session ended
                return None
        elif self.idle_after is not None and t - attempt.last_time >= self.idle_after:
            alerts = self._clock(attempt_id, attempt, t)  # it was idle until now
        if t >= attempt.last_time:
            attempt.last_time = t
            attempt.last_id = event
            attempt.idle_alerted = False
        if attempt.executor is None:
            attempt.executor = event.executor
            attempt.task_id = event.task_id
        if t > self.clock:
            self.clock = t
        for handler in self.handlers.get(kind, ()):
            finding = handler(event, t, attempt)
            if finding is not None:
                alert = self._raise(finding, attempt_id, attempt, event, t)
                if alert is not None:
                    alerts = alerts or []
                    alerts.append(alert)
        return alerts

    def _open(self, attempt_id: str, kind: str) -> Attempt | None:
        """A new attempt, or an ended one revived by a new session; None for a straggler."""
        if attempt_id in self.ended:
            if kind not in REOPENING:
                return None
            attempt = Attempt(slots=self.ended.pop(attempt_id) or {})
        else:
            attempt = Attempt()
        self.active[attempt_id] = attempt
        return attempt

    def tick(self, now: float) -> list[Alert]:
        """Clock-driven checks (stuck agents) at `now`, and eviction of long-idle attempts."""
        if self.idle_after is None:
            return []
        horizon = now - self.idle_after
        due = [(k, a) for k, a in self.active.items() if a.last_time <= horizon]
        alerts: list[Alert] = []
        for attempt_id, attempt in due:
            alerts.extend(self._clock(attempt_id, attempt, now))
            if attempt.idle_alerted and now - attempt.last_time >= self.evict_after:
                del self.active[attempt_id]  # dealt with and long gone: let it go
        self._prune_cooldowns(now)
        return alerts

    # -- alerts -------------------------------------------------------------------------

    def _clock(self, attempt_id: str, attempt: Attempt, now: float) -> list[Alert]:
        alerts = []
        for detector in self.clocked:
            finding = detector.on_clock(attempt, now)
            if finding is not None:
                alert = self._raise(finding, attempt_id, attempt, None, attempt.last_time)
                if alert is not None:
                    alerts.append(alert)
        return alerts

    def _raise(self, finding: Finding, attempt_id: str, attempt: Attempt, event: WatchEvent | None,
               t: float) -> Alert | None:
        key = f"{finding.type}|{attempt_id}|{finding.subject}"
        if finding.cooldown:
            last = self.cooldowns.get(key)
            if last is not None and abs(t - last) < self.cooldown_s:
                return None
            self.cooldowns[key] = t if last is None else max(last, t)
        if finding.trigger is not None:
            trigger = finding.trigger
        elif type(event.event_id) is str and event.event_id:
            trigger = event.event_id
        else:
            trigger = f"{event.timestamp}#{event.sequence_num}"
        evidence = {k: v for k, v in finding.evidence.items() if v is not None}
        return Alert(timestamp=now_iso(), type=finding.type, attempt_id=attempt_id,
                     severity=finding.severity, recommendation=finding.recommendation,
                     alert_id=alert_id(key, trigger), executor=_str(attempt.executor),
                     task_id=_str(attempt.task_id), event_time=now_iso(t), key=key, **evidence)

    def remember(self, alert: Alert) -> None:
        """Take an alert already written (by an earlier run) into the cooldowns."""
        if alert.key is None or alert.event_time is None:
            return
        try:
            t = parse_time(alert.event_time)
        except ValueError:
            return
        self.cooldowns[alert.key] = max(t, self.cooldowns.get(alert.key, t))

    def _prune_cooldowns(self, now: float) -> None:
        if len(self.cooldowns) < 4096:
            return
        horizon = max(now, self.clock) - self.cooldown_s
        self.cooldowns = {k: t for k, t in self.cooldowns.items() if t >= horizon}

    def _ended(self, event: WatchEvent, t: float, attempt: Attempt) -> None:
        """The engine's own session_end handler: the attempt leaves `active`."""
        attempt_id = event.attempt_id
        del self.active[attempt_id]
        slots = attempt.slots
        kept = {name: slots[name] for name in self.kept_names if name in slots} if slots else None
        self.ended[attempt_id] = kept or None
        if len(self.ended) > MAX_ENDED:
            self.ended.popitem(last=False)

    # -- time --------------------------------------------------------------------------

    def _time(self, timestamp: Any) -> float | None:
        """Epoch seconds; the stream's own format is parsed with a per-second cache."""
        if type(timestamp) is not str:
            return None
        if len(timestamp) == _ISO_FAST and timestamp[19] == "." and timestamp[23] == "Z":
            second = timestamp[:19]
            base = self._seconds.get(second)
            if base is None:
                try:
                    base = parse_time(second + "Z")
                except ValueError:
                    return None
                if len(self._seconds) > 65536:
                    self._seconds.clear()
                self._seconds[second] = base
            try:
                return base + int(timestamp[20:23]) / 1000
            except ValueError:
                return None
        try:
            return parse_time(timestamp)
        except ValueError:
            return None

    # -- persistence --------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to continue exactly here, cooldowns included.

        Cooldowns rebuilt from the journal would include alerts raised *after* this point
        (before a crash), which could wrongly suppress or release an alert while the
        events in between are processed again; so they travel with the position.
        """
        for attempt in self.active.values():
            attempt.last_event_id()  # the event itself is not part of the state
        return {"clock": self.clock, "active": list(self.active.items()), "ended": list(self.ended.items()),
                "cooldowns": list(self.cooldowns.items())}

    def restore(self, snapshot: dict[str, Any]) -> None:
        states = {d.name: d.State for d in self.detectors if d.State is not None}
        self.clock = float(snapshot.get("clock", 0.0))
        self.cooldowns = {key: float(t) for key, t in snapshot.get("cooldowns", [])}
        self.active = {}
        for attempt_id, raw in snapshot.get("active", []):
            attempt = msgspec.convert(raw, Attempt)
            attempt.slots = {k: _state(v, states[k]) for k, v in attempt.slots.items() if k in states}
            self.active[attempt_id] = attempt
        self.ended = OrderedDict()
        for attempt_id, kept in snapshot.get("ended", []):
            self.ended[attempt_id] = ({k: _state(v, states[k]) for k, v in kept.items() if k in states}
                                      if kept else None)


def _state(raw: Any, kind: type) -> Any:
    # not strict: JSON made the int keys of a state's dicts (tool_loop's call hashes) strings
    return msgspec.convert(raw, kind, strict=False)


def alert_id(key: str, trigger: str) -> str:
    """Deterministic: the same loop triggered by the same event has the same id, in any run."""
    return blake2b(f"{key}|{trigger}".encode(), digest_size=10).hexdigest()


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
