"""Gemini CLI chats as the agent appends them: a header, user and gemini records, `$set`
patches, a gemini record written again under its id as its tool calls complete (sometimes
with its tokens grown), info and error records, records nobody knows yet, and the disk
shapes of `disk.damaged`. (Legacy `.json` documents are rewritten, not appended: their
tests are in test_import_gemini_cli.py.)"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import strategies as st

from .disk import damaged, line, timestamp, times
from .harness import Case, several


@st.composite
def session(draw: Any, name: str, index: int) -> Case:
    sid = f"9e55{index:04x}-0000-4000-8000-{draw(st.integers(0, 16**12 - 1)):012x}"
    counted: Counter = Counter()
    records: list[dict[str, Any]] = [
        {
            "sessionId": sid,
            "projectHash": "ab" * 32,
            "startTime": draw(times(0)),
            "lastUpdated": draw(times(0)),
            "kind": "main",
        }
    ]
    calls = inputs = outputs = 0
    clock = 0

    def stamp() -> Any:
        nonlocal clock
        clock += draw(st.integers(1, 120))
        return draw(timestamp(clock))

    for turn in range(draw(st.integers(1, 3))):
        content = draw(st.sampled_from(["fix the test", [{"text": "fix the test"}], [{"text": "a"}, {"text": "b"}]]))
        records.append({"id": f"u{index}-{turn}", "timestamp": stamp(), "type": "user", "content": content})
        records.append({"$set": {"lastUpdated": "2025-01-01T00:00:00Z"}})
        counted["known_ignored"] += 1
        for step in range(draw(st.integers(1, 3))):
            mid = f"g{index}-{turn}-{step}"
            prompt, cached = draw(st.integers(0, 50000)), 0
            cached = draw(st.integers(0, prompt))
            out, thoughts = draw(st.integers(0, 900)), draw(st.integers(0, 400))
            tokens = {
                "input": prompt,
                "output": out,
                "cached": cached,
                "thoughts": thoughts,
                "tool": 0,
                "total": prompt + out + thoughts,
            }
            thought = [{"subject": "Plan", "description": "read first"}] * draw(st.integers(0, 2))
            base = {
                "id": mid,
                "timestamp": stamp(),
                "type": "gemini",
                "content": draw(st.sampled_from(["", "Done."])),
                "thoughts": thought,
                "tokens": tokens,
                "model": "gemini-2.5-pro",
            }
            records.append(base)
            if draw(st.booleans()):  # written again as its tool calls complete
                n = draw(st.integers(1, 2))
                status = draw(st.sampled_from(["success", "error", "cancelled"]))
                tool_calls = [
                    {
                        "id": f"{mid}-t{j}",
                        "name": "run_shell_command",
                        "args": {"command": "make"},
                        "status": status,
                        "timestamp": base["timestamp"],
                        "result": [
                            {
                                "functionResponse": {
                                    "id": f"{mid}-t{j}",
                                    "name": "run_shell_command",
                                    "response": {"output": "ok"},
                                }
                            }
                        ],
                    }
                    for j in range(n)
                ]
                grown = dict(tokens)
                if draw(st.booleans()):
                    grown["output"] += draw(st.integers(0, 50))
                records.append({**base, "toolCalls": tool_calls, "tokens": grown})
                counted["repeated_record"] += 1
                calls += n
                out = grown["output"]
            inputs += prompt
            outputs += out + thoughts
        extra = draw(st.integers(0, 5))
        if extra == 0:
            records.append(
                {"id": f"i{index}-{turn}", "timestamp": stamp(), "type": "info", "content": "Request cancelled."}
            )
            counted["known_ignored"] += 1
        elif extra == 1:
            records.append(
                {
                    "id": f"e{index}-{turn}",
                    "timestamp": stamp(),
                    "type": "error",
                    "content": "[API Error: quota exceeded]",
                }
            )
        elif extra == 2:
            records.append({"id": f"n{index}-{turn}", "timestamp": stamp(), "type": f"new_kind_{turn}"})
            counted[f"unknown_type:new_kind_{turn}"] += 1
    content = draw(damaged([line(r) for r in records], counted))
    return Case({name: content}, counted, sessions=1, input_tokens=inputs, output_tokens=outputs, tool_calls=calls)


@st.composite
def cases(draw: Any) -> Case:
    return several(draw, session, "tmp/abc/chats/session-2025-01-01T00-00-{:08x}.jsonl")
