"""Gemini CLI chats: `~/.gemini/tmp/<project>/chats/session-<time>-<id8>.jsonl` (current, the
same path on Linux and macOS) and the legacy `session-*.json` beside them.

The JSONL is append-only: a header `{sessionId, projectHash, startTime, ...}`, then message
records (`id`, `timestamp`, `type`: user / gemini / info / error / warning, `content`) and
`{"$set": {...}}` metadata patches. A `gemini` record is written again under the same id as
it is filled in (its tool calls, their results); the last one wins. The mapper remembers,
for the latest ids, what it already turned into events (text, thoughts, each tool call and
its result, the tokens counted), so a repeat adds only what is new and each model call is
counted once. The legacy `.json` is one object rewritten on every save, `messages[]` holding
the same records: it is read as a document (see document.py), its last message fed again.

Tokens (`tokens {input, output, cached, thoughts, tool, total}`): Gemini's input counts the
cached part; agentlog's kinds are disjoint (input = uncached prompt + tool-use prompt,
cache read = cached, output, reasoning = thoughts). No cost is written: the price table's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..capture.importers.base import Context, Mapper, clip
from ..capture.importers.document import DocumentImporter, progress
from .base import Hooks

GEMINI_CLI = "GEMINI_CLI"
_DONE = frozenset({"success", "error", "cancelled"})
_QUIET_INFO = ("This request failed.",)


def disjoint_usage(prompt: Any, output: Any, cached: Any = 0, thoughts: Any = 0, tool: Any = 0) -> dict[str, int]:
    """Gemini's counters (cached inside the prompt) as agentlog's disjoint kinds."""
    prompt, output, cached, thoughts, tool = (
        v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else 0
        for v in (prompt, output, cached, thoughts, tool)
    )
    cached = min(cached, prompt)
    return {
        "input_tokens": prompt - cached + tool,
        "cache_read_tokens": cached,
        "output_tokens": output,
        "reasoning_tokens": thoughts,
        "cache_creation_tokens": 0,
    }


def text_of(content: Any) -> str:
    """A message's text: a string (2025), or Gemini parts with `text` (later)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    if isinstance(content, dict) and isinstance(content.get("text"), str):
        return content["text"]
    return ""


def response_of(result: Any) -> tuple[bool, str]:
    """(failed?, text) of a tool's `result`: Gemini functionResponse parts."""
    failed, texts = False, []
    for part in result if isinstance(result, list) else [result]:
        response = part.get("functionResponse", {}).get("response") if isinstance(part, dict) else None
        if isinstance(response, dict):
            if response.get("error") is not None:
                failed = True
                texts.append(str(response["error"]))
            elif "output" in response:
                texts.append(str(response["output"]))
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            texts.append(part["text"])
    return failed, "\n".join(texts)


class GeminiMapper(Mapper):
    """Gemini CLI message records (JSONL lines or the legacy document's messages) -> events."""

    executor = GEMINI_CLI

    def feed(self, record: dict[str, Any], where: int | str) -> list[dict[str, Any]]:
        self.time_quality = None
        if not isinstance(record, dict):
            self.ctx.skip("malformed_record")
            return []
        if "$set" in record or "$rewindTo" in record:
            self.ctx.skip("known_ignored")  # metadata patches; a rewind keeps what was already done
            return []
        kind = record.get("type")
        if kind is None and "sessionId" in record:
            return self.header(record)
        handler = _HANDLERS.get(kind)
        if handler is None:
            self.ctx.skip(f"unknown_type:{kind}")
            return []
        self.seen_time(record.get("timestamp"))
        return handler(self, record, record.get("id") or f"line-{where}", record.get("timestamp"))

    def header(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        session = record.get("sessionId")
        if isinstance(session, str) and session:
            self.state["session_id"] = session
        self.seen_time(record.get("startTime"))
        start = {"project_hash": record.get("projectHash"), "session_kind": record.get("kind")}
        self.state["start_data"] = {k: v for k, v in start.items() if isinstance(v, str) and v}
        return []

    def progress(self, mid: str) -> dict[str, Any] | None:
        return progress(self.state, mid)

    def _user(self, record: dict[str, Any], mid: str, ts: Any) -> list[dict[str, Any]]:
        if self.progress(mid) is not None:
            self.ctx.skip("repeated_record")
            return []
        self.state.pop("cancelled", None)
        text = text_of(record.get("content"))
        if not self.state.get("started") and self.lifecycle:
            return self.ensure_started(text, ts)
        return [self.event("followup_sent", {"message": text, "reason": "user"}, ts, key=mid)]

    def _error(self, record: dict[str, Any], mid: str, ts: Any) -> list[dict[str, Any]]:
        if self.progress(mid) is not None:
            self.ctx.skip("repeated_record")
            return []
        message = clip(text_of(record.get("content")) or "Gemini CLI error", 1000)
        return [*self.ensure_started(None, ts), self.event("error", {"error_message": message}, ts, key=mid)]

    def _info(self, record: dict[str, Any], mid: str, ts: Any) -> list[dict[str, Any]]:
        if self.progress(mid) is not None:
            self.ctx.skip("repeated_record")
            return []
        text = text_of(record.get("content"))
        if text.startswith("Model set to "):
            self.state["model"] = text.removeprefix("Model set to ").strip() or self.state.get("model")
        elif text.startswith("Request cancelled"):
            self.state["cancelled"] = True
        self.ctx.skip("known_ignored")  # notices to the user; the ones that matter are noted above
        return []

    def _gemini(self, record: dict[str, Any], mid: str, ts: Any) -> list[dict[str, Any]]:
        done = self.progress(mid)
        if done is None:
            done = self.state["recent"][mid]
        else:
            self.ctx.skip("repeated_record")  # the same message, filled in: only what is new counts
        if isinstance(record.get("model"), str) and record["model"]:
            self.state["model"] = record["model"]
        events = self.ensure_started(None, ts)
        thoughts = (
            [t for t in record.get("thoughts") or [] if isinstance(t, dict)]
            if isinstance(record.get("thoughts"), list)
            else []
        )
        for index in range(done.get("thoughts", 0), len(thoughts)):
            thought = thoughts[index]
            text = ": ".join(str(thought[k]) for k in ("subject", "description") if thought.get(k))
            if text:
                events.append(self.event("agent_thinking", {"thinking": text}, ts, key=(mid, "thought", index)))
        done["thoughts"] = max(done.get("thoughts", 0), len(thoughts))
        text = text_of(record.get("content"))
        if text and not done.get("text"):
            done["text"] = True
            events.append(
                self.event("agent_output", {"output": text, "stream_type": "assistant"}, ts, key=(mid, "text"))
            )
        calls = record.get("toolCalls") if isinstance(record.get("toolCalls"), list) else []
        for index, call in enumerate(calls):
            if isinstance(call, dict):
                events.extend(self._tool(call, done.setdefault("calls", {}), ts, (mid, "tool", index)))
            else:
                self.ctx.skip("malformed_block")
        events.extend(self._tokens(record.get("tokens"), done, ts, mid))
        return events

    def _tool(self, call: dict[str, Any], calls: dict[str, str], ts: Any, key: Any) -> list[dict[str, Any]]:
        call_id = str(call.get("id") or key)
        name = call.get("name") or "unknown"
        events = []
        at = self.seen_time(call.get("timestamp")) or ts
        if call_id not in calls:
            calls[call_id] = "called"
            events.append(
                self.event(
                    "tool_call",
                    {"tool_name": name, "tool_params": call.get("args"), "call_id": call_id},
                    at,
                    key=("call", call_id),
                )
            )
        status = call.get("status")
        if calls[call_id] == "called" and (status in _DONE or call.get("result") is not None):
            calls[call_id] = "done"
            failed, text = response_of(call.get("result"))
            failed = failed or status in ("error", "cancelled")
            display = call.get("resultDisplay")
            text = text or (display if isinstance(display, str) else "")
            said = display if isinstance(display, str) and display else text
            events += self.tool_outcome(
                name,
                call_id,
                text,
                failed,
                at,
                ("result", call_id),
                message=said,
                fallback=f"{name} {status or 'failed'}",
                error_key=("error", call_id),
            )
        return events

    def _tokens(self, tokens: Any, done: dict[str, Any], ts: Any, mid: str) -> list[dict[str, Any]]:
        """Usage of this model call beyond what an earlier copy of the message counted."""
        if not isinstance(tokens, dict):
            return []
        now = disjoint_usage(
            tokens.get("input"), tokens.get("output"), tokens.get("cached"), tokens.get("thoughts"), tokens.get("tool")
        )
        counted = done.get("usage") or {}
        delta = {k: max(0, v - counted.get(k, 0)) for k, v in now.items()}
        if not any(delta.values()):
            return []
        done["usage"] = {k: max(v, counted.get(k, 0)) for k, v in now.items()}
        part = done["usage_parts"] = done.get("usage_parts", 0) + 1
        return [
            self.usage(
                {**delta, "model": self.state.get("model"), "message_id": mid},
                ts,
                key=("usage", mid) if part == 1 else ("usage", mid, part),
            )
        ]

    def end_status(self) -> str:
        return "interrupted" if self.state.get("cancelled") else super().end_status()


_HANDLERS = {
    "user": GeminiMapper._user,
    "gemini": GeminiMapper._gemini,
    "error": GeminiMapper._error,
    "info": GeminiMapper._info,
    "warning": GeminiMapper._info,
}


class GeminiCliImporter(DocumentImporter):
    name = "gemini-cli"
    executor = GEMINI_CLI
    default_path = "~/.gemini/tmp"
    hooks = True
    pattern = "session-*.json*"
    append_only = True  # the current chats; the legacy `.json` documents are rewritten (see grows_by_appending)
    refeed = 1

    def files(self, root: Path, **options: Any) -> list[Path]:
        return [p for p in super().files(root, **options) if p.suffix in (".json", ".jsonl")]

    def grows_by_appending(self, path: Path) -> bool:
        return Path(path).suffix == ".jsonl"

    def mapper(self, path: Path, ctx: Context, state: dict[str, Any] | None) -> Mapper:
        return GeminiMapper(self.attempt_id(path), ctx, state)

    def records(self, doc: Any, mapper: Mapper) -> list[Any] | None:
        if not isinstance(doc, dict) or not isinstance(doc.get("messages"), list):
            return None
        mapper.feed({k: v for k, v in doc.items() if k != "messages"}, "header")
        return doc["messages"]


# -- hooks -----------------------------------------------------------------------------------------
# https://geminicli.com/docs/hooks/reference (docs/hooks/reference.md): `hooks` in settings.json
# (project .gemini/, user ~/.gemini/), matcher groups as Claude Code's (a tool matcher is a regex: none
# = every tool), a handler's timeout in milliseconds, its own event names. Payloads: session_id,
# transcript_path, cwd, hook_event_name, timestamp; no tool call id; AfterTool's tool_response is
# {llmContent, returnDisplay, error?}; AfterAgent has prompt_response (the answer). Answers: `decision:
# "deny"` + `reason` blocks a tool (BeforeTool), drops the prompt (BeforeAgent), retries the answer
# (AfterAgent); there is no "ask the user", so an ask is shown as a warning (`systemMessage`).
_HOOK_EVENTS = {
    "SessionStart": "SessionStart",
    "BeforeAgent": "UserPromptSubmit",
    "BeforeTool": "PreToolUse",
    "AfterTool": "PostToolUse",
    "AfterAgent": "Stop",
    "PreCompress": "PreCompact",
    "Notification": "Notification",
    "SessionEnd": "SessionEnd",
}


def _hook_payload(event: str, payload: dict[str, Any]) -> dict[str, Any]:
    if event == "PostToolUse" and isinstance(payload.get("tool_response"), dict):
        response = payload["tool_response"]
        error = response.get("error")
        if isinstance(error, dict):
            error = error.get("message") or str(error)
        output = response.get("llmContent")
        if not isinstance(output, str):
            output = response.get("returnDisplay") if isinstance(response.get("returnDisplay"), str) else None
        payload["tool_response"] = {"output": output, "error": error or None}
    elif event == "Stop":
        payload["last_assistant_message"] = payload.pop("prompt_response", None)
        payload.pop("prompt", None)  # the turn's prompt, recorded when it was submitted
    return payload


def _hook_attempt(payload: dict[str, Any]) -> str | None:
    """The attempt `agentlog import` gives the session's chat file (its name holds only 8 hex
    digits of the session id, so the attempt id is the name and a hash of the file)."""
    path = payload.get("transcript_path")
    if not isinstance(path, str) or not path:
        return None
    file = Path(path).expanduser()
    try:
        if not file.stat().st_size:
            return None
    except OSError:
        return None
    return GeminiCliImporter().attempt_id(file)


def _hook_answer(event: str, decision: Any) -> dict[str, Any]:
    if decision.action == "deny":
        return {"decision": "deny", "reason": decision.reason}
    return {"systemMessage": decision.reason}


HOOKS = Hooks(
    ".gemini/settings.json",
    ".gemini/settings.json",
    tuple(_HOOK_EVENTS),
    None,
    native=_HOOK_EVENTS,
    timeout_unit=1000,
    adapt=_hook_payload,
    render=_hook_answer,
    attempt_id=_hook_attempt,
)
