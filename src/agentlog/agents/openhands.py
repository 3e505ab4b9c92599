"""OpenHands conversations: a folder per conversation, one JSON file per event.

- V0 (the OpenHands app up to 0.x): `~/.openhands/sessions/<id>/events/<n>.json` and
  `metadata.json` (title, model, accumulated cost and tokens). Events are actions and
  observations: `{id, timestamp, source, message, action|observation, args|extras,
  cause, tool_call_metadata {function_name, tool_call_id, model_response.usage}, llm_metrics}`.
  An action's `model_response` is the model call that chose it (repeated on its
  observation: counted once by response id); its cost is the step of `llm_metrics.
  accumulated_cost` since the previous one.
- V1 (software-agent-sdk): `<persistence_dir>/<id>/events/event-<nnnnn>-<uuid>.json` with
  `kind` (MessageEvent, ActionEvent, ObservationEvent, AgentErrorEvent, ...) and
  `base_state.json`, whose `stats.usage_to_metrics` holds every model call's tokens
  (`token_usages[]`) and cost (`costs[]`).

Tokens: `prompt_tokens` (LiteLLM's) includes the cache reads, which agentlog keeps apart:
input = prompt_tokens - cache reads. The conversation is one attempt named by its id;
event files are only ever added, so an import goes on from the last one it read.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, ClassVar, Iterator

from ..capture.importers.base import Context, Importer, Mapper, clip, safe_feed

_V0_EVENT = re.compile(r"^(\d+)\.json$")
_V1_EVENT = re.compile(r"^event-(\d+)-[\w-]+\.json$")
_QUIET_V0 = frozenset({"recall", "system", "change_agent_state", "null"})
_QUIET_V1 = frozenset(
    {
        "SystemPromptEvent",
        "SystemPromptUpdateEvent",
        "PauseEvent",
        "Condensation",
        "CondensationRequest",
        "CondensationSummaryEvent",
        "ConversationStateUpdateEvent",
    }
)


def _loads(path: Path) -> Any:
    return json.loads(path.read_bytes().removeprefix(b"\xef\xbb\xbf"))


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(p.get("text", "") for p in value if isinstance(p, dict) and isinstance(p.get("text"), str))
    if isinstance(value, dict):
        return _text(value.get("content", value.get("text")))
    return ""


class OpenHandsMapper(Mapper):
    executor = "OPENHANDS"

    def feed(self, event: Any, where: int | str) -> list[dict[str, Any]]:
        if not isinstance(event, dict):
            self.ctx.skip("malformed_event")
            return []
        self.seen_time(event.get("timestamp"))
        if "kind" in event:
            return self._v1(event, where)
        return self._v0(event, where)

    # -- V0 --------------------------------------------------------------------------------

    def _v0(self, event: dict[str, Any], where: int | str) -> list[dict[str, Any]]:
        ts, action, observation = event.get("timestamp"), event.get("action"), event.get("observation")
        args = event.get("args") if isinstance(event.get("args"), dict) else {}
        extras = event.get("extras") if isinstance(event.get("extras"), dict) else {}
        meta = event.get("tool_call_metadata") if isinstance(event.get("tool_call_metadata"), dict) else {}
        events: list[dict[str, Any]] = []
        if action == "message" and event.get("source") == "user":
            return self._prompt(str(args.get("content") or event.get("message") or ""), ts, where)
        if action is not None and str(action) not in _QUIET_V0:
            events.extend(self.ensure_started(None, ts))
            if args.get("thought"):
                events.append(
                    self.event("agent_thinking", {"thinking": str(args["thought"])}, ts, key=(where, "thought"))
                )
            if action in ("message", "finish"):
                text = args.get("final_thought") or args.get("content") or event.get("message")
                events.append(
                    self.event(
                        "agent_output",
                        {"output": str(text or ""), "stream_type": "assistant"},
                        ts,
                        key=(where, "output"),
                    )
                )
                if action == "finish":
                    self.state["finished"] = True
            elif action == "think":
                pass
            else:
                name = meta.get("function_name") or str(action)
                call_id = meta.get("tool_call_id")
                self.state.setdefault("calls", {})[str(event.get("id"))] = [name, call_id]
                params = {k: v for k, v in args.items() if k not in ("thought", "security_risk", "confirmation_state")}
                events.append(
                    self.event(
                        "tool_call",
                        {"tool_name": name, "tool_params": params, "call_id": call_id},
                        ts,
                        key=(where, "call"),
                    )
                )
            events.extend(self._v0_usage(event, meta, ts, where))
        elif observation is not None:
            events.extend(self._v0_observation(event, str(observation), extras, ts, where))
        elif action is not None:
            self.ctx.skip("known_ignored")
        else:
            self.ctx.skip("unknown_event")
        return events

    def _v0_observation(
        self, event: dict[str, Any], kind: str, extras: dict[str, Any], ts: Any, where: int | str
    ) -> list[dict[str, Any]]:
        if kind == "agent_state_changed":
            state = extras.get("agent_state")
            if state == "error":
                return [
                    *self.ensure_started(None, ts),
                    self.event(
                        "error",
                        {"error_message": clip(str(extras.get("reason") or "agent error"), 1000)},
                        ts,
                        key=(where, "state"),
                    ),
                ]
            if state in ("awaiting_user_input", "finished"):
                return [self.turn_complete(ts, where)] if self.state.get("started") else []
            if state in ("stopped", "paused"):
                self.state["stopped"] = True
            return []
        cause = str(event.get("cause"))
        call = self.state.get("calls", {}).pop(cause, None)
        if kind == "error" and call is None:
            return [
                *self.ensure_started(None, ts),
                self.event(
                    "error",
                    {"error_message": clip(_text(event.get("content")) or str(event.get("message")), 1000)},
                    ts,
                    key=(where, "error"),
                ),
            ]
        if call is None:
            self.ctx.skip("known_ignored")  # recall and other context the app adds
            return []
        metadata = extras.get("metadata") if isinstance(extras.get("metadata"), dict) else {}
        code = metadata.get("exit_code", extras.get("exit_code"))
        failed = kind == "error" or (isinstance(code, int) and code > 0)  # -1: no exit code
        content = event.get("content") if isinstance(event.get("content"), str) else str(event.get("message") or "")
        name, call_id = call
        return self.tool_outcome(name, call_id, content, failed, ts, (where, "result"), error_key=(where, "error"))

    def _v0_usage(self, event: dict[str, Any], meta: dict[str, Any], ts: Any, where: int | str) -> list[dict[str, Any]]:
        response = meta.get("model_response") if isinstance(meta.get("model_response"), dict) else {}
        usage = response.get("usage") if isinstance(response.get("usage"), dict) else None
        metrics = event.get("llm_metrics") if isinstance(event.get("llm_metrics"), dict) else {}
        total = metrics.get("accumulated_cost")
        counted = self.state.setdefault("responses", [])
        if usage is None or response.get("id") in counted:
            return []
        counted.append(response.get("id"))
        del counted[:-200]
        data = litellm_usage(usage)
        if isinstance(total, (int, float)) and total >= self.state.get("cost_so_far", 0.0):
            data["cost_usd"] = round(total - self.state.get("cost_so_far", 0.0), 12)
            self.state["cost_so_far"] = total
        return [self.usage({**data, "model": self.state.get("model")}, ts, key=(where, "usage"))]

    def _prompt(self, text: str, ts: Any, where: int | str) -> list[dict[str, Any]]:
        if not self.state.get("started"):
            return self.ensure_started(text, ts)
        return [self.event("followup_sent", {"message": text, "reason": "user"}, ts, key=(where, "user"))]

    # -- V1 --------------------------------------------------------------------------------

    def _v1(self, event: dict[str, Any], where: int | str) -> list[dict[str, Any]]:
        kind, ts = event.get("kind"), event.get("timestamp")
        if kind == "MessageEvent":
            message = event.get("llm_message") if isinstance(event.get("llm_message"), dict) else {}
            text = _text(message.get("content"))
            if event.get("source") == "user":
                return self._prompt(text, ts, where)
            return [
                *self.ensure_started(None, ts),
                self.event("agent_output", {"output": text, "stream_type": "assistant"}, ts, key=(where, "message")),
            ]
        if kind == "ActionEvent":
            return self._v1_action(event, ts, where)
        if kind in ("ObservationEvent", "UserRejectObservation", "AgentErrorEvent"):
            return self._v1_observation(event, kind, ts, where)
        if kind in _QUIET_V1:
            self.ctx.skip("known_ignored")
            return []
        self.ctx.skip(f"unknown_kind:{kind}")
        return []

    def _v1_action(self, event: dict[str, Any], ts: Any, where: int | str) -> list[dict[str, Any]]:
        events = self.ensure_started(None, ts)
        thought = _text(event.get("thought"))
        if thought:
            events.append(self.event("agent_thinking", {"thinking": thought}, ts, key=(where, "thought")))
        action = event.get("action") if isinstance(event.get("action"), dict) else {}
        name, call_id = event.get("tool_name") or action.get("kind") or "unknown", event.get("tool_call_id")
        if name == "finish":
            self.state["finished"] = True
        params = {k: v for k, v in action.items() if k != "kind"}
        self.state.setdefault("tools", {})[str(call_id)] = name
        events.append(
            self.event(
                "tool_call", {"tool_name": name, "tool_params": params, "call_id": call_id}, ts, key=(where, "call")
            )
        )
        return events

    def _v1_observation(self, event: dict[str, Any], kind: str, ts: Any, where: int | str) -> list[dict[str, Any]]:
        call_id = event.get("tool_call_id")
        name = event.get("tool_name") or self.state.get("tools", {}).get(str(call_id))
        observation = event.get("observation") if isinstance(event.get("observation"), dict) else {}
        text = _text(observation.get("content")) or str(event.get("error") or event.get("rejection_reason") or "")
        failed = kind != "ObservationEvent" or observation.get("is_error") is True
        outcome = self.tool_outcome(name, call_id, text, failed, ts, (where, "result"), error_key=(where, "error"))
        return [*self.ensure_started(None, ts), *outcome]

    def v1_usage(self, state: dict[str, Any]) -> list[dict[str, Any]]:
        """New model calls in `base_state.json`'s stats (rewritten as the conversation goes on)."""
        stats = state.get("stats") if isinstance(state.get("stats"), dict) else {}
        per_usage = stats.get("usage_to_metrics") if isinstance(stats.get("usage_to_metrics"), dict) else {}
        events = []
        counted = self.state.setdefault("usage_counted", {})
        for usage_id, metrics in sorted(per_usage.items()):
            if not isinstance(metrics, dict):
                continue
            calls = [u for u in metrics.get("token_usages") or [] if isinstance(u, dict)]
            costs = [c for c in metrics.get("costs") or [] if isinstance(c, dict)]
            for index in range(counted.get(usage_id, 0), len(calls)):
                call = calls[index]
                data = litellm_usage(call)
                cost = costs[index].get("cost") if len(costs) == len(calls) else None
                if isinstance(cost, (int, float)) and cost >= 0:
                    data["cost_usd"] = cost
                model = call.get("model") or metrics.get("model_name") or self.state.get("model")
                when = costs[index].get("timestamp") if len(costs) == len(calls) else None
                ts = _epoch_iso(when) or self.state.get("last_ts")
                events.append(self.usage({**data, "model": model}, ts, key=("usage", usage_id, index)))
            counted[usage_id] = len(calls)
        return events

    def end_status(self) -> str:
        if self.state.get("stopped") and not self.state.get("finished"):
            return "interrupted"
        return super().end_status()


def litellm_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """LiteLLM's counters (prompt_tokens includes cache reads) as agentlog's disjoint kinds."""

    def count(*names: str) -> int:
        for name in names:
            value = usage.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                return value
        return 0

    read = count("cache_read_input_tokens", "cache_read_tokens")
    details = usage.get("prompt_tokens_details")
    if not read and isinstance(details, dict) and isinstance(details.get("cached_tokens"), int):
        read = details["cached_tokens"]
    data = {
        "input_tokens": max(0, count("prompt_tokens") - read),
        "output_tokens": count("completion_tokens"),
        "cache_read_tokens": read or None,
        "cache_creation_tokens": count("cache_creation_input_tokens", "cache_write_tokens") or None,
        "reasoning_tokens": count("reasoning_tokens") or None,
    }
    return {k: v for k, v in data.items() if v is not None}


def _epoch_iso(value: Any) -> str | None:
    from ..events import now_iso

    return now_iso(value) if isinstance(value, (int, float)) and value > 0 else None


class OpenHandsImporter(Importer):
    name = "openhands"
    executor = "OPENHANDS"
    default_path = "~/.openhands/sessions"
    append_only = False  # a folder of event files, only ever added to
    follow: ClassVar[bool] = True
    hooks: ClassVar[bool] = False
    tokens: ClassVar[str] = "exact"
    cost: ClassVar[str] = "transcript"

    def files(self, root: Path, **options: Any) -> list[Path]:
        """Conversation folders: those whose `events/` holds event files."""
        if (root / "events").is_dir():
            return [root]
        found = []
        for events in sorted(root.rglob("events")):
            if events.is_dir() and any(_index(p.name) is not None for p in events.iterdir()):
                found.append(events.parent)
        return found

    def attempt_id(self, path: Path) -> str:
        return Path(path).name  # the conversation id: unique already

    def mapper(self, path: Path, ctx: Context, state: dict[str, Any] | None) -> OpenHandsMapper:
        return OpenHandsMapper(self.attempt_id(path), ctx, state)

    def read(self, path: Path, entry: dict[str, Any], ctx: Context) -> Iterator[dict[str, Any]]:
        files = sorted((i, p) for p in (path / "events").iterdir() if (i := _index(p.name)) is not None)
        latest = max(
            [p.stat().st_mtime for _, p in files] + [_mtime(path / "base_state.json"), _mtime(path / "metadata.json")]
        )
        complete = ctx.now - latest >= ctx.open_window_s
        version = [len(files), latest]
        if entry.get("ended") and entry.get("version") == version:
            return
        mapper = self.mapper(path, ctx, json.loads(json.dumps(entry["mapper"])) if entry.get("mapper") else None)
        if entry.get("ended"):
            mapper.reopen()
        _describe(mapper, path)
        done = entry.get("done", -1)
        events = []
        for index, file in files:
            if index <= done:
                continue
            if index != done + 1 and not complete:
                break  # one not written yet: read on from it next time
            try:
                record = _loads(file)
            except (ValueError, UnicodeDecodeError, OSError):
                if not complete:
                    break  # caught mid-write
                ctx.skip("malformed_json")
                record = None
            if record is not None:
                events.extend(safe_feed(mapper, record, index))
            done = index
        if (path / "base_state.json").is_file():
            try:
                events.extend(mapper.v1_usage(_loads(path / "base_state.json")))
            except (ValueError, UnicodeDecodeError):
                ctx.skip("malformed_base_state")
        if not mapper.state.get("last_ts"):
            if complete:
                ctx.skip_file("no_timestamp")
                entry.update(ended=True, version=version, done=done)
            return
        yield from events
        if complete:
            yield from mapper.finish()
        else:
            ctx.stats.open_sessions += 1
        entry.update(done=done, ended=complete, version=version, mapper=mapper.state)


def _index(name: str) -> int | None:
    match = _V0_EVENT.match(name) or _V1_EVENT.match(name)
    return int(match.group(1)) if match else None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _describe(mapper: OpenHandsMapper, path: Path) -> None:
    """Model, title and session id from metadata.json (V0) or base_state.json (V1)."""
    if mapper.state.get("described"):
        return
    mapper.state["described"] = True
    mapper.state["session_id"] = path.name
    for name in ("metadata.json", "base_state.json"):
        try:
            doc = _loads(path / name)
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        if not isinstance(doc, dict):
            continue
        agent = doc.get("agent") if isinstance(doc.get("agent"), dict) else {}
        llm = agent.get("llm") if isinstance(agent.get("llm"), dict) else {}
        model = doc.get("llm_model") or llm.get("model")
        if isinstance(model, str) and model:
            mapper.state["model"] = model
        start = {
            "task_description": doc.get("title"),
            "repo": doc.get("selected_repository"),
            "branch": doc.get("selected_branch"),
        }
        mapper.state["start_data"] = {k: v for k, v in start.items() if v}
        if isinstance(doc.get("selected_branch"), str):
            mapper.state["branch"] = doc["selected_branch"]
