"""The detection engine: per-attempt state, event-time windows, cooldowns, alert ids.

Pure and deterministic: lines (or events) in, alerts out, no I/O and no wall clock
except what the caller passes. The same input gives the same alerts with the same
`alert_id`, which is what lets the watchdog restart after kill -9 without repeating or
missing one: `snapshot()` is saved with the tailer's checkpoint, and alerts already in
the journal are skipped by id.

Time. Each attempt is judged on its own clock: a gap of `stuck_threshold_ms` between two
of its events is found when the second one is read, whatever other attempts were read in
between. Imported logs come file by file, not in time order, so no clock shared by all
attempts decides anything, and a replay finds the same alerts for any batch size and any
order of whole attempts (everything an attempt raises, its cooldowns included, depends on
its own events only). The wall clock comes in through `tick(now)` alone, which the caller
calls once it has read everything there is: then the attempts still open are checked for
having gone quiet. Two guards keep one writer's clock from misleading the watch:
- given the time it read the lines (`feed(..., now=)`), an event dated beyond
  `now + clock_tolerance_ms` is read as of `now`, and one before 2000 as untimed; so a
  clock hours ahead neither blinds its attempt nor lands in the checkpoint;
- from the first tick on, the engine notes when it last heard from each attempt, and an
  attempt is quiet only when that is as old as its latest event time: old events arriving
  now (an import while watching) are not stuck for being old.
Events whose `timestamp_quality` is approximate or synthetic measure no real time: gaps
to or from them are not idleness, and the detectors' time windows leave them out.

Memory. An attempt's state goes at its session_end (only what a detector keeps across
sessions stays, with the attempt's cooldowns, in a bounded `ended` table). An attempt
quiet for long is parked: its state packed into a few hundred bytes, unpacked when it is
heard from again, so letting it go changes no alert. Only past MAX_PARKED parked attempts
is the one parked longest forgotten (it would start over if it came back).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from hashlib import blake2b
from typing import Any, Callable

import msgspec

from .. import jsonline
from ..events import EARLIEST, Alert, now_iso, parse_time
from .config import WatchConfig
from .detectors import Attempt, BaseDetector, Finding, load_detectors
from .view import Malformed, UsualEvent, WatchEvent, decode_or_why, timed

REOPENING = frozenset({"session_start", "followup_sent"})  # events that revive an ended attempt
MAX_ENDED = 50_000
MAX_PARKED = 100_000
MAX_COOLDOWNS = 64  # per attempt; past it, those older than the cooldown go
PARK_AFTER_S = 600.0  # quiet this long (and 3x the stuck threshold): packed away
SWEEP_EVERY = 1 << 16  # events between two looks for attempts to park
SNAPSHOT_VERSION = 2
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
            decode_batch(lines[i : i + step], out, start + i)
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
        self.states = {d.name: d.State for d in self.detectors if d.State is not None}
        self.clocked = [d for d in self.detectors if d.idle_after_s is not None]
        self.idle_after = min((d.idle_after_s for d in self.clocked), default=None)
        self.park_after = max(3 * (self.idle_after or 0), PARK_AFTER_S)
        self.cooldown_s = self.config.alert_cooldown_ms / 1000
        self.tolerance = self.config.clock_tolerance_ms / 1000
        self.active: dict[str, Attempt] = {}
        # ordered: the oldest is dropped in O(1) (a plain dict's first key is found by a scan
        # past every deleted slot, which made each end of session O(ended) once the cap was hit)
        self.parked: OrderedDict[str, bytes] = OrderedDict()  # packed attempts, the longest parked first
        self.unjudged: set[str] = set()  # parked before a wall clock saw their latest quiet time
        self.ended: OrderedDict[str, Attempt | None] = OrderedDict()  # what outlives a session, or None
        self.remembered: dict[str, dict[str, float]] = {}  # cooldowns from the journal, until the attempt shows
        self.clock = 0.0  # the latest event time seen (what the heartbeat shows; parking's yardstick)
        self.caught_up = False  # a tick came: the caller has read everything there was
        self.since: float | None = None  # events older than this are ignored (--since)
        self.events = self.malformed = self.ignored = self.misdated = 0
        self._seconds: dict[str, float] = {}
        self._next_sweep = SWEEP_EVERY

    # -- input -----------------------------------------------------------------------

    def feed(
        self, lines: list[bytes], on_malformed: Callable[[Malformed], None] | None = None, now: float | None = None
    ) -> list[Alert]:
        """Process raw stream lines, read at wall time `now` (when known); malformed ones are
        counted, handed to `on_malformed` (with their index in `lines` and the reason) and skipped."""
        alerts: list[Alert] = []
        read = self._read_at(now)
        for part in decode_batch(lines, []):
            if type(part) is list:
                self._usual(part, alerts, *read)
            elif type(part) is Malformed:
                self.malformed += 1
                if on_malformed is not None:
                    on_malformed(part)
            else:
                alerts.extend(self._process(part, *read) or ())
        if self.events >= self._next_sweep:
            self._sweep()
        return alerts

    def process(self, event: WatchEvent, now: float | None = None) -> list[Alert] | None:
        """One event, read at wall time `now` (when known); events without attempt_id,
        data or a readable timestamp are ignored."""
        alerts = self._process(event, *self._read_at(now))
        if self.events >= self._next_sweep:
            self._sweep()
        return alerts

    def _read_at(self, now: float | None) -> tuple[float, float, float | None]:
        """(latest believable event time, the time read then, when their attempts were heard from)."""
        if now is None:
            return math.inf, math.inf, None
        return now + self.tolerance, now, now if self.caught_up else None

    def _usual(
        self, events: list[UsualEvent], alerts: list[Alert], latest: float, now: float, heard: float | None
    ) -> None:
        """The hot path of a catch-up: `process` for events whose types were checked while
        decoding, with everything looked up once per batch. Both paths must agree (tested)."""
        active, handlers, seconds = self.active, self.handlers, self._seconds
        idle_after = math.inf if self.idle_after is None else self.idle_after
        since = -math.inf if self.since is None else self.since
        clock, ignored, earliest = self.clock, 0, EARLIEST
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
            untimed = event.timestamp_quality is not None and not timed(event)
            if not earliest <= t <= latest:
                t, untimed = self._misdated(t, now, untimed)
            attempt_id = event.attempt_id
            attempt = active.get(attempt_id)
            if attempt is None:
                attempt = self._open(attempt_id, event.event_type, t)
                if attempt is None:
                    ignored += 1  # a straggler after the session ended
                    continue
            if t - attempt.last_time >= idle_after and not (untimed or attempt.untimed):
                alerts.extend(self._clock(attempt_id, attempt, t))  # it was idle until now
            if t >= attempt.last_time:
                attempt.last_time = t
                attempt.last_id = event  # its identity is made only if an alert asks
                attempt.idle_alerted = False
                attempt.untimed = untimed
            if heard is not None:
                attempt.heard = heard
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

    def _process(self, event: WatchEvent, latest: float, now: float, heard: float | None) -> list[Alert] | None:
        self.events += 1
        attempt_id, kind = event.attempt_id, event.event_type
        t = self._time(event.timestamp)
        if type(attempt_id) is not str or not attempt_id or t is None or type(kind) is not str or event.data is None:
            self.ignored += 1
            return None
        if self.since is not None and t < self.since:
            self.ignored += 1
            return None
        untimed = not timed(event)
        if not EARLIEST <= t <= latest:
            t, untimed = self._misdated(t, now, untimed)
        attempt = self.active.get(attempt_id)
        alerts: list[Alert] | None = None
        if attempt is None:
            attempt = self._open(attempt_id, kind, t)
            if attempt is None:
                self.ignored += 1  # a straggler after the session ended
                return None
        if (
            self.idle_after is not None
            and t - attempt.last_time >= self.idle_after
            and not (untimed or attempt.untimed)
        ):
            alerts = self._clock(attempt_id, attempt, t)  # it was idle until now
        if t >= attempt.last_time:
            attempt.last_time = t
            attempt.last_id = event
            attempt.idle_alerted = False
            attempt.untimed = untimed
        if heard is not None:
            attempt.heard = heard
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

    def _misdated(self, t: float, now: float, untimed: bool) -> tuple[float, bool]:
        """A time later than the event was read plus the tolerance is read as the time it was
        read (as the recorder clamps it; not as the bound, which would make a gap of its
        own); one before 2000 (an unset clock) stays in its place but measures nothing."""
        self.misdated += 1
        return (now, untimed) if t > now else (t, True)

    def _open(self, attempt_id: str, kind: str, t: float) -> Attempt | None:
        """A new attempt (its clock starting at `t`), a parked one unpacked, or an ended one
        revived by a new session; None for a straggler."""
        blob = self.parked.pop(attempt_id, None) if self.parked else None
        if blob is not None:
            self.unjudged.discard(attempt_id)
            attempt = self._unpack(blob)
        elif attempt_id in self.ended:
            if kind not in REOPENING:
                return None
            attempt = self.ended.pop(attempt_id) or Attempt()
            attempt.last_time = t
        else:
            attempt = Attempt(last_time=t)
        if self.remembered:
            _merge(attempt.cooldowns, self.remembered.pop(attempt_id, None))
        self.active[attempt_id] = attempt
        return attempt

    def tick(self, now: float) -> list[Alert]:
        """The caller has read everything there is: check the open attempts against the wall
        clock `now` (stuck agents), and park the ones quiet for long."""
        if not self.caught_up:
            self.caught_up = True
            horizon = now - self.cooldown_s  # older remembered cooldowns cannot hold back a live alert
            self.remembered = {
                attempt_id: kept
                for attempt_id, cooldowns in self.remembered.items()
                if (kept := {k: t for k, t in cooldowns.items() if t >= horizon})
            }
        for attempt_id in self.unjudged:
            blob = self.parked.pop(attempt_id, None)
            if blob is not None:
                self.active[attempt_id] = self._unpack(blob)
        self.unjudged.clear()
        idle_after = math.inf if self.idle_after is None else self.idle_after
        alerts: list[Alert] = []
        for attempt_id, attempt in list(self.active.items()):
            quiet = now - max(attempt.last_time, attempt.heard)
            if quiet >= idle_after and not attempt.idle_alerted:
                if attempt.untimed:
                    attempt.idle_alerted = True  # its time measures nothing: it cannot be judged idle
                else:
                    alerts.extend(self._clock(attempt_id, attempt, now))
            if quiet >= self.park_after:
                self._park(attempt_id, attempt, judged=True)
        return alerts

    # -- memory --------------------------------------------------------------------------

    def _sweep(self) -> None:
        """Now and then while reading: park the attempts quiet for long on the stream's own
        clock (losslessly: for memory only, never for a verdict), and let the others' latest
        events go (each keeps the whole batch it was decoded from alive)."""
        self._next_sweep = self.events + SWEEP_EVERY
        horizon = self.clock - self.park_after
        for attempt_id, attempt in list(self.active.items()):
            if max(attempt.last_time, attempt.heard) <= horizon:
                self._park(attempt_id, attempt, judged=attempt.idle_alerted)
            elif type(attempt.last_id) is not str:
                attempt.last_event_id()

    def _park(self, attempt_id: str, attempt: Attempt, judged: bool) -> None:
        """Pack an attempt away; `judged`: a wall clock already saw its latest quiet time
        (else the next tick unpacks it to check it)."""
        del self.active[attempt_id]
        attempt.last_event_id()
        self.parked[attempt_id] = _pack(attempt)
        if not judged:
            self.unjudged.add(attempt_id)
        if len(self.parked) > MAX_PARKED:
            gone, _ = self.parked.popitem(last=False)
            self.unjudged.discard(gone)

    def _unpack(self, blob: bytes) -> Attempt:
        return self._revive(msgspec.msgpack.decode(blob, type=Attempt))

    def _revive(self, attempt: Attempt) -> Attempt:
        """The detectors' states of an attempt decoded generically, as their own types."""
        states = self.states
        attempt.slots = {k: _state(v, states[k]) for k, v in attempt.slots.items() if k in states}
        return attempt

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

    def _raise(
        self, finding: Finding, attempt_id: str, attempt: Attempt, event: WatchEvent | None, t: float
    ) -> Alert | None:
        key = f"{finding.type}|{attempt_id}|{finding.subject}"
        if finding.cooldown:
            cooldowns = attempt.cooldowns
            last = cooldowns.get(key)
            if last is not None and abs(t - last) < self.cooldown_s:
                return None
            cooldowns[key] = t if last is None else max(last, t)
            if len(cooldowns) > MAX_COOLDOWNS:  # the attempt's own, oldest first: no other attempt decides
                for old in [k for k, last in cooldowns.items() if last < t - self.cooldown_s]:
                    del cooldowns[old]
        if finding.trigger is not None:
            trigger = finding.trigger
        elif type(event.event_id) is str and event.event_id:
            trigger = event.event_id
        else:
            trigger = f"{event.timestamp}#{event.sequence_num}"
        evidence = {k: v for k, v in finding.evidence.items() if v is not None}
        return Alert(
            timestamp=now_iso(),
            type=finding.type,
            attempt_id=attempt_id,
            severity=finding.severity,
            recommendation=finding.recommendation,
            alert_id=alert_id(key, trigger),
            executor=_str(attempt.executor),
            task_id=_str(attempt.task_id),
            event_time=now_iso(t),
            key=key,
            **evidence,
        )

    def remember(self, alert: Alert) -> None:
        """Take an alert already written (by an earlier run) into its attempt's cooldowns."""
        if alert.key is None or alert.event_time is None:
            return
        try:
            t = parse_time(alert.event_time)
        except ValueError:
            return
        attempt = self.active.get(alert.attempt_id)
        _merge(
            attempt.cooldowns if attempt is not None else self.remembered.setdefault(alert.attempt_id, {}),
            {alert.key: t},
        )

    def _ended(self, event: WatchEvent, t: float, attempt: Attempt) -> None:
        """The engine's own session_end handler: the attempt leaves `active`."""
        attempt_id = event.attempt_id
        del self.active[attempt_id]
        slots = attempt.slots
        kept = {name: slots[name] for name in self.kept_names if name in slots}
        # a new session of the attempt still counts what outlives sessions, and honours cooldowns
        self.ended[attempt_id] = Attempt(slots=kept, cooldowns=attempt.cooldowns) if kept or attempt.cooldowns else None
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
        return {
            "version": SNAPSHOT_VERSION,
            "clock": self.clock,
            "active": list(self.active.items()),
            "parked": list(self.parked.items()),
            "unjudged": sorted(self.unjudged),
            "ended": list(self.ended.items()),
            "remembered": list(self.remembered.items()),
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        legacy = "version" not in snapshot  # before attempts carried their own cooldowns
        self.clock = float(snapshot.get("clock", 0.0))
        self.active = {
            attempt_id: self._revive(msgspec.convert(raw, Attempt)) for attempt_id, raw in snapshot.get("active", [])
        }
        self.parked = OrderedDict(msgspec.convert(snapshot.get("parked", []), list[tuple[str, bytes]]))
        self.unjudged = set(snapshot.get("unjudged", [])) & self.parked.keys()
        self.ended = OrderedDict()
        for attempt_id, kept in snapshot.get("ended", []):
            if legacy and kept:
                kept = {"slots": kept}
            self.ended[attempt_id] = self._revive(msgspec.convert(kept, Attempt)) if kept else None
        self.remembered = {
            attempt_id: {k: float(t) for k, t in cooldowns.items()}
            for attempt_id, cooldowns in snapshot.get("remembered", [])
        }
        for key, t in snapshot.get("cooldowns", []) if legacy else ():
            attempt_id = key.partition("|")[2].rpartition("|")[0]  # the key is type|attempt|subject
            owner = self.active.get(attempt_id)
            if owner is None and attempt_id in self.ended:
                owner = self.ended[attempt_id] = self.ended[attempt_id] or Attempt()
            _merge(
                owner.cooldowns if owner is not None else self.remembered.setdefault(attempt_id, {}), {key: float(t)}
            )


def _state(raw: Any, kind: type) -> Any:
    # not strict: JSON made the int keys of a state's dicts (tool_loop's call hashes) strings
    return msgspec.convert(raw, kind, strict=False)


def alert_id(key: str, trigger: str) -> str:
    """Deterministic: the same loop triggered by the same event has the same id, in any run."""
    return blake2b(f"{key}|{trigger}".encode(), digest_size=10).hexdigest()


def _merge(cooldowns: dict[str, float], more: dict[str, float] | None) -> None:
    for key, t in (more or {}).items():
        cooldowns[key] = max(t, cooldowns.get(key, t))


_pack = msgspec.msgpack.Encoder().encode


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
