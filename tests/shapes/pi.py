"""pi / OpenClaw session files: a v1 or v3 header (v3 entries with id and parentId, some
written twice), user messages as text or parts, assistant messages with thinking, text and
tool calls (`toolCall` or `tool_use`), usage with or without cost, tool results that
failed, aborted and failed calls, bookkeeping entries, entries nobody knows yet, and the
disk shapes of `disk.damaged`."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import strategies as st

from .disk import damaged, line, timestamp, valid_time
from .harness import Case


@st.composite
def session(draw: Any, name: str, index: int) -> Case:
    v3 = draw(st.booleans())
    counted: Counter = Counter()
    records: list[dict[str, Any]] = []
    calls = inputs = outputs = clock = 0
    ids = iter(range(10**6))

    def entry(kind: str, **fields: Any) -> dict[str, Any]:
        nonlocal clock
        clock += draw(st.integers(1, 60))
        record = {"type": kind, "timestamp": draw(timestamp(clock)), **fields}
        if v3:
            record.update(id=f"e{index}-{next(ids)}", parentId=records[-1].get("id") if records else None)
        records.append(record)
        return record

    header = {"type": "session", "id": f"sess-{index}", "timestamp": draw(timestamp(0)), "cwd": "/work/app"}
    if v3:
        header["version"] = 3
    records.append(header)
    for turn in range(draw(st.integers(1, 4))):
        content = draw(st.sampled_from(["fix it", [{"type": "text", "text": "add tests"}]]))
        entry("message", message={"role": "user", "content": content})
        for step in range(draw(st.integers(1, 3))):
            parts: list[dict[str, Any]] = [{"type": "text", "text": "Looking."}]
            if draw(st.booleans()):
                parts.insert(0, {"type": "thinking", "thinking": "hmm", "redacted": False})
            tools = draw(st.integers(0, 2))
            for n in range(tools):
                parts.append(
                    {
                        "type": draw(st.sampled_from(["toolCall", "tool_use"])),
                        "id": f"t{index}-{turn}-{step}-{n}",
                        "name": "bash",
                        "arguments": {"command": "ls"},
                    }
                )
            calls += tools
            stop = draw(st.sampled_from(["toolUse", "stop", "error", "aborted"]))
            message: dict[str, Any] = {
                "role": "assistant",
                "content": parts,
                "model": "claude-sonnet-4-5",
                "provider": "anthropic",
                "stopReason": stop,
            }
            if stop == "error":
                message["errorMessage"] = "overloaded"
            if draw(st.integers(0, 4)):
                usage = {
                    "input": draw(st.integers(0, 5000)),
                    "output": draw(st.integers(0, 900)),
                    "cacheRead": draw(st.integers(0, 40000)),
                    "cacheWrite": draw(st.integers(0, 3000)),
                }
                if draw(st.booleans()):
                    usage["cost"] = {"total": draw(st.floats(0, 2, allow_nan=False))}
                message["usage"] = usage
                inputs += usage["input"] + usage["cacheRead"] + usage["cacheWrite"]
                outputs += usage["output"]
            written = entry("message", message=message)
            if v3 and draw(st.integers(0, 5)) == 0:  # the same entry written again: read once
                records.append(dict(written))
                counted["repeated_entry"] += 1
            for n in range(tools):
                entry(
                    "message",
                    message={
                        "role": "toolResult",
                        "toolCallId": f"t{index}-{turn}-{step}-{n}",
                        "toolName": "bash",
                        "content": [{"type": "text", "text": "out"}],
                        "isError": draw(st.booleans()),
                    },
                )
        if draw(st.integers(0, 3)) == 0:
            entry(draw(st.sampled_from(["thinking_level_change", "compaction", "custom"])))
            counted["known_ignored"] += 1
        if draw(st.integers(0, 5)) == 0:
            entry(f"future_entry_{turn}")
            counted[f"unknown_type:future_entry_{turn}"] += 1
    content = draw(damaged([line(r) for r in records], counted))
    timed = any(valid_time(r.get("timestamp")) for r in records)
    if not timed:
        return Case({name: content}, counted, Counter(no_timestamp=1))
    return Case({name: content}, counted, sessions=1, input_tokens=inputs, output_tokens=outputs, tool_calls=calls)


@st.composite
def cases(draw: Any, layout: str = "--work-app--/2025-01-01T00-00-00-000Z_{index}.jsonl") -> Case:
    """A folder of one to three sessions (pi's layout, or OpenClaw's with `layout`)."""
    total = Case({})
    for index in range(draw(st.integers(1, 3))):
        total = total.add(draw(session(layout.format(index=index), index)))
    return total


def openclaw_cases() -> st.SearchStrategy[Case]:
    return cases(layout="main/sessions/sess-{index}.jsonl")
