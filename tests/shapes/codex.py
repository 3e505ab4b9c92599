"""Codex CLI rollouts: the enveloped format (session_meta, turn_context, event_msg,
response_item) with cumulative token counts written again and again, and the legacy one
(a bare header, state markers, items with no envelope and no time); with the disk shapes
of `disk.damaged`."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import strategies as st

from .disk import damaged, line, timestamp, valid_time
from .harness import Case

COUNTERS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")


@st.composite
def rollout(draw: Any, name: str) -> Case:
    sid = f"0199{draw(st.integers(0, 16**4 - 1)):04x}-bbbb-7ccc-8ddd-{draw(st.integers(0, 16**12 - 1)):012x}"
    counted: Counter = Counter()
    clock, calls = 0, 0
    total = dict.fromkeys(COUNTERS, 0)
    records: list[dict[str, Any]] = []

    def add(kind: str, payload: Any) -> None:
        nonlocal clock
        clock += draw(st.integers(1, 60))
        records.append({"timestamp": draw(timestamp(clock)), "type": kind, "payload": payload})

    add(
        "session_meta",
        {
            "id": sid,
            "timestamp": "2025-01-01T00:00:00Z",
            "cwd": "/work/app",
            "cli_version": "0.46.0",
            "git": {"branch": "main"},
        },
    )
    add("turn_context", {"model": "gpt-5-codex", "cwd": "/work/app"})
    for turn in range(draw(st.integers(1, 3))):
        add("event_msg", {"type": "user_message", "message": f"task {turn}", "kind": "plain"})
        for step in range(draw(st.integers(0, 3))):
            call = f"call_{turn}_{step}"
            add("response_item", {"type": "reasoning", "summary": [{"type": "summary_text", "text": "thinking"}]})
            add(
                "response_item",
                {"type": "function_call", "name": "shell", "call_id": call, "arguments": '{"command":["pytest","-q"]}'},
            )
            calls += 1
            add(
                "response_item",
                {
                    "type": "function_call_output",
                    "call_id": call,
                    "output": draw(st.sampled_from(["Exit code: 0\n1 passed", "Exit code: 1\nFAILED"])),
                },
            )
            call_usage = {k: draw(st.integers(0, 900)) for k in COUNTERS}
            call_usage["cached_input_tokens"] = min(call_usage["cached_input_tokens"], call_usage["input_tokens"])
            call_usage["reasoning_output_tokens"] = min(
                call_usage["reasoning_output_tokens"], call_usage["output_tokens"]
            )
            for key in COUNTERS:
                total[key] += call_usage[key]
            info = {
                "total_token_usage": {**total, "total_tokens": total["input_tokens"] + total["output_tokens"]},
                "last_token_usage": call_usage,
            }
            if any(call_usage.values()):
                add("event_msg", {"type": "token_count", "info": info})
                for _ in range(draw(st.integers(0, 2))):  # the same cumulative total, written again
                    add("event_msg", {"type": "token_count", "info": info, "rate_limits": {"primary": 3}})
                    counted["repeated_token_count"] += 1
        add(
            "response_item",
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "done"}]},
        )
        add("event_msg", {"type": "task_complete", "last_agent_message": "done"})
        if draw(st.integers(0, 4)) == 0:
            add("future_record_kind", {"anything": True})
            counted["unknown_type:future_record_kind"] += 1
        if draw(st.integers(0, 4)) == 0:
            add("event_msg", {"type": "brand_new_event"})
            counted["unknown_event_msg:brand_new_event"] += 1
    content = draw(damaged([line(r) for r in records], counted))
    if not any(valid_time(r["timestamp"]) for r in records if r["type"] != "future_record_kind"):
        return Case({name: content}, counted, Counter(no_timestamp=1))
    return Case(
        {name: content},
        counted,
        sessions=1,
        input_tokens=total["input_tokens"],
        output_tokens=total["output_tokens"],
        tool_calls=calls,
    )


@st.composite
def legacy(draw: Any, name: str) -> Case:
    """A rollout from before the envelope: a bare header, markers and items with no time."""
    counted: Counter = Counter()
    records: list[dict[str, Any]] = [
        {
            "id": f"legacy-{draw(st.integers(0, 10**9))}",
            "timestamp": "2025-04-01T10:00:00.000Z",
            "instructions": None,
            "git": {"branch": "main", "commit_hash": "abc"},
        },
        {"record_type": "state"},
    ]
    counted["known_ignored"] += 1
    records.append(
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "<environment_context>\n<cwd>/w</cwd>\n</environment_context>"}],
        }
    )
    counted["known_ignored"] += 1
    records.append({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list files"}]})
    calls = draw(st.integers(0, 5))
    for n in range(calls):
        records.append({"type": "reasoning", "id": f"rs_{n}", "summary": [], "encrypted_content": "opaque"})
        counted["empty_item"] += 1
        records.append(
            {
                "type": "function_call",
                "id": f"fc_{n}",
                "name": "shell",
                "arguments": '{"command":["ls"]}',
                "call_id": f"call_{n}",
            }
        )
        records.append(
            {
                "type": "function_call_output",
                "call_id": f"call_{n}",
                "output": '{"output":"README.md\\n","metadata":{"exit_code":0,"duration_seconds":0.1}}',
            }
        )
        if draw(st.booleans()):
            records.append({"record_type": "state"})
            counted["known_ignored"] += 1
    records.append(
        {"type": "message", "id": None, "role": "assistant", "content": [{"type": "output_text", "text": "listed"}]}
    )
    content = draw(damaged([line(r) for r in records], counted))
    return Case({name: content}, counted, sessions=1, tool_calls=calls)


@st.composite
def cases(draw: Any) -> Case:
    total = Case({})
    for index in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from([rollout, rollout, legacy]))
        total = total.add(draw(kind(f"2025/01/0{index + 1}/rollout-2025-01-0{index + 1}T00-00-00-{index}.jsonl")))
    return total
