"""SWE-agent trajectories: `trajectory` steps (with or without execution_time, sometimes a
nonsense one), or only `history` in 0.x files, `info` with model stats that may be
missing or not numbers, and files that are empty, cut mid-rewrite or not trajectories."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from hypothesis import strategies as st

from .harness import Case

ACTIONS = ["ls", "open main.py", "edit 3:3\nreturn x\nend_of_edit", "python test.py", "submit"]
OBSERVATIONS = ["main.py", "[File: main.py]", "Traceback (most recent call last):\nValueError: bad", "", "ok"]


@st.composite
def trajectory(draw: Any, name: str) -> Case:
    steps = []
    for _ in range(draw(st.integers(0, 6))):
        step = {
            "action": draw(st.sampled_from(ACTIONS)),
            "observation": draw(st.sampled_from(OBSERVATIONS)),
            "thought": draw(st.sampled_from(["", "Let me check."])),
            "response": "...",
        }
        timing = draw(st.integers(0, 3))
        if timing == 1:
            step["execution_time"] = draw(st.floats(0, 30, allow_nan=False))
        elif timing == 2:
            step["execution_time"] = draw(st.sampled_from(["x", None, -1, 1e300]))
        steps.append(step)
    counted: Counter = Counter()
    stats: dict[str, Any] = {}
    sent = received = 0
    if draw(st.booleans()):
        good_sent, good_received = draw(st.integers(0, 10**6)), draw(st.integers(0, 10**5))
        stats = {"tokens_sent": good_sent, "tokens_received": good_received, "api_calls": len(steps)}
        sent, received = good_sent, good_received
        bad = draw(st.sampled_from([None, "tokens_sent", "tokens_received"]))
        if bad:
            stats[bad] = draw(st.sampled_from(["x", [1], {"n": 1}, -5, True]))
            counted[f"malformed_field:{bad}"] += 1
            sent, received = (0, received) if bad == "tokens_sent" else (sent, 0)
    info = {"model_stats": stats, "exit_status": draw(st.sampled_from(["submitted", "exit_cost", "early_exit"]))}
    history = [{"role": "system", "content": "You are..."}, {"role": "user", "content": "fix the bug"}]
    if draw(st.booleans()):  # 0.x: steps only in the history
        for step in steps:
            history += [
                {"role": "assistant", "content": step["thought"], "thought": step["thought"], "action": step["action"]},
                {"role": "user", "content": step["observation"]},
            ]
        doc: dict[str, Any] = {"history": history, "info": info}
    else:
        doc = {
            "trajectory": steps,
            "history": history,
            "info": info,
            "environment": "swe_main",
            "replay_config": json.dumps({"agent": {"model": {"name": "gpt-4o"}}}),
        }
    content = json.dumps(doc).encode()
    if draw(st.integers(0, 9)) == 0:
        content = b"\xef\xbb\xbf" + content
    return Case(
        {name: content},
        counted,
        sessions=1,
        input_tokens=sent,
        output_tokens=received,
        tool_calls=sum(1 for s in steps if s["action"].strip()),
    )


@st.composite
def cases(draw: Any) -> Case:
    """Runs of one task (run1/X.traj, run2/X.traj: attempts of their own), and what else lies around."""
    total = Case({})
    task = draw(st.sampled_from(["django__django-11099", "BabyEncryption", "x"]))
    for run in range(draw(st.integers(1, 3))):
        total = total.add(draw(trajectory(f"run{run}/{task}.traj")))
    junk = draw(
        st.sampled_from(
            [
                None,
                (b"", "empty_file"),
                (b'{"trajectory": [', "not_json"),
                (b"[1, 2]", "not_a_trajectory"),
                (b"\x00\xff garbage", "not_json"),
            ]
        )
    )
    if junk is not None:
        total = total.add(Case({"broken/junk.traj": junk[0]}, files_skipped=Counter({junk[1]: 1}), tool_calls=0))
    return total
