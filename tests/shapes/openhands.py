"""OpenHands conversation folders: V0 (`events/<n>.json`, actions whose model call is
repeated on their observation, accumulated cost) and V1 (`events/event-<n>-<uuid>.json`
and `base_state.json` with every call's tokens), event files that are not JSON, kinds
nobody knows yet, and folders with no events."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from hypothesis import strategies as st

from .harness import Case


def _time(second: int) -> str:
    return f"2025-07-09T13:{second // 60 % 60:02d}:{second % 60:02d}.{second:06d}"


@st.composite
def v0(draw: Any, folder: str) -> Case:
    counted: Counter = Counter()
    events: list[dict[str, Any]] = [{"source": "user", "action": "message", "args": {"content": "flip a coin"}}]
    calls = inputs = outputs = 0
    cost = 0.0
    for step in range(draw(st.integers(0, 4))):
        prompt, read, write = draw(st.integers(1, 9000)), draw(st.integers(0, 9000)), draw(st.integers(0, 900))
        out = draw(st.integers(1, 500))
        cost += draw(st.floats(0, 0.05, allow_nan=False))
        response = {
            "id": f"resp-{folder}-{step}",
            "usage": {
                "prompt_tokens": prompt + read,
                "completion_tokens": out,
                "cache_read_input_tokens": read,
                "cache_creation_input_tokens": write,
            },
        }
        meta = {"function_name": "execute_bash", "tool_call_id": f"toolu_{step}", "model_response": response}
        events.append(
            {
                "source": "agent",
                "action": "run",
                "args": {"command": "ls", "thought": "look"},
                "tool_call_metadata": meta,
                "llm_metrics": {"accumulated_cost": cost},
            }
        )
        action_id = len(events) - 1
        inputs += prompt + read + write
        outputs += out
        calls += 1
        events.append(
            {
                "source": "agent",
                "observation": "run",
                "cause": action_id,
                "content": "file.txt",
                "extras": {"metadata": {"exit_code": draw(st.sampled_from([0, 1, -1]))}},
                "tool_call_metadata": meta,
            }
        )
        if draw(st.integers(0, 5)) == 0:
            events.append(
                {
                    "source": "environment",
                    "observation": "agent_state_changed",
                    "extras": {"agent_state": draw(st.sampled_from(["error", "running", "awaiting_user_input"]))},
                }
            )
    files = {}
    for index, event in enumerate(events):
        files[f"{folder}/events/{index}.json"] = json.dumps({"id": index, "timestamp": _time(index), **event}).encode()
    files[f"{folder}/metadata.json"] = json.dumps({"llm_model": "anthropic/claude-3-7-sonnet-20250219"}).encode()
    return Case(files, counted, sessions=1, input_tokens=inputs, output_tokens=outputs, tool_calls=calls)


@st.composite
def v1(draw: Any, folder: str) -> Case:
    counted: Counter = Counter()
    events: list[dict[str, Any]] = [{"kind": "SystemPromptEvent", "source": "agent", "system_prompt": {"text": "..."}}]
    counted["known_ignored"] += 1
    calls = 0
    for turn in range(draw(st.integers(1, 3))):
        events.append(
            {
                "kind": "MessageEvent",
                "source": "user",
                "llm_message": {"role": "user", "content": [{"type": "text", "text": f"task {turn}"}]},
            }
        )
        for n in range(draw(st.integers(0, 2))):
            call_id = f"call_{turn}_{n}"
            events.append(
                {
                    "kind": "ActionEvent",
                    "source": "agent",
                    "tool_name": "terminal",
                    "tool_call_id": call_id,
                    "action": {"kind": "TerminalAction", "command": "ls"},
                    "thought": [{"text": "hm"}],
                }
            )
            events.append(
                {
                    "kind": "ObservationEvent",
                    "source": "environment",
                    "tool_name": "terminal",
                    "tool_call_id": call_id,
                    "observation": {"content": [{"text": "ok"}], "is_error": draw(st.booleans())},
                }
            )
            calls += 1
        if draw(st.integers(0, 4)) == 0:
            events.append({"kind": "FutureEvent", "source": "agent"})
            counted["unknown_kind:FutureEvent"] += 1
    usages = [
        {
            "model": "gpt-4o-mini",
            "prompt_tokens": draw(st.integers(0, 5000)),
            "completion_tokens": draw(st.integers(0, 500)),
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
            "reasoning_tokens": 0,
            "response_id": f"r{i}",
        }
        for i in range(draw(st.integers(0, 4)))
    ]
    costs = [{"model": "gpt-4o-mini", "cost": 0.001, "timestamp": 1769028965.0 + i} for i in range(len(usages))]
    state = {
        "id": folder,
        "stats": {"usage_to_metrics": {"agent": {"model_name": "gpt-4o-mini", "token_usages": usages, "costs": costs}}},
    }
    files = {
        f"{folder}/events/event-{i:05d}-{i:08x}-0000-4000-8000-000000000000.json": json.dumps(
            {"id": str(i), "timestamp": _time(i), **event}
        ).encode()
        for i, event in enumerate(events)
    }
    files[f"{folder}/base_state.json"] = json.dumps(state).encode()
    return Case(
        files,
        counted,
        sessions=1,
        input_tokens=sum(u["prompt_tokens"] for u in usages),
        output_tokens=sum(u["completion_tokens"] for u in usages),
        tool_calls=calls,
    )


@st.composite
def cases(draw: Any) -> Case:
    total = Case({})
    for index in range(draw(st.integers(1, 3))):
        folder = f"{index:032x}"
        total = total.add(
            draw(v0(f"sessions/{folder}")) if draw(st.booleans()) else draw(v1(f"conversations/{folder}"))
        )
    if draw(st.booleans()):  # an event file that is not JSON in a folder of no session
        total = total.add(
            Case(
                {"sessions/broken/events/0.json": b"{not json"},
                files_skipped=Counter(no_timestamp=1),
                counted=Counter(malformed_json=1),
                tool_calls=0,
            )
        )
    return total
