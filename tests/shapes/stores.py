"""Agents that keep a session as one rewritten document or in a database: Amp threads (JSON
with messages, usage and a credits ledger; a message whose content is not parts, roles nobody
knows) and OpenCode's `opencode.db` (sessions, messages and parts as the agent's SQLite holds
them: tool parts completed, failed or still running, assistant errors, parts nobody knows)."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from typing import Any

from hypothesis import strategies as st

from .harness import Case, several

BASE_MS = 1_735_689_600_000  # 2025-01-01


@st.composite
def amp_thread(draw: Any, index: int) -> Case:
    messages: list[dict[str, Any]] = []
    counted: Counter = Counter()
    calls = inputs = outputs = 0
    for turn in range(draw(st.integers(1, 3))):
        messages.append(
            {
                "messageId": len(messages),
                "role": "user",
                "content": [{"type": "text", "text": "go"}],
                "meta": {"sentAt": BASE_MS + 1000 * len(messages)} if draw(st.booleans()) else {},
            }
        )
        tool = draw(st.booleans())
        parts: list[dict[str, Any]] = [{"type": "thinking", "thinking": "hm"}, {"type": "text", "text": "ok"}]
        if tool:
            parts.append({"type": "tool_use", "id": f"t{turn}", "name": "Bash", "input": {"cmd": "ls"}})
            calls += 1
        usage = {
            "model": "claude-sonnet-4-5",
            "inputTokens": draw(st.integers(0, 9999)),
            "cacheCreationInputTokens": draw(st.integers(0, 999)),
            "cacheReadInputTokens": draw(st.integers(0, 9999)),
            "outputTokens": draw(st.integers(0, 999)),
        }
        messages.append({"messageId": len(messages), "role": "assistant", "content": parts, "usage": usage})
        inputs += usage["inputTokens"] + usage["cacheCreationInputTokens"] + usage["cacheReadInputTokens"]
        outputs += usage["outputTokens"]
        if tool:
            messages.append(
                {
                    "messageId": len(messages),
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "toolUseID": f"t{turn}",
                            "content": "a b",
                            "is_error": draw(st.booleans()),
                        }
                    ],
                }
            )
        if draw(st.integers(0, 5)) == 0:
            messages.append({"messageId": len(messages), "role": f"narrator{turn}"})
            counted[f"unknown_role:narrator{turn}"] += 1
    ledger = [
        {"id": f"e{i}", "timestamp": "2025-01-01T00:00:0%dZ" % (i % 10), "credits": 0.1, "toMessageId": m["messageId"]}
        for i, m in enumerate(messages)
        if m["role"] == "assistant"
    ]
    doc = {"v": 1, "id": f"T-{index}", "created": BASE_MS, "messages": messages, "usageLedger": {"events": ledger}}
    return Case(
        {f"threads/T-{index}.json": json.dumps(doc).encode()},
        counted,
        sessions=1,
        input_tokens=inputs,
        output_tokens=outputs,
        tool_calls=calls,
    )


@st.composite
def amp_cases(draw: Any) -> Case:
    total = several(draw, lambda _name, index: amp_thread(index), "")
    extra = draw(st.sampled_from([None, b"", b'{"v": 1', b"[1, 2]"]))
    if extra is not None:
        reason = {b"": "empty_file", b"[1, 2]": "not_a_session"}.get(extra, "not_json")
        total = total.add(Case({"threads/T-junk.json": extra}, files_skipped=Counter({reason: 1}), tool_calls=0))
    return total


SCHEMA = """
CREATE TABLE session (id text PRIMARY KEY, project_id text NOT NULL, parent_id text, slug text NOT NULL,
  directory text NOT NULL, title text NOT NULL, version text NOT NULL, time_created integer NOT NULL,
  time_updated integer NOT NULL);
CREATE TABLE message (id text PRIMARY KEY, session_id text NOT NULL, time_created integer NOT NULL,
  time_updated integer NOT NULL, data text NOT NULL);
CREATE TABLE part (id text PRIMARY KEY, message_id text NOT NULL, session_id text NOT NULL,
  time_created integer NOT NULL, time_updated integer NOT NULL, data text NOT NULL);
"""


@st.composite
def opencode_cases(draw: Any) -> Case:
    db = sqlite3.connect(":memory:")
    db.executescript(SCHEMA)
    counted: Counter = Counter()
    calls = inputs = outputs = sessions = 0
    clock = BASE_MS
    for index in range(draw(st.integers(1, 3))):
        sid = f"ses_{index:04d}"
        first = clock
        for turn in range(draw(st.integers(0, 3))):
            sessions += turn == 0
            clock += 1000
            db.execute(
                "INSERT INTO message VALUES (?, ?, ?, ?, ?)",
                (f"msg_{sid}_{turn}u", sid, clock, clock, json.dumps({"role": "user", "time": {"created": clock}})),
            )
            db.execute(
                "INSERT INTO part VALUES (?, ?, ?, ?, ?, ?)",
                (
                    f"prt_{sid}_{turn}u",
                    f"msg_{sid}_{turn}u",
                    sid,
                    clock,
                    clock,
                    json.dumps({"type": "text", "text": "go"}),
                ),
            )
            clock += 1000
            mid = f"msg_{sid}_{turn}a"
            tokens = {
                "input": draw(st.integers(0, 9999)),
                "output": draw(st.integers(0, 999)),
                "reasoning": draw(st.integers(0, 99)),
                "cache": {"read": draw(st.integers(0, 9999)), "write": draw(st.integers(0, 99))},
            }
            message = {
                "role": "assistant",
                "time": {"created": clock, "completed": clock + 500},
                "modelID": "glm-5",
                "cost": 0.01,
                "tokens": tokens,
                "finish": draw(st.sampled_from(["stop", "tool-calls"])),
            }
            if draw(st.integers(0, 4)) == 0:
                message["error"] = {"name": "APIError", "data": {"message": "overloaded"}}
            inputs += tokens["input"] + tokens["cache"]["read"] + tokens["cache"]["write"]
            outputs += tokens["output"] + tokens["reasoning"]
            db.execute("INSERT INTO message VALUES (?, ?, ?, ?, ?)", (mid, sid, clock, clock, json.dumps(message)))
            parts: list[dict[str, Any]] = [{"type": "step-start"}, {"type": "reasoning", "text": "hm"}]
            for j in range(draw(st.integers(0, 2))):
                status = draw(st.sampled_from(["completed", "error", "running"]))
                parts.append(
                    {
                        "type": "tool",
                        "callID": f"{mid}-{j}",
                        "tool": "bash",
                        "state": {"status": status, "input": {"command": "ls"}, "output": "x", "error": "no"},
                    }
                )
                calls += 1
            if draw(st.integers(0, 5)) == 0:
                parts.append({"type": f"new_part_{turn}"})
                counted[f"unknown_part:new_part_{turn}"] += 1
            for j, part in enumerate(parts):
                db.execute(
                    "INSERT INTO part VALUES (?, ?, ?, ?, ?, ?)",
                    (f"prt_{mid}_{j}", mid, sid, clock, clock, json.dumps(part)),
                )
        db.execute("INSERT INTO session VALUES (?, 'p', NULL, 's', '/w', 't', '1.2.15', ?, ?)", (sid, first, clock))
    db.commit()
    return Case(
        {"opencode.db": db.serialize()},
        counted,
        sessions=sessions,
        input_tokens=inputs,
        output_tokens=outputs,
        tool_calls=calls,
    )
