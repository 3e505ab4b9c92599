"""Copilot CLI events.jsonl as the agent appends it: session.start, model changes, user and
assistant messages (tool requests, output tokens), tool completions that succeed or fail,
events nobody knows yet, sometimes the session.shutdown with the totals (not when it was
killed), and `disk.damaged`."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import strategies as st

from .disk import damaged, line, timestamp, valid_time
from .harness import Case, several

MODEL = "claude-sonnet-4.5"
TIMED = (
    "session.start",
    "session.model_change",
    "user.message",
    "assistant.message",
    "tool.execution_complete",
    "session.shutdown",
)  # the records whose time an import reads


@st.composite
def session(draw: Any, name: str, index: int) -> Case:
    sid = f"c0e5{index:04x}-0000-4000-8000-{draw(st.integers(0, 16**12 - 1)):012x}"
    counted: Counter = Counter()
    records: list[dict[str, Any]] = []
    calls = outputs = 0
    clock = 0

    def event(kind: str, data: dict[str, Any]) -> dict[str, Any]:
        nonlocal clock
        clock += draw(st.integers(1, 60))
        return {
            "type": kind,
            "data": data,
            "id": f"{index}-{len(records)}",
            "timestamp": draw(timestamp(clock)),
            "parentId": None,
        }

    records.append(
        event(
            "session.start", {"sessionId": sid, "copilotVersion": "1.0.34", "context": {"cwd": "/w", "branch": "main"}}
        )
    )
    records.append(event("session.model_change", {"newModel": MODEL}))
    for turn in range(draw(st.integers(1, 3))):
        records.append(event("user.message", {"content": "fix the tests"}))
        for step in range(draw(st.integers(1, 3))):
            n = draw(st.integers(0, 2))
            out = draw(st.integers(0, 800))
            requests = [
                {"toolCallId": f"t{index}-{turn}-{step}-{j}", "name": "bash", "arguments": {"command": "ls"}}
                for j in range(n)
            ]
            records.append(
                event(
                    "assistant.message",
                    {"messageId": f"m{turn}{step}", "content": "ok", "toolRequests": requests, "outputTokens": out},
                )
            )
            outputs += out
            calls += n
            for request in requests:
                ok = draw(st.booleans())
                records.append(
                    event(
                        "tool.execution_complete",
                        {
                            "toolCallId": request["toolCallId"],
                            "success": ok,
                            "result": {"content": "done"} if ok else None,
                            "error": None if ok else {"message": "denied"},
                        },
                    )
                )
        records.append(event("assistant.turn_end", {"turnId": str(turn)}))
        counted["known_ignored"] += 1
        if draw(st.integers(0, 5)) == 0:
            records.append(event(f"brand.new_{turn}", {}))
            counted[f"unknown_type:brand.new_{turn}"] += 1
    inputs = 0
    if draw(st.booleans()):  # shut down cleanly: the totals
        total_out = outputs + draw(st.integers(0, 300))
        prompt = draw(st.integers(0, 10**6))
        read, write, reasoning = draw(st.integers(0, prompt)), draw(st.integers(0, 5000)), draw(st.integers(0, 900))
        records.append(
            event(
                "session.shutdown",
                {
                    "totalPremiumRequests": 1,
                    "modelMetrics": {
                        MODEL: {
                            "requests": {"count": 3, "cost": 1},
                            "usage": {
                                "inputTokens": prompt,
                                "outputTokens": total_out,
                                "cacheReadTokens": read,
                                "cacheWriteTokens": write,
                                "reasoningTokens": reasoning,
                            },
                        }
                    },
                },
            )
        )
        inputs, outputs = prompt + write, total_out + reasoning
    content = draw(damaged([line(r) for r in records], counted))
    if not any(valid_time(r["timestamp"]) for r in records if r["type"] in TIMED):
        return Case({name: content}, counted, Counter(no_timestamp=1))
    return Case({name: content}, counted, sessions=1, input_tokens=inputs, output_tokens=outputs, tool_calls=calls)


@st.composite
def cases(draw: Any) -> Case:
    return several(draw, session, "session-state/s{}/events.jsonl")
