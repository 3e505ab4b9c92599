"""tool_loop: an agent calling one tool over and over.

Two separate rules, each configurable and each disabled by a threshold of 0:
- rate: the same tool >= `tool_loop_threshold` calls within `tool_loop_window_ms`
  (a busy agent can trip this; issue 7 tunes it towards repetition);
- repetition: the same tool with identical params `tool_repeat_threshold` times in the
  attempt, however slowly (params compared as their raw JSON bytes).
Both share one cooldown key per (attempt, tool), so one loop raises one alert.
"""

from __future__ import annotations

from zlib import crc32

import msgspec

from . import BaseDetector, Finding, cap, register, ring_add

MAX_TOOLS = 64
MAX_PARAMS = 256


class State(msgspec.Struct, gc=False, array_like=True):
    times: dict[str, list[float]] = msgspec.field(default_factory=dict)
    repeats: dict[int, int] = msgspec.field(default_factory=dict)  # crc32(tool, params) -> count


class RateRule:
    def __init__(self, threshold: int, window_ms: float):
        self.threshold, self.window_ms = threshold, window_ms

    def check(self, state: State, tool: str, t: float) -> dict | None:
        if self.threshold <= 0 or self.window_ms <= 0:
            return None
        times = state.times.get(tool)
        if times is None:
            times = state.times[tool] = []
            cap(state.times, MAX_TOOLS)
        ring_add(times, t, self.threshold)
        if len(times) < self.threshold or (max(times) - min(times)) * 1000 > self.window_ms:
            return None
        return {"occurrences": self.threshold, "threshold": self.threshold, "window_ms": self.window_ms,
                "message": f"{tool} called {self.threshold} times within {self.window_ms / 1000:g} s"}


class RepeatRule:
    def __init__(self, threshold: int):
        self.threshold = threshold

    def check(self, state: State, tool: str, params: bytes) -> dict | None:
        if self.threshold <= 0:
            return None
        key = crc32(params, crc32(tool.encode()))
        count = state.repeats.pop(key, 0) + 1
        state.repeats[key] = count  # re-inserted: the most recent stay when capped
        cap(state.repeats, MAX_PARAMS)
        if count < self.threshold:
            return None
        return {"occurrences": count, "threshold": self.threshold,
                "message": f"{tool} called {count} times with identical params"}


@register
class ToolLoop(BaseDetector):
    name = "tool_loop"
    event_types = frozenset({"tool_call"})
    State = State

    def __init__(self, config):
        super().__init__(config)
        self.rate = RateRule(config.tool_loop_threshold, config.tool_loop_window_ms)
        self.repeat = RepeatRule(config.tool_repeat_threshold)

    def on_event(self, event, t, attempt):
        data = event.data
        if data is None or not isinstance(data.tool_name, str) or not data.tool_name:
            return None
        tool = data.tool_name
        state = self.state(attempt)
        rate = self.rate.check(state, tool, t)
        repeat = self.repeat.check(state, tool, bytes(data.tool_params))
        evidence = rate or repeat
        if evidence is None:
            return None
        return Finding("tool_loop", tool, "medium", "fresh_session", {"tool_name": tool, **evidence})
