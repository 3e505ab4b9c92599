"""SWE-agent trajectories (`*.traj`): one JSON document per attempt.

Each step's thought / action / observation become agent_thinking / tool_call /
tool_result; an observation that shows a failure (traceback, error banner, non-zero
exit) also becomes an error. `info.model_stats` gives tokens and cost, `info.exit_status`
the outcome. Older files have only `history` (assistant actions, then observations).

The file carries no clock, so events are placed on the file's modification time minus
the steps' `execution_time` (one second per step when absent). SWE-agent rewrites the
file after every step: the import remembers how many steps it took and adds only new
ones; the attempt ends once `info.exit_status` is written.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

from ...events import now_iso
from .base import SWE_AGENT, Context, Importer, Mapper, clip

_FAILURE = re.compile(
    r"Traceback \(most recent call last\)|^\w*Error: |command not found|No such file or directory"
    r"|Your proposed edit has introduced new syntax error|^ERRORS?:|exit code [1-9]|exited with code [1-9]"
    r"|^Usage: |not recognized as|Permission denied", re.M)


def failure_line(observation: str) -> str | None:
    """The line that shows a failed command, or None when the observation looks fine."""
    match = _FAILURE.search(observation or "")
    if match is None:
        return None
    start = observation.rfind("\n", 0, match.start()) + 1
    end = observation.find("\n", match.end())
    line = observation[start:end if end >= 0 else None].strip()
    tail = [ln for ln in observation.strip().splitlines() if ln.strip()]
    if line.startswith("Traceback") and tail:
        return tail[-1].strip()  # the exception itself is the last line of a traceback
    return line or match.group(0)


def steps_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Steps as {thought, action, observation, execution_time}, from trajectory or history."""
    if isinstance(doc.get("trajectory"), list):
        return [s for s in doc["trajectory"] if isinstance(s, dict)]
    steps: list[dict[str, Any]] = []
    for message in doc.get("history") or []:
        if not isinstance(message, dict):
            continue
        if message.get("role") == "assistant" and message.get("action") is not None:
            steps.append({"thought": message.get("thought"), "action": message.get("action"), "observation": None})
        elif message.get("role") in ("user", "tool") and steps and steps[-1]["observation"] is None:
            steps[-1]["observation"] = message.get("content")
    return steps


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in value)
    return "" if value is None else str(value)


class SweAgentMapper(Mapper):
    executor = SWE_AGENT

    def feed(self, step: dict[str, Any], where: int | str) -> list[dict[str, Any]]:
        ts = self.state["clock"][where] if where < len(self.state["clock"]) else self.state.get("last_ts")
        action = _text(step.get("action")).strip()
        events = self.ensure_started(self.state.get("prompt"), ts)
        if step.get("thought"):
            events.append(self.event("agent_thinking", {"thinking": _text(step["thought"])}, ts, key=(where, "t")))
        if not action:
            return events
        tool = action.split()[0]
        events.append(self.event("tool_call", {"tool_name": tool, "tool_params": {"command": action}},
                                 ts, key=(where, "call")))
        observation = _text(step.get("observation"))
        failure = failure_line(observation)
        events.append(self.event("tool_result", {"tool_name": tool, "result": "error" if failure else "success",
                                                 "result_data": clip(observation)}, ts, key=(where, "result")))
        if failure:
            events.append(self.event("error", {"error_message": clip(failure, 1000), "tool_name": tool},
                                     ts, key=(where, "error")))
        return events

    def end_status(self) -> str:
        status = self.state.get("exit_status")
        if status is None:
            return super().end_status()
        return "success" if str(status).startswith("submitted") else "failed"


class SweAgentImporter(Importer):
    name = "swe-agent"
    executor = SWE_AGENT
    default_path = "."
    pattern = "*.traj"
    append_only = False  # rewritten after every step: progress is counted in steps

    def attempt_id(self, path: Path) -> str:
        return path.stem

    def mapper(self, path: Path, ctx: Context, state: dict[str, Any] | None) -> Mapper:
        return SweAgentMapper(self.attempt_id(path), ctx, state)

    def read(self, path: Path, entry: dict[str, Any], ctx: Context) -> Iterator[dict[str, Any]]:
        if entry.get("ended"):
            return
        try:
            doc = json.loads(path.read_bytes())
        except (ValueError, UnicodeDecodeError):
            ctx.skip("malformed_json")  # a file caught mid-rewrite is read again next time
            return
        if not isinstance(doc, dict):
            ctx.skip("not_an_object")
            return
        mapper = self.mapper(path, ctx, entry.get("mapper"))
        info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
        steps = steps_of(doc)
        _describe(mapper, doc, steps, path.stat().st_mtime)
        done = entry.get("steps", 0)
        for index in range(done, len(steps)):
            yield from mapper.feed(steps[index], index)
        entry["steps"] = len(steps)
        complete = "exit_status" in info or ctx.now - path.stat().st_mtime >= ctx.open_window_s
        if complete:
            mapper.state["exit_status"] = info.get("exit_status")
            mapper.state["last_ts"] = now_iso(path.stat().st_mtime)
            yield from self._stats(mapper, info)
            mapper.state["end_data"] = {"outcome": {"status": info.get("exit_status"),
                                                    "submitted": bool(info.get("submission"))}}
            yield from mapper.finish()
            entry["ended"] = True
        else:
            ctx.stats.open_sessions += 1
        entry["mapper"] = mapper.state

    def _stats(self, mapper: Mapper, info: dict[str, Any]) -> Iterator[dict[str, Any]]:
        stats = info.get("model_stats") if isinstance(info.get("model_stats"), dict) else {}
        sent, received = stats.get("tokens_sent") or 0, stats.get("tokens_received") or 0
        cost = stats.get("instance_cost") or stats.get("total_cost") or 0
        if sent or received or cost:
            data = {"input_tokens": sent, "output_tokens": received, "cost_usd": cost or None,
                    "api_calls": stats.get("api_calls")}
            yield mapper.usage(data, mapper.state.get("last_ts"), key="model_stats")


def _describe(mapper: Mapper, doc: dict[str, Any], steps: list[dict[str, Any]], mtime: float) -> None:
    """Model, prompt and a clock for each step (the file has none of its own)."""
    config = doc.get("replay_config")
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except ValueError:
            config = None
    model = ((config or {}).get("agent") or {}).get("model") if isinstance(config, dict) else None
    if isinstance(model, dict) and model.get("name"):
        mapper.state["model"] = model["name"]
    if "prompt" not in mapper.state:
        users = [m for m in doc.get("history") or [] if isinstance(m, dict) and m.get("role") == "user"]
        mapper.state["prompt"] = clip(_text(users[0].get("content")), 4000) if users else None
    durations = [float(s.get("execution_time") or 1.0) for s in steps]
    t = mtime - sum(durations)
    clock = []
    for duration in durations:
        clock.append(now_iso(t))
        t += duration
    mapper.state["clock"] = clock
