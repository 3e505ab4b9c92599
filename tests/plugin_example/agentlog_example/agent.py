"""toy-agent: an agent that writes one JSON object per line to ~/.toy-agent/sessions/<id>.jsonl:

{"time": "2026-01-05T10:00:00Z", "type": "prompt", "text": "fix the tests"}
{"time": "2026-01-05T10:00:01Z", "type": "tool", "id": "t1", "name": "bash", "input": {"cmd": "pytest"}}
{"time": "2026-01-05T10:00:03Z", "type": "result", "id": "t1", "ok": false, "output": "1 failed"}
{"time": "2026-01-05T10:00:04Z", "type": "usage", "model": "gpt-5", "input": 1200, "output": 300}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentlog.agents.base import Context, Importer, Mapper


class ToyMapper(Mapper):
    executor = "TOY_AGENT"

    def feed(self, record: Any, where: int | str) -> list[dict[str, Any]]:
        ts, kind = record.get("time"), record.get("type")
        if kind == "prompt":
            return self.ensure_started(record.get("text"), ts)
        events = self.ensure_started(None, ts)
        if kind == "tool":
            data = {"tool_name": record.get("name"), "tool_params": record.get("input"), "call_id": record.get("id")}
            events.append(self.event("tool_call", data, ts, key=where))
        elif kind == "result":
            ok = record.get("ok") is not False
            data = {
                "call_id": record.get("id"),
                "result": "success" if ok else "error",
                "result_data": record.get("output"),
            }
            events.append(self.event("tool_result", data, ts, key=where))
        elif kind == "usage":
            self.state["model"] = record.get("model")
            events.append(
                self.usage({"input_tokens": record.get("input"), "output_tokens": record.get("output")}, ts, key=where)
            )
        else:
            self.ctx.skip(f"unknown_record:{kind}")
        return events


class ToyAgentImporter(Importer):
    name = "toy-agent"  # defining `name` registers the agent
    executor = "TOY_AGENT"
    default_path = "~/.toy-agent/sessions"

    def mapper(self, path: Path, ctx: Context, state: dict[str, Any] | None) -> Mapper:
        return ToyMapper(self.attempt_id(path), ctx, state)
