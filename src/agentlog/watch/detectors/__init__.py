"""Detectors: registered by `@register`, all behind `Detector`.

The six rule detectors (cost_anomaly, error_loop, excessive_restarts, failed_session,
stuck_agent, tool_loop) are native: they run inside the engine (native/src/engine/detectors.rs)
and are registered here by name only (`Native`). A detector written in Python (one module
here, like the model-driven `risk` and `session_anomaly`, or a third-party package's module
named by the `agentlog.detectors` entry point, see plugins.py) looks at the events of one
attempt (its own per-attempt state lives in `attempt.slots[name]`) and returns a `Finding`;
the engine turns findings into alerts (cooldown, deterministic id) the same way for both.
Python detectors are the slow path: the engine decodes an event into a `WatchEvent` for
them, for the event types they ask for only. On a large batch it may call them from its
reading threads, and for different attempts in another order than the lines: a detector
must keep nothing across attempts (see docs/watch-engine.md, Shards and threads).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Callable, ClassVar, NamedTuple, Protocol

import msgspec

from ... import _core, plugins
from ..config import WatchConfig
from ..view import WatchEvent, trigger_of


class Attempt(msgspec.Struct, gc=False, omit_defaults=True):
    """What the engine keeps per active attempt; detectors add their own `slots`."""

    executor: Any = None
    task_id: Any = None
    last_time: float = 0.0  # latest event time seen (epoch s)
    # that event, or its identity once snapshotted: making the id string for every event
    # cost more than the rare alert that asks for it (see `last_event_id`)
    last_id: Any = ""
    idle_alerted: bool = False  # the current idle period was dealt with: alerted, or waiting for its user
    untimed: bool = False  # last_time is approximate or synthetic: a gap from it is no idleness
    heard: float = 0.0  # wall time its latest event was read, once the reader was caught up (0: unknown)
    cooldowns: dict[str, float] = msgspec.field(default_factory=dict)  # alert key -> event time of its last alert
    slots: dict[str, Any] = msgspec.field(default_factory=dict)

    def last_event_id(self) -> str:
        """The identity of the latest event (its event_id, else timestamp#sequence_num)."""
        if type(self.last_id) is not str:
            self.last_id = trigger_of(self.last_id)
        return self.last_id


class Finding(NamedTuple):
    """A detector's verdict; the engine adds attempt, executor, times, key and alert_id."""

    type: str
    subject: str  # what distinguishes two loops of one attempt: fingerprint, tool, level
    severity: str
    recommendation: str
    evidence: dict[str, Any]
    trigger: str | None = None  # identity of the triggering event; None = the current event
    cooldown: bool = True


Handler = Callable[[WatchEvent, float, Attempt], "Finding | None"]


class Detector(Protocol):
    """The engine gives a detector only events with a string attempt_id, an event time `t`
    and `data` present (events without are ignored before any detector sees them)."""

    name: ClassVar[str]
    event_types: ClassVar[frozenset[str]]  # the events on_event is given
    State: ClassVar[type | None]  # per-attempt state struct (snapshotted), or None
    keep_after_end: ClassVar[bool]  # keep the state across sessions of one attempt
    idle_after_s: ClassVar[float | None]  # on_clock wanted for attempts idle this long

    def on_event(self, event: WatchEvent, t: float, attempt: Attempt) -> Finding | None: ...

    def handlers(self) -> dict[str, Handler]: ...  # what the engine calls, per event type

    def on_clock(self, attempt: Attempt, now: float) -> Finding | None: ...


class BaseDetector:
    """Defaults for the optional parts of `Detector`."""

    name: ClassVar[str] = ""
    event_types: ClassVar[frozenset[str]] = frozenset()
    State: ClassVar[type | None] = None
    keep_after_end: ClassVar[bool] = False
    idle_after_s: float | None = None
    # the executors whose events it judges (None: all); the engine decodes no other event for it
    executors: frozenset[str] | None = None

    def __init__(self, config: WatchConfig):
        self.config = config

    def on_event(self, event: WatchEvent, t: float, attempt: Attempt) -> Finding | None:
        if type(self).handlers is BaseDetector.handlers:
            return None
        handler = self.handlers().get(event.event_type)
        return None if handler is None else handler(event, t, attempt)

    def handlers(self) -> dict[str, Handler]:
        """event type -> the method the engine calls for it: `on_event` for each of
        `event_types`, unless the detector has a method per type (which saves it branching
        on the type for every event; `on_event` then dispatches to them)."""
        return dict.fromkeys(self.event_types, self.on_event)

    def on_clock(self, attempt: Attempt, now: float) -> Finding | None:
        return None

    def state(self, attempt: Attempt):
        """This detector's state for `attempt`, created on first use."""
        slot = attempt.slots.get(self.name)
        if slot is None:
            slot = attempt.slots[self.name] = self.State()
        return slot


REGISTRY: dict[str, type[BaseDetector]] = {}


def register(cls: type[BaseDetector]) -> type[BaseDetector]:
    REGISTRY[cls.name] = cls
    return cls


class Native(BaseDetector):
    """A built-in detector that runs inside the native engine: the engine knows it by name."""

    native = True


for _name in _core.NATIVE_DETECTORS:
    register(type(f"Native_{_name}", (Native,), {"name": _name, "__module__": __name__}))


def revive(slots: dict[str, Any], states: dict[str, type | None]) -> Attempt:
    """The Python detectors' `Attempt` of a snapshot: each slot decoded as its detector's
    `State` (not strict: JSON made the int keys of a state's dicts strings)."""
    return Attempt(slots={k: msgspec.convert(v, states[k], strict=False) for k, v in slots.items() if states.get(k)})


def load_detectors(config: WatchConfig, names: list[str] | None = None) -> list[BaseDetector]:
    """An instance of every registered detector (or of those `names`: found by name even
    before anything else imported their modules)."""
    known = detector_names()
    chosen = names or known
    unknown = set(chosen) - set(REGISTRY)
    if unknown:
        raise ValueError(f"unknown detector(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(REGISTRY))}")
    return [REGISTRY[name](config) for name in chosen]


def detector_names() -> list[str]:
    """Every registered detector: ours (one module each) and the plugins'."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    plugins.load("agentlog.detectors")
    return sorted(REGISTRY)
