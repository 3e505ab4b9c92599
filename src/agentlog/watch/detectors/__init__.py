"""Detectors: one module each, registered by `@register`, all behind `Detector`.

A detector looks at the events of one attempt (its own per-attempt state lives in
`attempt.slots[name]`) and returns a `Finding`; the engine turns findings into alerts
(cooldown, deterministic id). Adding a detector = adding a module here.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, ClassVar, NamedTuple, Protocol

import msgspec

from ..config import WatchConfig
from ..view import WatchEvent


class Attempt(msgspec.Struct, gc=False):
    """What the engine keeps per active attempt; detectors add their own `slots`."""

    executor: Any = None
    task_id: Any = None
    last_time: float = 0.0  # latest event time seen (epoch s)
    last_id: str = ""  # identity of that event
    idle_alerted: bool = False  # a stuck alert was raised for the current idle period
    slots: dict[str, Any] = msgspec.field(default_factory=dict)


class Finding(NamedTuple):
    """A detector's verdict; the engine adds attempt, executor, times, key and alert_id."""

    type: str
    subject: str  # what distinguishes two loops of one attempt: fingerprint, tool, level
    severity: str
    recommendation: str
    evidence: dict[str, Any]
    trigger: str | None = None  # identity of the triggering event; None = the current event
    cooldown: bool = True


class Detector(Protocol):
    name: ClassVar[str]
    event_types: ClassVar[frozenset[str]]  # the events on_event is given
    State: ClassVar[type | None]  # per-attempt state struct (snapshotted), or None
    keep_after_end: ClassVar[bool]  # keep the state across sessions of one attempt
    idle_after_s: ClassVar[float | None]  # on_clock wanted for attempts idle this long

    def on_event(self, event: WatchEvent, t: float, attempt: Attempt) -> Finding | None: ...

    def on_clock(self, attempt: Attempt, now: float) -> Finding | None: ...


class BaseDetector:
    """Defaults for the optional parts of `Detector`."""

    name: ClassVar[str] = ""
    event_types: ClassVar[frozenset[str]] = frozenset()
    State: ClassVar[type | None] = None
    keep_after_end: ClassVar[bool] = False
    idle_after_s: float | None = None

    def __init__(self, config: WatchConfig):
        self.config = config

    def on_event(self, event: WatchEvent, t: float, attempt: Attempt) -> Finding | None:
        return None

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


def load_detectors(config: WatchConfig, names: list[str] | None = None) -> list[BaseDetector]:
    """An instance of every registered detector (or of those `names`)."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    chosen = names or sorted(REGISTRY)
    unknown = set(chosen) - set(REGISTRY)
    if unknown:
        raise ValueError(f"unknown detector(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(REGISTRY))}")
    return [REGISTRY[name](config) for name in chosen]


def ring_add(times: list[float], t: float, size: int) -> list[float]:
    """Keep the last `size` event times (windows by count; the span is checked separately)."""
    times.append(t)
    if len(times) > size:
        del times[0]
    return times


def cap(mapping: dict, size: int) -> None:
    """Drop the oldest entries of an insertion-ordered dict beyond `size`."""
    while len(mapping) > size:
        del mapping[next(iter(mapping))]
