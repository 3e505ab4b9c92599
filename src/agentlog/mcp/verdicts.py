"""What an agent may ask about itself: the watchdog's verdicts on its own session, live.

    telemetry = Telemetry(log_dir, WatchConfig.from_settings(settings), budget_usd=1.0)
    telemetry.am_i_looping(session_id=None, cwd="/repo")   # a dict of <= 2 KB

One source of truth. A session's verdict comes from the watchdog's own `Engine`, with the
watchdog's settings, fed the session's transcript (`agent-sessions/<attempt>.jsonl`) as it
grows, as the guard's hooks feed it (session_watch.py): the engine judges each attempt on
its own events only (see watch/engine.py), so it raises the same alert at the same event
as `agentlog watch` reading the whole stream. Only the wall clock's checks (stuck) are left
to the watchdog: an agent that asks is not stuck. Open alerts come from
`agent-alerts.jsonl`, which `watch` and the guard write.

The calling session is found the way the hooks name it (caller.py).

Every answer costs O(what was appended since the last one): transcripts and the errors and
alerts files are read on from where the last call stopped; nothing here writes anything.
A question waits only for what it reads: the server does ahead on a thread of its own
what a first question would (`warm`: the longest, indexing the errors file), and while it
indexes, am_i_looping and session_health, which read only the caller's transcript and the
alerts, answer without waiting for it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from itertools import islice
from pathlib import Path
from typing import Any

from ..store import layout
from ..watch.config import WatchConfig
from ..watch.detectors import detector_names
from ..web import acks
from .caller import Callers, NoSession
from .indexes import AlertIndex, ErrorIndex
from .past import PastSessions
from .session_watch import SessionWatch
from .shape import MAX_BYTES, ago, alert_view, fit, short

__all__ = ["MAX_BYTES", "NoSession", "Telemetry", "fit"]

MAX_SESSIONS = 64  # sessions whose engines are kept; the least recently asked goes first
MAX_CANDIDATES = 500  # latest sessions per error weighed by similar_failures


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
        self.callers = Callers(self.log_dir)
        self.past = PastSessions(self.log_dir)
        # the SDK runs tools on worker threads: one question at a time per thing it reads,
        # taken in this order (sessions, then errors, then alerts), each index with its own
        self.lock = threading.Lock()  # the session engines, callers and past sessions

    def warm(self) -> None:
        """Do ahead what a first question would: the detectors' import, the caller found
        from this process's directory (the agent's, in the common case), then the shared
        files indexed as they are now, the errors file last (the longest). Run on a thread
        of its own: a question asked meanwhile waits only for what it reads."""
        detector_names()
        with self.lock:
            self.callers.maybe(None, None)
        with self.errors.lock:
            self.errors.refresh()
        with self.alerts.lock:
            self.alerts.refresh()

    def identify(self, session_id: str | None = None, cwd: str | None = None) -> str:
        with self.lock:
            return self.callers.identify(session_id, cwd)

    def session(self, attempt_id: str) -> SessionWatch:
        """The session's watch, caught up with its transcript (hold `lock`)."""
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
        with self.lock:
            watch = self.session(self.callers.identify(session_id, cwd))
            standing = watch.looping()
            answer = {
                "session": watch.attempt_id,
                "looping": bool(standing),
                "events": watch.events,
                "rules": watch.rules(),
                "alerts": [alert_view(a) for a in reversed(standing[-8:])],
            }
        latest = standing[-1] if standing else None
        answer["recommended_action"] = latest.recommendation if latest else "continue"
        if latest is not None:
            answer["why"] = short(latest.message)
        return fit(answer)

    def session_health(self, session_id: str | None = None, cwd: str | None = None) -> dict[str, Any]:
        with self.lock:
            watch = self.session(self.callers.identify(session_id, cwd))
            attempt, looping, now = watch.attempt_id, watch.looping(), self.clock()
            answer = {
                "session": attempt,
                "events": watch.events,
                "status": watch.status or "open",
                "cost_usd": round(watch.cost_usd, 4),
                "budget_usd": self.budget_usd,
                "budget_used": round(watch.cost_usd / self.budget_usd, 3) if self.budget_usd else None,
                "failure_risk": None,  # no failure model is trained on this log yet
                "s_since_last_event": ago(now, watch.last_time),
                "s_since_progress": ago(now, watch.progress_time),
                "errors": sum(watch.errors.values()),
            }
        with self.alerts.lock:
            self.alerts.refresh()
            logged = list(self.alerts.by_attempt.get(attempt, []))
            total = self.alerts.total.get(attempt, 0)
        journaled = {a.alert_id for a in logged}
        acknowledged = acks.acknowledged(self.log_dir) if logged else set()  # on the dashboard's Alerts page
        standing = [a for a in looping if a.alert_id not in journaled]  # not yet written by `watch`
        answer["alerts_logged"] = total + len(standing)
        answer["alerts"] = [alert_view(a) for a in reversed(standing[-3:])] + [
            alert_view(a, a.alert_id in acknowledged) for a in reversed(logged[-3:])
        ]
        return fit(answer)

    def seen_this_error(self, text: str, session_id: str | None = None, cwd: str | None = None) -> dict[str, Any]:
        from ..intel import analyze_error

        info = analyze_error(text[:2000])
        fp = info.fingerprint
        with self.lock:
            me = self.callers.maybe(session_id, cwd)
        with self.errors.lock:
            self.errors.refresh()
            sessions = self.errors.sessions.get(fp, {})
            answer = {
                "fingerprint": fp,
                "template": short(info.template, 200),
                "category": self.errors.category.get(fp, info.category),
                "seen": self.errors.count.get(fp, 0),
                "sessions": len(sessions),
            }
            # the latest few suffice (a common error was met by thousands of sessions)
            others = [a for a in islice(reversed(sessions), 6) if a != me][:5]
        answer["recent_sessions"] = others
        with self.lock:
            answer["got_past_it"] = [self.past.after_error(a, fp) for a in others[:3]]
        return fit(answer)

    def similar_failures(self, k: int = 3, session_id: str | None = None, cwd: str | None = None) -> dict[str, Any]:
        k = max(1, min(int(k), 10))
        with self.lock:
            watch = self.session(self.callers.identify(session_id, cwd))
            me, own = watch.attempt_id, list(watch.errors)
        shared: dict[str, int] = {}
        with self.errors.lock:
            self.errors.refresh()
            for fp in own:
                # the latest sessions of each error: a common one was met by thousands
                for attempt in islice(reversed(self.errors.sessions.get(fp, {})), MAX_CANDIDATES):
                    if attempt != me:
                        shared[attempt] = shared.get(attempt, 0) + 1
        # most errors in common first; among equals, the most recent (met first above)
        order = {a: i for i, a in enumerate(shared)}
        ranked = sorted(shared, key=lambda a: (shared[a] * -1, order[a]))[:k]
        with self.lock:
            similar = [{"session": a, "shared_errors": shared[a], "outcome": self.past.outcome(a)} for a in ranked]
        answer = {"session": me, "own_errors": len(own), "similar": similar}
        if not own:
            answer["note"] = "this session has recorded no error yet"
        return fit(answer)
