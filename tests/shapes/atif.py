"""ATIF trajectories as writers make them: user, agent and system steps, tool calls with
the spec's keys or `{id, name}`, results in `observation.results` or as one object,
per-step metrics whose prompt_tokens includes the cached ones (or only `final_metrics`),
times missing or nonsense, steps that are not objects, versions other than 1.x, and
files that are empty, cut mid-rewrite or not trajectories."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from hypothesis import strategies as st

from .disk import timestamp, valid_time
from .harness import Case


@st.composite
def trajectory(draw: Any, name: str, index: int) -> Case:
    counted: Counter = Counter()
    steps: list[Any] = []
    calls = prompt_total = completion_total = 0
    clock = 0
    per_step = draw(st.booleans())

    def step(source: str, **fields: Any) -> dict[str, Any]:
        nonlocal clock
        clock += draw(st.integers(1, 60))
        body = {"step_id": len(steps) + 1, "source": source, "message": fields.pop("message", ""), **fields}
        when = draw(timestamp(clock))
        if when is not None:
            body["timestamp"] = when
        steps.append(body)
        return body

    step("user", message="fix the failing test")
    for turn in range(draw(st.integers(0, 5))):
        agent = step("agent", message=draw(st.sampled_from(["", "Let me look."])))
        if draw(st.booleans()):
            agent["reasoning_content"] = "thinking..."
        tools = draw(st.integers(0, 2))
        offspec = draw(st.integers(0, 4)) == 0
        agent["tool_calls"] = []
        for n in range(tools):
            call_id = f"call_{index}_{turn}_{n}"
            if offspec:
                agent["tool_calls"].append({"id": call_id, "name": "Bash", "arguments": {"command": "ls"}})
                counted["nonstandard:tool_call_keys"] += 1
            else:
                agent["tool_calls"].append(
                    {"tool_call_id": call_id, "function_name": "Bash", "arguments": {"command": "ls"}}
                )
            calls += 1
        if tools and draw(st.booleans()):
            agent["observation"] = {
                "results": [
                    {"source_call_id": c.get("tool_call_id") or c.get("id"), "content": "ok"}
                    for c in agent["tool_calls"]
                ]
            }
        prompt, cached = draw(st.integers(0, 10**5)), 0
        cached = draw(st.integers(0, prompt))
        completion = draw(st.integers(0, 5000))
        if per_step and draw(st.booleans()):
            agent["metrics"] = {"prompt_tokens": prompt, "completion_tokens": completion, "cached_tokens": cached}
            if draw(st.booleans()):
                agent["metrics"]["cost_usd"] = draw(st.floats(0, 5, allow_nan=False))
            prompt_total += prompt
            completion_total += completion
        if draw(st.integers(0, 5)) == 0:
            step("system", message="Tool result", observation={"content": "out", "source_call_id": None})
            counted["nonstandard:observation"] += 1
        if draw(st.integers(0, 9)) == 0:
            steps.append(draw(st.sampled_from([None, 3, "step", []])))
            counted["malformed_step"] += 1
        if draw(st.integers(0, 9)) == 0:
            step("environment", message="?")
            counted["unknown_source:environment"] += 1
    final: dict[str, Any] = {"total_steps": len(steps)}
    if not per_step:
        final.update(
            total_prompt_tokens=draw(st.integers(0, 10**6)), total_completion_tokens=draw(st.integers(0, 10**4))
        )
        prompt_total, completion_total = final["total_prompt_tokens"], final["total_completion_tokens"]
    doc = {
        "schema_version": draw(st.sampled_from(["ATIF-v1.4", "ATIF-v1.2", "ATIF-v1.6"])),
        "session_id": f"s{index}",
        "agent": {"name": "claude-code", "version": "2.0", "model_name": "claude-sonnet-4-5"},
        "steps": steps,
        "final_metrics": final,
    }
    content = json.dumps(doc).encode()
    if draw(st.integers(0, 9)) == 0:
        content = b"\xef\xbb\xbf" + content
    timed = any(
        isinstance(s, dict) and s.get("source") in ("user", "agent", "system") and valid_time(s.get("timestamp"))
        for s in steps
    )
    if not timed:
        return Case({name: content}, counted, Counter(no_timestamp=1))
    return Case(
        {name: content},
        counted,
        sessions=1,
        input_tokens=prompt_total,
        output_tokens=completion_total,
        tool_calls=calls,
    )


@st.composite
def cases(draw: Any) -> Case:
    """Trials of a job (`<trial>/agent/trajectory.json`), and what else lies around."""
    total = Case({})
    for index in range(draw(st.integers(1, 3))):
        total = total.add(draw(trajectory(f"job/trial-{index}/agent/trajectory.json", index)))
    junk = draw(
        st.sampled_from(
            [
                None,
                (b"", "empty_file"),
                (b'{"steps": [', "not_json"),
                (b"[1, 2]", "not_a_trajectory"),
                (b'{"schema_version": "ATIF-v2.0", "steps": []}', "unsupported_schema_version"),
            ]
        )
    )
    if junk is not None:
        total = total.add(
            Case({"job/broken/trajectory.json": junk[0]}, files_skipped=Counter({junk[1]: 1}), tool_calls=0)
        )
    return total
