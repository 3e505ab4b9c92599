"""error_loop: one error fingerprint repeated in one attempt within a window.

Each fingerprint is its own loop (a second loop is never hidden behind the first).
A missing fingerprint is derived from the message by `agentlog.intel.analyze_error`,
the same function the recorder uses, so callers that give none are still caught.
"""

from __future__ import annotations

from functools import lru_cache

import msgspec

from . import BaseDetector, Finding, cap, register, ring_add

MAX_FINGERPRINTS = 64  # per attempt; the oldest is forgotten first


@lru_cache(maxsize=4096)
def _derive(message: str) -> tuple[str, str]:
    from ...intel import analyze_error

    info = analyze_error(message)
    return info.fingerprint, info.category


def fingerprint(data) -> tuple[str, str | None] | None:
    """(fingerprint, category) of an error event's data, derived when missing."""
    fp, category = data.error_fingerprint, data.error_category
    if isinstance(fp, str) and fp:
        return fp, category if isinstance(category, str) else None
    if isinstance(data.error_message, str) and data.error_message:
        derived, derived_category = _derive(data.error_message[:2000])
        return derived, category if isinstance(category, str) else derived_category
    return None


class State(msgspec.Struct, gc=False, array_like=True):
    times: dict[str, list[float]] = msgspec.field(default_factory=dict)


@register
class ErrorLoop(BaseDetector):
    name = "error_loop"
    event_types = frozenset({"error"})
    State = State

    def on_event(self, event, t, attempt):
        if event.data is None:
            return None
        found = fingerprint(event.data)
        if found is None:
            return None
        fp, category = found
        n = self.config.error_loop_threshold
        state = self.state(attempt)
        times = state.times.get(fp)
        if times is None:
            times = state.times[fp] = []
            cap(state.times, MAX_FINGERPRINTS)
        ring_add(times, t, n)
        window = self.config.error_loop_window_ms
        if len(times) < n or (max(times) - min(times)) * 1000 > window:
            return None
        return Finding("error_loop", fp, "high", "trigger_ai_autofix",
                       {"error_fingerprint": fp, "error_category": category, "occurrences": n,
                        "threshold": n, "window_ms": window,
                        "message": f"error {fp} repeated {n} times within {window / 1000:g} s"})
