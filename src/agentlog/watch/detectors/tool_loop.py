"""tool_loop: an agent repeating itself with one tool, not an agent that is merely busy.

Two rules, each configurable and each disabled by a threshold of 0:
- repetition (the default that matters): the same tool with identical params
  `tool_repeat_threshold` times with nothing new in between, however slowly. A call the
  attempt never made before is progress and starts every count over, so an edit-test cycle
  (new edits, the same test command) never adds up, while `A A A ...` or `A B A B ...`
  does. Params are compared as their raw JSON bytes.
- rate (the seed's plain rule): the same tool >= `tool_loop_threshold` calls within
  `tool_loop_window_ms`. Real agents run a shell tool 10-20 times a minute as ordinary
  work, so the default window is 10 s (a call a second, sustained: faster than a model in
  the loop works); set the window to 60 s for the seed's rule.
Both share one cooldown key per (attempt, tool), so one loop raises one alert. The rate rule
measures real time: calls whose time is approximate or synthetic (SWE-agent 0.x steps placed
1 s apart) are left out of it; the repetition rule counts them.
"""

from __future__ import annotations

from zlib import crc32

import msgspec

from ..view import timed
from . import BaseDetector, Finding, register

MAX_TOOLS = 64
MAX_PARAMS = 256  # distinct calls remembered per attempt; a forgotten one counts as new again


class State(msgspec.Struct, gc=False, array_like=True):
    times: dict[str, list[float]] = msgspec.field(default_factory=dict)  # tool -> last call times
    seen: dict[int, int] = msgspec.field(default_factory=dict)  # crc32(tool, params) of calls made
    run: dict[int, int] = msgspec.field(default_factory=dict)  # ... -> repeats since the last new call


@register
class ToolLoop(BaseDetector):
    name = "tool_loop"
    event_types = frozenset({"tool_call"})
    State = State

    def __init__(self, config):
        super().__init__(config)
        self.rate_n, self.window_ms = config.tool_loop_threshold, config.tool_loop_window_ms
        if self.window_ms <= 0:
            self.rate_n = 0
        self.repeat_n = config.tool_repeat_threshold
        self._tool_crc: dict[str, int] = {}

    def on_event(self, event, t, attempt):
        data = event.data  # never None: the engine ignores events without data
        tool = data.tool_name
        if type(tool) is not str or not tool:
            return None
        state = attempt.slots.get("tool_loop")
        if state is None:
            state = attempt.slots["tool_loop"] = State()
        evidence = None
        if self.rate_n > 0 and (event.timestamp_quality is None or timed(event)):
            evidence = self._rate(state, tool, t)
        if self.repeat_n > 0:
            repeat = self._repeat(state, tool, data.tool_params)
            evidence = evidence or repeat
        if evidence is None:
            return None
        return Finding("tool_loop", tool, "medium", "fresh_session", {"tool_name": tool, **evidence})

    def _rate(self, state: State, tool: str, t: float) -> dict | None:
        n, times = self.rate_n, state.times.get(tool)
        if times is None:
            times = state.times[tool] = []
            if len(state.times) > MAX_TOOLS:
                del state.times[next(iter(state.times))]
        times.append(t)
        if len(times) > n:
            del times[0]
        if len(times) < n or (max(times) - min(times)) * 1000 > self.window_ms:
            return None
        return {
            "occurrences": n,
            "threshold": n,
            "window_ms": self.window_ms,
            "message": f"{tool} called {n} times within {self.window_ms / 1000:g} s",
        }

    def _repeat(self, state: State, tool: str, params) -> dict | None:
        seed = self._tool_crc.get(tool)
        if seed is None:
            if len(self._tool_crc) > 4096:
                self._tool_crc.clear()
            seed = self._tool_crc[tool] = crc32(tool.encode())
        key, seen = crc32(params, seed), state.seen
        if seen.pop(key, None) is None:  # a call not made before: progress, every count starts over
            if len(seen) >= MAX_PARAMS:
                del seen[next(iter(seen))]
            state.run = {}
        seen[key] = 1  # (re-)inserted: the most recent stay when capped
        count = state.run[key] = state.run.get(key, 0) + 1
        if count < self.repeat_n:
            return None
        return {
            "occurrences": count,
            "threshold": self.repeat_n,
            "message": f"{tool} called {count} times with identical params, nothing new in between",
        }
