"""SWE-agent trajectories (`*.traj`): one JSON document per attempt.

Each step's thought / action / observation become agent_thinking / tool_call /
tool_result; an observation that shows a failure (traceback, error banner, non-zero
exit) also becomes an error. `info.model_stats` gives tokens and cost, `info.exit_status`
the outcome. Older files have only `history` (assistant actions, then observations).

The file carries no clock, so events are placed on the file's modification time minus
the steps' `execution_time`, and say so: `timestamp_quality` is "approximate" when every
later step has its execution_time, "synthetic" when some do not (those count one second
each, only to keep the order). SWE-agent rewrites the file after every step: the import
remembers how many steps it took and adds only new ones; the attempt ends once
`info.exit_status` is written (or the file is left alone), and starts again if more steps
come later. Numbers that are not numbers (`"tokens_sent": "x"`) are left out and counted.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Iterator

from ..capture.importers.base import changed_document, document_version
from ..events import now_iso
from .base import SWE_AGENT, Context, Importer, Mapper, clip, safe_feed

_FAILURE = re.compile(
    r"Traceback \(most recent call last\)|^\w*Error: |command not found|No such file or directory"
    r"|Your proposed edit has introduced new syntax error|^ERRORS?:|exit code [1-9]|exited with code [1-9]"
    r"|^Usage: |not recognized as|Permission denied",
    re.M,
)


def failure_line(observation: str) -> str | None:
    """The line that shows a failed command, or None when the observation looks fine."""
    match = _FAILURE.search(observation or "")
    if match is None:
        return None
    start = observation.rfind("\n", 0, match.start()) + 1
    end = observation.find("\n", match.end())
    line = observation[start : end if end >= 0 else None].strip()
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
        clock = self.state["clock"]
        ts, self.time_quality = clock[where] if where < len(clock) else (self.state.get("last_ts"), "synthetic")
        action = _text(step.get("action")).strip()
        events = self.ensure_started(self.state.get("prompt"), ts)
        if step.get("thought"):
            events.append(self.event("agent_thinking", {"thinking": _text(step["thought"])}, ts, key=(where, "t")))
        if not action:
            return events
        tool = action.split()[0]
        events.append(
            self.event("tool_call", {"tool_name": tool, "tool_params": {"command": action}}, ts, key=(where, "call"))
        )
        observation = _text(step.get("observation"))
        failure = failure_line(observation)
        events.append(
            self.event(
                "tool_result",
                {"tool_name": tool, "result": "error" if failure else "success", "result_data": clip(observation)},
                ts,
                key=(where, "result"),
            )
        )
        if failure:
            events.append(
                self.event("error", {"error_message": clip(failure, 1000), "tool_name": tool}, ts, key=(where, "error"))
            )
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
    tokens = "partial"  # the run's totals sent/received, no cache kinds
    cost = "transcript"  # info.model_stats.instance_cost
    pattern = "*.traj"
    append_only = False  # rewritten after every step: progress is counted in steps

    def mapper(self, path: Path, ctx: Context, state: dict[str, Any] | None) -> Mapper:
        return SweAgentMapper(self.attempt_id(path), ctx, state)

    def read(self, path: Path, entry: dict[str, Any], ctx: Context) -> Iterator[dict[str, Any]]:
        found = changed_document(path, entry, ctx)
        if found is None:
            return
        doc, stat = found
        version = document_version(stat)
        if not isinstance(doc, dict):
            ctx.skip_file("not_a_trajectory")
            return
        mapper = self.mapper(path, ctx, json.loads(json.dumps(entry["mapper"])) if entry.get("mapper") else None)
        info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
        steps = steps_of(doc)
        done = entry.get("steps", 0)
        if entry.get("ended") and len(steps) <= done:
            entry["version"] = version  # rewritten with nothing new (the info, say)
            return
        if entry.get("ended"):
            mapper.reopen()
        _describe(mapper, doc, steps, stat.st_mtime)
        for index in range(done, len(steps)):
            yield from safe_feed(mapper, steps[index], index)
        complete = "exit_status" in info or ctx.now - stat.st_mtime >= ctx.open_window_s
        if complete:
            mapper.time_quality = None  # the end is the file's own last write
            mapper.state["exit_status"] = info.get("exit_status")
            mapper.state["last_ts"] = now_iso(stat.st_mtime)
            mapper.state["last_ts_quality"] = None
            yield from mapper.ensure_started(mapper.state.get("prompt"), mapper.state["last_ts"])  # a run of no steps
            yield from self._stats(mapper, info)
            mapper.state["end_data"] = {
                "outcome": {"status": _status(info.get("exit_status")), "submitted": bool(info.get("submission"))}
            }
            yield from mapper.finish()
        else:
            ctx.stats.open_sessions += 1
        entry.update(steps=len(steps), ended=complete, version=version, mapper=mapper.state)

    def _stats(self, mapper: Mapper, info: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Usage from `info.model_stats`: totals of the whole run, so what an earlier end
        already counted is taken off."""
        stats = info.get("model_stats") if isinstance(info.get("model_stats"), dict) else {}
        totals = {}
        for field, names in _STATS.items():
            values = [stats[n] for n in names if n in stats]
            number = next((v for v in values if _is_count(v)), None)
            if number is None and values and values[0] is not None:
                mapper.ctx.skip(f"malformed_field:{names[0]}")
            totals[field] = number or 0
        counted = mapper.state.get("counted_stats") or {}
        delta = {k: v - counted.get(k, 0) for k, v in totals.items()}
        mapper.state["counted_stats"] = totals
        if any(v > 0 for v in delta.values()):
            calls = stats.get("api_calls")
            data = {
                "input_tokens": int(max(0, delta["sent"])),
                "output_tokens": int(max(0, delta["received"])),
                "cost_usd": max(0.0, delta["cost"]) or None,
                "api_calls": calls if _is_count(calls) and not counted else None,
            }
            yield mapper.usage(data, mapper.state.get("last_ts"), key=mapper._episode_key("model_stats"))


_LONGEST_STEP_S = 86400.0  # a longer execution_time is not one
_STATS = {"sent": ("tokens_sent",), "received": ("tokens_received",), "cost": ("instance_cost", "total_cost")}


def _is_count(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _status(value: Any) -> Any:
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def _describe(mapper: Mapper, doc: dict[str, Any], steps: list[dict[str, Any]], mtime: float) -> None:
    """Model, prompt and a clock for each step (the file has none of its own)."""
    config = doc.get("replay_config")
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except ValueError:
            config = None
    agent = config.get("agent") if isinstance(config, dict) else None
    model = agent.get("model") if isinstance(agent, dict) else None
    if isinstance(model, dict) and isinstance(model.get("name"), str):
        mapper.state["model"] = model["name"]
    if "prompt" not in mapper.state:
        users = (
            [m for m in doc.get("history") or [] if isinstance(m, dict) and m.get("role") == "user"]
            if isinstance(doc.get("history"), list)
            else []
        )
        mapper.state["prompt"] = clip(_text(users[0].get("content")), 4000) if users else None
    durations = [s.get("execution_time") for s in steps]
    known = [_is_count(d) and d <= _LONGEST_STEP_S for d in durations]
    seconds = [d if ok else 1.0 for d, ok in zip(durations, known)]
    # a step's place depends on every step after it: derived if all of those are timed, else made up
    timed_after, quality = True, []
    for ok in reversed(known):
        timed_after = timed_after and ok
        quality.append("approximate" if timed_after else "synthetic")
    t = mtime - sum(seconds)
    clock = []
    for duration, kind in zip(seconds, reversed(quality)):
        clock.append((now_iso(t), kind))
        t += duration
    mapper.state["clock"] = clock
