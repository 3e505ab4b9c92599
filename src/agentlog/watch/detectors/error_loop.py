"""error_loop: one error fingerprint repeated in one attempt within a window.

Each fingerprint is its own loop (a second loop is never hidden behind the first). The
window is measured over the occurrences with real times: an approximate or synthetic time
is counted but spans nothing, so errors with made-up times loop by repetition alone.
A missing fingerprint is derived from the message by `agentlog.intel.analyze_error`,
the same function the recorder uses, so callers that give none are still caught.
"""

from __future__ import annotations

from functools import lru_cache

import msgspec

from ..view import timed
from . import BaseDetector, Finding, register

MAX_FINGERPRINTS = 64  # per attempt; the oldest is forgotten first


@lru_cache(maxsize=4096)
def _derive(message: str) -> tuple[str, str]:
    from ...intel import analyze_error

    info = analyze_error(message)
    return info.fingerprint, info.category


def fingerprint(data) -> tuple[str, str | None] | None:
    """(fingerprint, category) of an error event's data, derived when missing.

    Two detectors ask about the same error in a row: the last answer is kept for that.
    """
    global _last
    last = _last
    if last[0] is data:
        return last[1]
    fp, category = data.error_fingerprint, data.error_category
    if type(category) is not str:
        category = None
    if type(fp) is str and fp:
        found = fp, category
    elif type(data.error_message) is str and data.error_message:
        derived, derived_category = _derive(data.error_message[:2000])
        found = derived, category if category is not None else derived_category
    else:
        found = None
    _last = (data, found)  # one rebinding: safe with engines in several threads
    return found


_last: tuple = (None, None)  # (data, its fingerprint); holding data keeps its id from being reused


class State(msgspec.Struct, gc=False, array_like=True):
    times: dict[str, list[float | None]] = msgspec.field(default_factory=dict)  # None: an untimed occurrence


@register
class ErrorLoop(BaseDetector):
    name = "error_loop"
    event_types = frozenset({"error"})
    State = State

    def __init__(self, config):
        super().__init__(config)
        self.n, self.window_ms = config.error_loop_threshold, config.error_loop_window_ms

    def on_event(self, event, t, attempt):
        fp = event.data.error_fingerprint
        if type(fp) is not str or not fp:  # the recorder gives one; derived otherwise
            found = fingerprint(event.data)
            if found is None:
                return None
            fp = found[0]
        state = attempt.slots.get("error_loop")
        if state is None:
            state = attempt.slots["error_loop"] = State()
        times = state.times.get(fp)
        if times is None:
            times = state.times[fp] = []
            if len(state.times) > MAX_FINGERPRINTS:
                del state.times[next(iter(state.times))]
        n = self.n
        times.append(t if event.timestamp_quality is None or timed(event) else None)
        if len(times) > n:
            del times[0]
        elif len(times) < n:
            return None
        window = self.window_ms
        spanned = [x for x in times if x is not None] if None in times else times
        if len(spanned) > 1 and (max(spanned) - min(spanned)) * 1000 > window:
            return None
        within = f"within {window / 1000:g} s" if len(spanned) > 1 else "(times not measured)"
        return Finding(
            "error_loop",
            fp,
            "high",
            "trigger_ai_autofix",
            {
                "error_fingerprint": fp,
                "error_category": fingerprint(event.data)[1],
                "occurrences": n,
                "threshold": n,
                "window_ms": window,
                "message": f"error {fp} repeated {n} times {within}",
            },
        )
