"""mini-swe-agent 1.x trajectories (`*.traj.json`, `trajectory_format: mini-swe-agent-1`).

One JSON document per attempt: `messages` = system, user (the task), then assistant
(THOUGHT + one bash block) and user (the command's output) in turns; `info` holds the
exit status, the submitted patch and the run's totals, written at the end.

Each assistant message is one model call: agent_thinking (its text), tool_call (the bash
command) and usage (tokens and cost of that call, from `extra.response.usage`). The
output after it becomes tool_result, and an error when the command failed (non-zero
`<returncode>`) or the agent broke the format (the harness asks again for one action).
Times are the model responses' own `created` seconds; an output is placed at the time of
the call it answers and says so (`timestamp_quality` "approximate"). mini-swe-agent
writes the file again as it goes: the import remembers how many messages it took and
adds only new ones; the attempt ends once `info.exit_status` is written (or the file is
left alone).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, ClassVar, Iterator

from ..events import now_iso
from ..capture.importers.base import Context, Importer, Mapper, changed_document, clip, document_version, safe_feed
from .swe_agent import failure_line

MINI_SWE_AGENT = "MINI_SWE_AGENT"
_RETURNCODE = re.compile(r"^\s*<returncode>(-?\d+)</returncode>")
_BASH = re.compile(r"```bash\s*\n(.*?)\n?```", re.S)


def _text(value: Any) -> str:
    if isinstance(value, list):  # content parts
        return "\n".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in value)
    return "" if value is None else str(value)


def _response(message: dict[str, Any]) -> dict[str, Any]:
    extra = message.get("extra")
    response = extra.get("response") if isinstance(extra, dict) else None
    return response if isinstance(response, dict) else {}


def _count(value: Any) -> int | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
    return int(value) if ok else None


def _cost(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
    return float(value) if ok else None


class MiniSweAgentMapper(Mapper):
    executor = MINI_SWE_AGENT

    def feed(self, message: dict[str, Any], where: int | str) -> list[dict[str, Any]]:
        role = message.get("role")
        if role == "assistant":
            return self._call(message, where)
        if role == "user":
            if not self.state.get("prompt_seen"):
                self.state["prompt_seen"] = True
                self.state["prompt"] = clip(_text(message.get("content")), 4000)
                return []
            return self._output(_text(message.get("content")), where)
        return []  # the system prompt says nothing about this run

    def _call(self, message: dict[str, Any], where: int | str) -> list[dict[str, Any]]:
        response = _response(message)
        created = response.get("created")
        ts = now_iso(created) if _count(created) else None
        self.time_quality = None if ts else "approximate"
        if isinstance(response.get("model"), str) and response["model"]:
            self.state["model"] = response["model"]
        events = self.ensure_started(self.state.get("prompt"), ts)
        text = _text(message.get("content"))
        if text.strip():
            events.append(self.event("agent_thinking", {"thinking": text}, ts, key=(where, "t")))
        usage = response.get("usage") if isinstance(response.get("usage"), dict) else {}
        if usage:
            self.state["per_call_usage"] = True
            details = usage.get("prompt_tokens_details") if isinstance(usage.get("prompt_tokens_details"), dict) else {}
            events.append(
                self.usage(
                    {
                        "input_tokens": _count(usage.get("prompt_tokens")),
                        "output_tokens": _count(usage.get("completion_tokens")),
                        "cache_read_tokens": _count(details.get("cached_tokens")) or None,
                        "cost_usd": _cost(usage.get("cost")),
                        "model": self.state.get("model"),
                    },
                    ts,
                    key=(where, "usage"),
                )
            )
        commands = _BASH.findall(text)
        self.state["pending"] = None
        if len(commands) == 1:  # the harness runs exactly one action, else asks again
            command = commands[0].strip()
            self.state["pending"] = command
            events.append(
                self.event(
                    "tool_call", {"tool_name": "bash", "tool_params": {"command": command}}, ts, key=(where, "call")
                )
            )
        return events

    def _output(self, content: str, where: int | str) -> list[dict[str, Any]]:
        self.time_quality = "approximate"  # placed at the call it answers
        ts = self.state.get("last_ts")
        command = self.state.pop("pending", None)
        if command is None:  # no action was run: the harness says why (format error, limits)
            line = content.strip().splitlines()[0] if content.strip() else "empty reply"
            return [self.event("error", {"error_message": clip(line, 1000)}, ts, key=(where, "error"))]
        match = _RETURNCODE.match(content)
        code = int(match.group(1)) if match else 0  # the submission's diff comes without a code
        events = [
            self.event(
                "tool_result",
                {"tool_name": "bash", "result": "error" if code else "success", "result_data": clip(content)},
                ts,
                key=(where, "result"),
            )
        ]
        if code:
            line = failure_line(content) or f"exit code {code}"
            events.append(
                self.event("error", {"error_message": clip(line, 1000), "tool_name": "bash"}, ts, key=(where, "error"))
            )
        return events

    def end_status(self) -> str:
        status = self.state.get("exit_status")
        if status is None:
            return super().end_status()
        return "success" if str(status).lower().startswith("submitted") else "failed"


class MiniSweAgentImporter(Importer):
    name = "mini-swe-agent"
    executor = MINI_SWE_AGENT
    default_path = "."
    pattern = "*.traj.json"
    append_only = False  # rewritten as it runs: progress is counted in messages
    follow: ClassVar[bool] = False  # a finished run's file; no live stream of its own
    hooks: ClassVar[bool] = False
    tokens: ClassVar[str] = "exact"  # per model call, from the provider's response
    cost: ClassVar[str] = "transcript"

    def readable_name(self, path: Path) -> str:
        return path.name.removesuffix(".json").removesuffix(".traj")

    def mapper(self, path: Path, ctx: Context, state: dict[str, Any] | None) -> Mapper:
        return MiniSweAgentMapper(self.attempt_id(path), ctx, state)

    def read(self, path: Path, entry: dict[str, Any], ctx: Context) -> Iterator[dict[str, Any]]:
        found = changed_document(path, entry, ctx)
        if found is None:
            return
        doc, stat = found
        version = document_version(stat)
        messages = doc.get("messages") if isinstance(doc, dict) else None
        if not isinstance(messages, list):
            ctx.skip_file("not_a_trajectory")
            return
        mapper = self.mapper(path, ctx, json.loads(json.dumps(entry["mapper"])) if entry.get("mapper") else None)
        info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
        done = entry.get("messages", 0)
        if entry.get("ended") and len(messages) <= done:
            entry["version"] = version
            return
        if entry.get("ended"):
            mapper.reopen()
        events = []
        for index in range(done, len(messages)):
            if isinstance(messages[index], dict):
                events.extend(safe_feed(mapper, messages[index], index))
            else:
                ctx.skip("not_an_object")
        if not mapper.state.get("last_ts"):  # no model call with a time: nothing to place
            ctx.skip_file("no_timestamp")
            entry.update(messages=len(messages), ended=True, version=version, mapper=None)
            return
        for event in events:  # before the first call with a time: placed at it
            if "timestamp" not in event:
                event.update(timestamp=mapper.state["first_ts"], timestamp_quality="approximate")
        yield from events
        complete = "exit_status" in info or ctx.now - stat.st_mtime >= ctx.open_window_s
        if complete:
            mapper.state["exit_status"] = info.get("exit_status")
            yield from self._totals(mapper, info)
            mapper.state["end_data"] = {
                "outcome": {
                    "status": info.get("exit_status")
                    if isinstance(info.get("exit_status"), (str, type(None)))
                    else str(info.get("exit_status")),
                    "submitted": bool(info.get("submission")),
                }
            }
            yield from mapper.finish()
        else:
            ctx.stats.open_sessions += 1
        entry.update(messages=len(messages), ended=complete, version=version, mapper=mapper.state)

    def _totals(self, mapper: Mapper, info: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """A run whose calls carried no usage still has `model_stats.instance_cost`."""
        stats = info.get("model_stats") if isinstance(info.get("model_stats"), dict) else {}
        cost = _cost(stats.get("instance_cost"))
        if mapper.state.get("per_call_usage") or mapper.state.get("totals_counted") or not cost:
            return
        mapper.state["totals_counted"] = True
        mapper.time_quality = "approximate"
        yield mapper.usage(
            {"cost_usd": cost, "api_calls": _count(stats.get("api_calls"))},
            mapper.state.get("last_ts"),
            key="model_stats",
        )
