"""failed_session_high_errors / failed_session_transient_errors: a failed session with many errors.

"transient" when every error is a reconnect/rate-limit/timeout/unavailable kind
(`agentlog.intel.taxonomy.is_transient` on its category or fingerprint): retrying with
backoff or another SDK helps there, a root-cause analysis does not.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache

import msgspec

from ...events import COMPLETION_STATUSES
from ...intel.taxonomy import is_transient
from . import BaseDetector, Finding, register
from .error_loop import fingerprint

MAX_FINGERPRINTS = 32
_UNKNOWN = ("unknown", None)


class State(msgspec.Struct, gc=False, array_like=True):
    errors: int = 0
    transient: bool = True  # every error so far was transient
    fingerprints: dict[str, int] = msgspec.field(default_factory=dict)


@lru_cache(maxsize=4096)
def _transient(category: str, fp: str) -> bool:
    return is_transient(category) or is_transient(fp)


def _failed(status) -> bool:
    # statuses outside the usual set count as failures (see events.normalize_end)
    return status == "failed" or (isinstance(status, str) and status not in COMPLETION_STATUSES)


@register
class FailedSession(BaseDetector):
    name = "failed_session"
    event_types = frozenset({"session_start", "error", "session_end"})
    State = State

    def handlers(self):
        return {"session_start": self.on_start, "error": self.on_error, "session_end": self.on_end}

    def on_start(self, event, t, attempt):
        attempt.slots.pop("failed_session", None)  # counted per session

    def on_error(self, event, t, attempt):
        state = attempt.slots.get("failed_session")
        if state is None:
            state = attempt.slots["failed_session"] = State()
        fp = event.data.error_fingerprint
        if type(fp) is not str or not fp:  # the recorder gives one; derived otherwise
            fp = (fingerprint(event.data) or _UNKNOWN)[0]
        state.errors += 1
        counts = state.fingerprints
        if fp in counts:
            counts[fp] += 1
        elif len(counts) < MAX_FINGERPRINTS:
            counts[fp] = 1
        if state.transient:  # until the first error that is not: the category is needed only here
            category = (fingerprint(event.data) or _UNKNOWN)[1]
            if not _transient(category or "unknown", fp):
                state.transient = False

    def on_end(self, event, t, attempt):
        if _failed(event.data.completion_status):
            return self._verdict(attempt.slots.get("failed_session"))
        return None

    def _verdict(self, state: State | None):
        n = self.config.failed_session_errors
        if state is None or n <= 0 or state.errors < n:
            return None
        top = Counter(state.fingerprints).most_common(1)[0][0] if state.fingerprints else None
        kinds = ", ".join(sorted(state.fingerprints))
        if state.transient:
            return Finding(
                "failed_session_transient_errors",
                "",
                "medium",
                "switch_sdk_or_backoff_retry",
                {
                    "occurrences": state.errors,
                    "threshold": n,
                    "error_fingerprint": top,
                    "message": f"failed with {state.errors} transient errors ({kinds})",
                },
            )
        return Finding(
            "failed_session_high_errors",
            "",
            "high",
            "analyze_root_cause",
            {
                "occurrences": state.errors,
                "threshold": n,
                "error_fingerprint": top,
                "message": f"failed with {state.errors} errors ({kinds})",
            },
        )
