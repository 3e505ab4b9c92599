"""ATIF, Harbor's Agent Trajectory Interchange Format: one `trajectory.json` per session,
read (`agentlog import atif`) and written (`agentlog export atif`).

A trajectory is `{schema_version: "ATIF-v1.x", session_id, agent {name, version,
model_name}, steps[], final_metrics}`; a step is `{step_id, timestamp, source:
user|agent|system, message, reasoning_content, tool_calls[] {tool_call_id, function_name,
arguments}, observation {results[] {source_call_id, content}}, metrics {prompt_tokens,
completion_tokens, cached_tokens, cost_usd}}`.

Tokens, the trap: ATIF's `prompt_tokens` counts every input token, cached ones included
(OpenAI's convention), while agentlog keeps input, cache reads and cache writes apart
(Anthropic's). So prompt_tokens = input + cache_read + cache_creation, with cache_read as
`cached_tokens` and cache_creation in the metrics' `extra`; completion_tokens = output +
reasoning, reasoning in `extra`. What ATIF has no field for (a result that failed, an
error, the outcome) travels in `extra.agentlog`, so a trajectory written here reads back
as the same session: the same tool calls, tokens and cost.

Writers bend the spec: a schema version without its `ATIF-v` prefix, `agent.model`,
tool calls as `{id, name}`, an observation that is one result rather than `{results}`,
results written before their calls. What can be read is read, each bend is counted; a
step that cannot be read is skipped and counted. The trajectory is rewritten as the run
goes on (like a SWE-agent `.traj`): the import remembers how many steps it took.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Iterator

from ..capture.importers.base import Context, Importer, Mapper, clip, safe_feed, source_digest

SCHEMA_VERSION = "ATIF-v1.4"  # what `export atif` writes: the version of every field it uses
_VERSION = re.compile(r"(?:ATIF-)?v?(\d+)\.(\d+)")
_NAMES = ("trajectory.json",)  # Harbor's name
_SUFFIXES = (".atif.json", ".trajectory.json")  # other writers'


def executor_of(agent_name: Any) -> str:
    """`claude-code` -> CLAUDE_CODE: the executor an ATIF agent name stands for."""
    text = re.sub(r"[^A-Za-z0-9]+", "_", str(agent_name or "atif")).strip("_")
    return text.upper() or "ATIF"


def agent_name_of(executor: str) -> str:
    return executor.lower().replace("_", "-")


# --- reading ---------------------------------------------------------------------------


class AtifMapper(Mapper):
    executor = "ATIF"  # replaced by the trajectory's own agent

    def feed(self, step: Any, where: int | str) -> list[dict[str, Any]]:
        if not isinstance(step, dict):
            self.ctx.skip("malformed_step")
            return []
        ts = self.seen_time(step.get("timestamp"))
        source = step.get("source")
        mine = _agentlog(step)
        key = where  # step ids are not always unique; places in an appended list are
        if step.get("model_name"):
            self.state["model"] = step["model_name"]
        if source == "user":
            return self._user(step, ts, key)
        if source not in ("agent", "system"):
            self.ctx.skip(f"unknown_source:{source}")
            return []
        events = self.ensure_started(None, ts)
        if mine.get("event") == "error":
            data = {"error_message": _text(step.get("message")) or "error", **(mine.get("data") or {})}
            return [*events, self.event("error", data, ts, key=(key, "error"))]
        if step.get("reasoning_content"):
            events.append(
                self.event("agent_thinking", {"thinking": _text(step["reasoning_content"])}, ts, key=(key, "thinking"))
            )
        message = _text(step.get("message"))
        if message and not _echoes_result(step):
            stream = "assistant" if source == "agent" else "system"
            events.append(
                self.event("agent_output", {"output": message, "stream_type": stream}, ts, key=(key, "message"))
            )
        for index, call in enumerate(_list(step, "tool_calls")):
            events.extend(self._call(call, mine, ts, (key, "call", index)))
        for index, result in enumerate(self._results(step)):
            events.extend(self._result(result, mine, ts, (key, "result", index)))
        if isinstance(step.get("metrics"), dict):
            events.extend(self._metrics(step["metrics"], step.get("model_name"), ts, (key, "metrics")))
        return events

    def _user(self, step: dict[str, Any], ts: str | None, key: Any) -> list[dict[str, Any]]:
        text = _text(step.get("message"))
        if not self.state.get("started"):
            return self.ensure_started(text, ts)
        return [self.event("followup_sent", {"message": text, "reason": "user"}, ts, key=(key, "user"))]

    def _call(self, call: Any, mine: dict[str, Any], ts: str | None, key: Any) -> list[dict[str, Any]]:
        if not isinstance(call, dict):
            self.ctx.skip("malformed_tool_call")
            return []
        if "function_name" not in call and "name" in call:
            self.ctx.skip("nonstandard:tool_call_keys")  # {id, name}: read, and counted as off-spec
        name = call.get("function_name") or call.get("name") or "unknown"
        call_id = call.get("tool_call_id") or call.get("id")
        if call_id in (mine.get("made_up_ids") or ()):
            call_id = None
        self.state.setdefault("tools", {})[str(call_id)] = name
        return [
            self.event(
                "tool_call", {"tool_name": name, "tool_params": call.get("arguments"), "call_id": call_id}, ts, key=key
            )
        ]

    def _results(self, step: dict[str, Any]) -> list[Any]:
        observation = step.get("observation")
        if observation is None:
            return []
        if isinstance(observation, dict) and isinstance(observation.get("results"), list):
            return observation["results"]
        if isinstance(observation, dict) and "content" in observation:
            self.ctx.skip("nonstandard:observation")  # one result, not {results: [...]}
            return [{**observation, "source_call_id": observation.get("source_call_id") or _called(step)}]
        self.ctx.skip("malformed_observation")
        return []

    def _result(self, result: Any, mine: dict[str, Any], ts: str | None, key: Any) -> list[dict[str, Any]]:
        if not isinstance(result, dict):
            self.ctx.skip("malformed_observation_result")
            return []
        call_id = result.get("source_call_id")
        name = self.state.setdefault("tools", {}).get(str(call_id)) if call_id else None
        content = result.get("content")
        failed = (mine.get("failed") or {}).get(str(call_id if call_id else key[-1])) if mine else _failed(result)
        data = {
            "tool_name": name,
            "call_id": call_id,
            "result": "error" if failed else "success",
            "result_data": clip(content if isinstance(content, str) else _text(content)),
        }
        events = [self.event("tool_result", data, ts, key=key)]
        if failed and not mine:  # an exported trajectory keeps its errors as steps of their own
            message = failed if isinstance(failed, str) else (_text(content).strip() or f"{name or 'tool'} failed")
            events.append(
                self.event(
                    "error",
                    {"error_message": clip(message, 1000), "tool_name": name, "call_id": call_id},
                    ts,
                    key=(key, "error"),
                )
            )
        return events

    def _metrics(self, metrics: dict[str, Any], model: Any, ts: str | None, key: Any) -> list[dict[str, Any]]:
        usage = usage_of(metrics, self.ctx)
        if not usage:
            return []
        self.state["step_metrics"] = True
        return [self.usage({**usage, "model": model or self.state.get("model")}, ts, key=key)]

    def totals(self, final: Any) -> list[dict[str, Any]]:
        """`final_metrics`, when no step had metrics of its own (else they are sums of those)."""
        if self.state.get("step_metrics") or self.state.get("totals_counted") or not isinstance(final, dict):
            return []
        self.state["totals_counted"] = True
        steps = {k.removeprefix("total_"): v for k, v in final.items() if k.startswith("total_")}
        usage = usage_of(steps, self.ctx)
        if not usage:
            return []
        return [self.usage({**usage, "model": self.state.get("model")}, self.state.get("last_ts"), key="final_metrics")]

    def end_status(self) -> str:
        return self.state.get("completion_status") or super().end_status()


def usage_of(metrics: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """agentlog's disjoint token kinds from ATIF metrics (prompt_tokens includes cached)."""
    extra = metrics.get("extra") if isinstance(metrics.get("extra"), dict) else {}
    numbers = {}
    for name, value in (*metrics.items(), *extra.items()):
        if name in _METRIC_FIELDS and value is not None:
            if _is_count(value) or (name == "cost_usd" and _is_number(value)):
                numbers[name] = value
            else:
                ctx.skip(f"malformed_field:{name}")
    prompt, cached = numbers.get("prompt_tokens", 0), numbers.get("cached_tokens", 0)
    written, reasoning = numbers.get("cache_creation_tokens", 0), numbers.get("reasoning_tokens", 0)
    if cached + written > prompt:  # a writer that left the cache out of prompt_tokens, as Anthropic does
        ctx.skip("nonstandard:prompt_tokens_without_cache")
        prompt = cached + written + prompt
    usage = {
        "input_tokens": prompt - cached - written,
        "cache_read_tokens": cached or None,
        "cache_creation_tokens": written or None,
        "output_tokens": max(0, numbers.get("completion_tokens", 0) - reasoning),
        "reasoning_tokens": reasoning or None,
        "cost_usd": numbers.get("cost_usd"),
    }
    if not any(usage.values()):
        return {}
    return usage


_METRIC_FIELDS = frozenset(
    {"prompt_tokens", "completion_tokens", "cached_tokens", "cost_usd", "cache_creation_tokens", "reasoning_tokens"}
)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < float("inf")


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _agentlog(step: dict[str, Any]) -> dict[str, Any]:
    extra = step.get("extra")
    mine = extra.get("agentlog") if isinstance(extra, dict) else None
    return mine if isinstance(mine, dict) else {}


def _list(step: dict[str, Any], name: str) -> list[Any]:
    value = step.get(name)
    return value if isinstance(value, list) else []


def _called(step: dict[str, Any]) -> str | None:
    """The call a nonstandard result answers, when its message names it ("Tool result for <id>")."""
    match = re.match(r"Tool result for (\S+)$", _text(step.get("message")))
    return match.group(1) if match else None


def _echoes_result(step: dict[str, Any]) -> bool:
    """A system step whose message only says it holds a result: no output of its own."""
    return (
        step.get("source") == "system"
        and bool(step.get("observation"))
        and (_called(step) is not None or _text(step.get("message")) == "Tool execution results")
    )


def _failed(result: dict[str, Any]) -> str | bool:
    """A result that says it failed (no ATIF field does: writers' own flags), with its message."""
    for holder in (result, result.get("content"), result.get("result")):
        if isinstance(holder, dict) and (holder.get("success") is False or holder.get("passed") is False):
            return str(holder.get("error") or holder.get("output") or "") or True
    return False


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content parts
        return "\n".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in value)
    return json.dumps(value, sort_keys=True, default=str)


class AtifImporter(Importer):
    name = "atif"
    executor = "ATIF"
    default_path = "."
    pattern = "*.json"
    append_only = False  # rewritten as the run goes on: progress is counted in steps
    follow: ClassVar[bool] = True
    hooks: ClassVar[bool] = False
    tokens: ClassVar[str] = "exact"
    cost: ClassVar[str] = "transcript"

    def files(self, root: Path, **options: Any) -> list[Path]:
        if root.is_file():
            return [root]
        return [p for p in super().files(root, **options) if is_trajectory_name(p.name)]

    def attempt_id(self, path: Path) -> str:
        """The trial's name and a hash of the path, never the bare session id: the session
        exported from this log, imported back into it, stays an attempt of its own."""
        real = Path(path).resolve()
        return f"{self.readable_name(real)}-{source_digest(real)}"

    def readable_name(self, path: Path) -> str:
        if path.name in _NAMES:  # <trial>/agent/trajectory.json, <attempt>/trajectory.json
            folder = path.parent.parent if path.parent.name == "agent" else path.parent
            return folder.name or "trajectory"
        return path.name.removesuffix(".json").removesuffix(".atif").removesuffix(".trajectory")

    def mapper(self, path: Path, ctx: Context, state: dict[str, Any] | None) -> AtifMapper:
        return AtifMapper(self.attempt_id(path), ctx, state)

    def read(self, path: Path, entry: dict[str, Any], ctx: Context) -> Iterator[dict[str, Any]]:
        stat = path.stat()
        version = [stat.st_size, stat.st_mtime_ns]
        if entry.get("ended") and entry.get("version") == version:
            return
        doc = self._load(path, stat.st_size, ctx)
        if doc is None:
            return
        mapper = self.mapper(path, ctx, json.loads(json.dumps(entry["mapper"])) if entry.get("mapper") else None)
        steps = doc["steps"] if isinstance(doc.get("steps"), list) else []
        done = entry.get("steps", 0)
        if entry.get("ended") and len(steps) <= done:
            entry["version"] = version
            return
        if entry.get("ended"):
            mapper.reopen()
        _describe(mapper, doc, ctx, first=not entry.get("mapper"))
        events = [e for index in range(done, len(steps)) for e in safe_feed(mapper, steps[index], index)]
        complete = isinstance(doc.get("final_metrics"), dict) or ctx.now - stat.st_mtime >= ctx.open_window_s
        if not mapper.state.get("last_ts"):
            if complete:
                ctx.skip_file("no_timestamp")
                entry.update(ended=True, version=version, steps=len(steps), mapper=None)
            return
        yield from _stamped(events, mapper.state["first_ts"])
        if complete:
            yield from mapper.totals(doc.get("final_metrics"))
            yield from mapper.finish()
        else:
            ctx.stats.open_sessions += 1
        entry.update(steps=len(steps), ended=complete, version=version, mapper=mapper.state)

    def _load(self, path: Path, size: int, ctx: Context) -> dict[str, Any] | None:
        try:
            doc = json.loads(path.read_bytes().removeprefix(b"\xef\xbb\xbf"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            ctx.skip_file("not_json" if size else "empty_file")  # or caught mid-rewrite: read again
            return None
        if not isinstance(doc, dict) or not isinstance(doc.get("steps"), list):
            ctx.skip_file("not_a_trajectory")
            return None
        match = _VERSION.fullmatch(str(doc.get("schema_version", "")))
        if match is None or match.group(1) != "1":
            ctx.skip_file("unsupported_schema_version")
            return None
        return doc


def is_trajectory_name(name: str) -> bool:
    return name in _NAMES or name.endswith(_SUFFIXES)


def _describe(mapper: AtifMapper, doc: dict[str, Any], ctx: Context, first: bool) -> None:
    """Executor, model, session id and outcome from the trajectory's header."""
    agent = doc.get("agent") if isinstance(doc.get("agent"), dict) else {}
    extra = doc.get("extra") if isinstance(doc.get("extra"), dict) else {}
    mine = extra.get("agentlog") if isinstance(extra.get("agentlog"), dict) else {}
    mapper.executor = mine.get("executor") or executor_of(agent.get("name"))
    model = agent.get("model_name") or agent.get("model")
    if first and "model_name" not in agent and "model" in agent:
        ctx.skip("nonstandard:agent.model")
    if first and not str(doc.get("schema_version", "")).startswith("ATIF-v"):
        ctx.skip("nonstandard:schema_version")
    if model and not mapper.state.get("model"):
        mapper.state["model"] = model
    for name in ("session_id", "branch"):
        value = mine.get(name) or (doc.get("session_id") if name == "session_id" else None)
        if isinstance(value, str) and value:
            mapper.state[name] = value
    status = mine.get("completion_status")
    if status is None and isinstance(extra.get("success"), bool):
        status = "success" if extra["success"] else "failed"
    if status:
        mapper.state["completion_status"] = status
    if isinstance(mine.get("outcome"), dict):
        mapper.state["end_data"] = {"outcome": mine["outcome"]}
    if isinstance(mine.get("start"), dict):
        mapper.state["start_data"] = mine["start"]


def _stamped(events: list[dict[str, Any]], first_ts: str) -> list[dict[str, Any]]:
    """Steps before the first that has a time share that time."""
    for event in events:
        if "timestamp" not in event:
            event.update(timestamp=first_ts, timestamp_quality="approximate")
    return events


# --- writing ---------------------------------------------------------------------------


def export(log_dir: Path, out_dir: Path, keep: Callable[[dict[str, Any]], bool]) -> list[Path]:
    """`<out_dir>/<attempt>/trajectory.json` for every attempt one of whose events `keep`s."""
    from ..store import layout
    from ..store.atomic import replace_file
    from ..store.reader import read_kind, read_session

    attempts = dict.fromkeys(e["attempt_id"] for e in read_kind(log_dir, "stream") if e.get("attempt_id") and keep(e))
    written = []
    for attempt in attempts:
        doc = trajectory(read_session(log_dir, attempt))
        if doc is None:
            continue
        path = out_dir / Path(layout.session_file_name(attempt)).stem / "trajectory.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, json.dumps(doc, indent=2, ensure_ascii=False).encode() + b"\n")
        written.append(path)
    return written


def trajectory(events: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """One attempt's events as an ATIF trajectory (None when it has none)."""
    writer = _Writer()
    for event in events:
        writer.add(event)
    return writer.document()


class _Writer:
    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []
        self.calls: dict[str, dict[str, Any]] = {}  # call id -> the step that made the call
        self.unmetered: dict[str, Any] | None = None  # the last agent step no usage was put on yet
        self.head: dict[str, Any] = {}
        self.mine: dict[str, Any] = {}

    def add(self, event: dict[str, Any]) -> None:
        kind, data = event.get("event_type"), event.get("data") or {}
        if not self.head:
            self.head = event
        for name in ("session_id", "branch"):
            if event.get(name) and name not in self.mine:
                self.mine[name] = event[name]
        handler = getattr(self, f"_{kind}", None)
        if handler is not None:
            handler(event, data)

    def step(self, event: dict[str, Any], source: str, message: str = "", **fields: Any) -> dict[str, Any]:
        step = {
            "step_id": len(self.steps) + 1,
            "timestamp": event.get("timestamp"),
            "source": source,
            "message": message,
            **{k: v for k, v in fields.items() if v is not None},
        }
        self.steps.append(step)
        if source == "agent":
            self.unmetered = step
        return step

    def _session_start(self, event: dict[str, Any], data: dict[str, Any]) -> None:
        start = {k: v for k, v in data.items() if k not in ("prompt", "prompt_type")}
        if start and "start" not in self.mine:
            self.mine["start"] = start
        if data.get("prompt"):
            self.step(event, "user", data["prompt"])

    def _followup_sent(self, event: dict[str, Any], data: dict[str, Any]) -> None:
        self.step(event, "user", _text(data.get("message")))

    def _agent_output(self, event: dict[str, Any], data: dict[str, Any]) -> None:
        self.step(event, "system" if data.get("stream_type") == "system" else "agent", _text(data.get("output")))

    def _agent_thinking(self, event: dict[str, Any], data: dict[str, Any]) -> None:
        self.step(event, "agent", reasoning_content=_text(data.get("thinking")))

    def _tool_call(self, event: dict[str, Any], data: dict[str, Any]) -> None:
        last = self.steps[-1] if self.steps else None
        if (
            last is None
            or last["source"] != "agent"
            or "observation" in last
            or last.get("metrics")
            or last.get("message")
            or last.get("reasoning_content")
        ):
            last = self.step(event, "agent")
        call_id = data.get("call_id")
        if not call_id:  # ATIF requires one: made up, and marked so that it reads back as none
            call_id = f"call_{len(self.steps)}_{len(last.get('tool_calls', []))}"
            last.setdefault("extra", {}).setdefault("agentlog", {}).setdefault("made_up_ids", []).append(call_id)
        last.setdefault("tool_calls", []).append(
            {"tool_call_id": call_id, "function_name": data.get("tool_name"), "arguments": data.get("tool_params")}
        )
        self.calls[call_id] = last

    def _tool_result(self, event: dict[str, Any], data: dict[str, Any]) -> None:
        call_id = data.get("call_id")
        step = self.calls.get(call_id) if call_id else None
        if step is None:  # a result of no known call: a step of its own
            step = self.step(event, "system")
        results = step.setdefault("observation", {"results": []})["results"]
        content = data.get("result_data")
        results.append({"source_call_id": call_id, "content": content if isinstance(content, str) else _text(content)})
        failed = step.setdefault("extra", {}).setdefault("agentlog", {}).setdefault("failed", {})
        failed[str(call_id if call_id else len(results) - 1)] = data.get("result") == "error"

    def _error(self, event: dict[str, Any], data: dict[str, Any]) -> None:
        rest = {k: v for k, v in data.items() if k != "error_message"}
        self.step(
            event, "system", _text(data.get("error_message")), extra={"agentlog": {"event": "error", "data": rest}}
        )

    def _usage(self, event: dict[str, Any], data: dict[str, Any]) -> None:
        step = self.unmetered
        if step is None or "metrics" in step:
            step = self.step(event, "agent")
        self.unmetered = None
        tokens = {
            k: int(data.get(k) or 0)
            for k in ("input_tokens", "cache_read_tokens", "cache_creation_tokens", "output_tokens", "reasoning_tokens")
        }
        metrics: dict[str, Any] = {
            "prompt_tokens": tokens["input_tokens"] + tokens["cache_read_tokens"] + tokens["cache_creation_tokens"],
            "completion_tokens": tokens["output_tokens"] + tokens["reasoning_tokens"],
            "cached_tokens": tokens["cache_read_tokens"],
        }
        if data.get("cost_usd") is not None:
            metrics["cost_usd"] = data["cost_usd"]
        extra = {k: tokens[k] for k in ("cache_creation_tokens", "reasoning_tokens") if tokens[k]}
        if extra:
            metrics["extra"] = extra
        step["metrics"] = metrics
        model = data.get("model") or event.get("model")
        if model:
            step["model_name"] = model

    def _session_end(self, event: dict[str, Any], data: dict[str, Any]) -> None:
        if data.get("completion_status"):
            self.mine["completion_status"] = data["completion_status"]
        if isinstance(data.get("outcome"), dict):
            self.mine["outcome"] = data["outcome"]

    def document(self) -> dict[str, Any] | None:
        if not self.head:
            return None
        head = self.head
        executor = str(head.get("executor") or "ATIF")
        self.mine.update(
            attempt_id=head.get("attempt_id"),
            executor=executor,
            task_id=head.get("task_id"),
            task_title=head.get("task_title"),
        )
        metered = [s["metrics"] for s in self.steps if "metrics" in s]
        costs = [m["cost_usd"] for m in metered if "cost_usd" in m]
        final = {
            "total_prompt_tokens": sum(m["prompt_tokens"] for m in metered),
            "total_completion_tokens": sum(m["completion_tokens"] for m in metered),
            "total_cached_tokens": sum(m["cached_tokens"] for m in metered),
            "total_cost_usd": sum(costs) if costs else None,
            "total_steps": len(self.steps),
        }
        model = next((s["model_name"] for s in self.steps if s.get("model_name")), None) or head.get("model")
        agent = {"name": agent_name_of(executor), "version": "unknown", "model_name": model}
        return {
            "schema_version": SCHEMA_VERSION,
            "session_id": self.mine.get("session_id") or head.get("attempt_id"),
            "agent": {k: v for k, v in agent.items() if v is not None},
            "steps": self.steps,
            "final_metrics": {k: v for k, v in final.items() if v is not None},
            "extra": {"agentlog": {k: v for k, v in self.mine.items() if v is not None}},
        }
