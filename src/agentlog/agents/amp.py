"""Amp (Sourcegraph): threads in `~/.local/share/amp/threads/T-<id>.json` (the same on macOS),
one JSON object per thread, rewritten as the thread goes on.

`{v, id, created, messages[], usageLedger {events[]}}`: messages have `messageId`, `role` and
Anthropic-style `content[]` (`text`, `thinking`, `tool_use`, `tool_result`), assistant messages
`usage {model, inputTokens, cacheCreationInputTokens, cacheReadInputTokens, outputTokens}`
(disjoint, as Anthropic counts them). Amp bills credits: a ledger event's `credits` for the
messages it covers is kept beside the tokens as `amp_credits`; `cost_usd` is the API price
from the table. Messages carry no time of their own unless `meta.sentAt`: a message gets the
time of its ledger event, else the last known time (the thread's `created`) and says so.
The last message may still be streaming: it is fed again on the next read, and what was
already recorded for a message id is not recorded twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..events import now_iso
from ..capture.importers.base import Context, Mapper
from ..capture.importers.document import DocumentImporter, progress
from ._parts import PartsMapper

AMP = "AMP"
_KINDS = {
    "inputTokens": "input_tokens",
    "outputTokens": "output_tokens",
    "cacheCreationInputTokens": "cache_creation_tokens",
    "cacheReadInputTokens": "cache_read_tokens",
}


def _ms_iso(value: Any) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return now_iso(value / 1000)
    return value if isinstance(value, str) else None


class AmpMapper(PartsMapper):
    executor = AMP

    def feed(self, message: dict[str, Any], where: int | str) -> list[dict[str, Any]]:
        if not isinstance(message, dict):
            self.ctx.skip("malformed_record")
            return []
        mid = str(message.get("messageId", where))
        meta = message.get("meta") if isinstance(message.get("meta"), dict) else {}
        own = _ms_iso(meta.get("sentAt")) or (self.state.get("ledger") or {}).get(mid, {}).get("timestamp")
        self.time_quality = None if self._own_time(own) else "approximate"
        ts = self.seen_time(own)
        done = progress(self.state, mid)
        events: list[dict[str, Any]] = []
        if done is None:
            done = self.state["recent"][mid]
        content = message.get("content")
        parts = content if isinstance(content, list) else ([{"type": "text", "text": content}] if content else [])
        new = parts[done.get("parts", 0) :]
        if message.get("role") == "user" and new:
            events = self.user(new, ts, (mid, done.get("parts", 0)))
        elif message.get("role") == "assistant":
            events = self.assistant(new, ts, (mid, done.get("parts", 0))) if new else self.ensure_started(None, ts)
            events.extend(self._usage(message, done, ts, mid))
        elif message.get("role") not in ("user", "assistant"):
            self.ctx.skip(f"unknown_role:{message.get('role')}")
        done["parts"] = len(parts)
        return events

    def _usage(self, message: dict[str, Any], done: dict[str, Any], ts: Any, mid: str) -> list[dict[str, Any]]:
        usage = message.get("usage")
        if not isinstance(usage, dict) or done.get("usage"):
            return []
        tokens = {
            dst: v
            for src, dst in _KINDS.items()
            if isinstance(v := usage.get(src), int) and not isinstance(v, bool) and v > 0
        }
        if not tokens:
            return []
        done["usage"] = True
        if isinstance(usage.get("model"), str):
            self.state["model"] = usage["model"]
        credits = (self.state.get("ledger") or {}).get(mid, {}).get("credits")
        return [
            self.usage(
                {**tokens, "model": self.state.get("model"), "message_id": mid, "amp_credits": credits},
                ts,
                key=("usage", mid),
            )
        ]


class AmpImporter(DocumentImporter):
    name = "amp"
    executor = AMP
    default_path = "~/.local/share/amp/threads"
    pattern = "T-*.json"
    refeed = 1

    def readable_name(self, path: Path) -> str:
        return path.stem  # T-<uuid>: the thread's own id

    def mapper(self, path: Path, ctx: Context, state: dict[str, Any] | None) -> Mapper:
        return AmpMapper(self.attempt_id(path), ctx, state)

    def records(self, doc: Any, mapper: Mapper) -> list[Any] | None:
        if not isinstance(doc, dict) or not isinstance(doc.get("messages"), list):
            return None
        if isinstance(doc.get("id"), str):
            mapper.state["session_id"] = doc["id"]
        mapper.seen_time(_ms_iso(doc.get("created")))
        ledger = doc.get("usageLedger") if isinstance(doc.get("usageLedger"), dict) else {}
        by_message = {}
        for event in ledger.get("events") or []:
            if isinstance(event, dict) and event.get("toMessageId") is not None:
                by_message[str(event["toMessageId"])] = {
                    "timestamp": event.get("timestamp"),
                    "credits": event.get("credits"),
                }
        mapper.state["ledger"] = by_message
        return doc["messages"]
