"""Cursor agent and Factory Droid transcripts as the agents append them: user and assistant
messages of Anthropic-style parts (text, tool_use, tool_result that may fail), reminders that
are not the user's words, lines nobody knows yet, and `disk.damaged`. Cursor's have no time
(the file's is used) and no tokens; Droid's tokens are the totals of its `.settings.json`."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from hypothesis import strategies as st

from .disk import damaged, line, timestamp, valid_time
from .harness import Case, several


def _turns(draw: Any, prefix: str, wrap: Any) -> tuple[list[dict[str, Any]], int, Counter]:
    """(records, tool calls, skips) of a few turns; `wrap(role, content)` makes one line."""
    records, calls, counted = [], 0, Counter()
    for turn in range(draw(st.integers(1, 3))):
        records.append(wrap("user", [{"type": "text", "text": "<user_query>\nfix it\n</user_query>"}]))
        for step in range(draw(st.integers(1, 3))):
            call_id = f"{prefix}-{turn}-{step}"
            parts: list[dict[str, Any]] = [{"type": "text", "text": "Let me look."}]
            if draw(st.booleans()):
                parts.append({"type": "tool_use", "id": call_id, "name": "Shell", "input": {"command": "make"}})
                calls += 1
                records.append(wrap("assistant", parts))
                records.append(
                    wrap(
                        "user",
                        [
                            {
                                "type": "tool_result",
                                "tool_use_id": call_id,
                                "content": "ok",
                                "is_error": draw(st.booleans()),
                            }
                        ],
                    )
                )
            else:
                records.append(wrap("assistant", parts))
        if draw(st.integers(0, 5)) == 0:
            records.append({"type": f"new_kind_{turn}", "role": f"narrator_{turn}"})
            counted[f"unknown_type:new_kind_{turn}"] += 1
    return records, calls, counted


@st.composite
def cursor_session(draw: Any, name: str, index: int) -> Case:
    records, calls, counted = _turns(
        draw, f"c{index}", lambda role, content: {"role": role, "message": {"content": content}}
    )
    if draw(st.booleans()):
        records.append({"type": "turn_ended"})
    content = draw(damaged([line(r) for r in records], counted))
    return Case({name: content}, counted, sessions=1, tool_calls=calls)


@st.composite
def cursor_cases(draw: Any) -> Case:
    return several(draw, cursor_session, "ws/agent-transcripts/c{0}/c{0}.jsonl")


@st.composite
def droid_session(draw: Any, index: int) -> Case:
    clock = 0

    def wrap(role: str, content: list[dict[str, Any]]) -> dict[str, Any]:
        nonlocal clock
        clock += draw(st.integers(1, 60))
        if role == "user" and draw(st.integers(0, 3)) == 0:
            content = [{"type": "text", "text": "<system-reminder>be brief</system-reminder>"}, *content]
        return {
            "type": "message",
            "id": f"{index}-{clock}",
            "timestamp": draw(timestamp(clock)),
            "message": {"role": role, "content": content},
        }

    records, calls, counted = _turns(draw, f"d{index}", wrap)
    records.insert(0, {"type": "session_start", "id": f"sess-{index}", "cwd": "/w", "title": "t"})
    usage = {
        "inputTokens": draw(st.integers(0, 10**6)),
        "outputTokens": draw(st.integers(0, 10**5)),
        "cacheCreationTokens": draw(st.integers(0, 9999)),
        "cacheReadTokens": draw(st.integers(0, 10**6)),
        "thinkingTokens": draw(st.integers(0, 9999)),
    }
    settings = json.dumps({"model": "claude-sonnet-4-5", "tokenUsage": usage}).encode()
    content = draw(damaged([line(r) for r in records], counted))
    stem = f"proj/sess-{index}"
    if not any(valid_time(r.get("timestamp")) for r in records if r.get("type") == "message"):
        return Case({f"{stem}.jsonl": content, f"{stem}.settings.json": settings}, counted, Counter(no_timestamp=1))
    inputs = usage["inputTokens"] + usage["cacheCreationTokens"] + usage["cacheReadTokens"]
    outputs = usage["outputTokens"] + usage["thinkingTokens"]
    return Case(
        {f"{stem}.jsonl": content, f"{stem}.settings.json": settings},
        counted,
        sessions=1,
        input_tokens=inputs,
        output_tokens=outputs,
        tool_calls=calls,
    )


@st.composite
def droid_cases(draw: Any) -> Case:
    return several(draw, lambda _name, index: droid_session(index), "")
