"""A deterministic, deliberately messy stream for checking the watch engine against a recording.

Everything the engine has a branch for shows up: interleaved attempts, stuck gaps, out-of-order
and non-stream timestamp formats, missing/odd fields, malformed lines, stragglers after an end,
reopened attempts, retries, costs, error and tool loops (identical and varied params).
"""

from __future__ import annotations

import random
import time

import msgspec

BASE = 1_767_225_600.0
TOOLS = ["Bash", "Read", "Edit", "grep"]
FINGERPRINTS = [
    ("rate_limit_exceeded-1a2b3c4d", "rate_limit"),
    ("timeout-5e6f7a8b", "timeout"),
    ("assertion_failed-9c0d1e2f", "test"),
    ("module_not_found-3a4b5c6d", "import"),
]


def _stamp(rng: random.Random, t: float) -> object:
    whole = int(t)
    second = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    ms = int(round((t - whole) * 1000)) % 1000
    pick = rng.random()
    if pick < 0.93:
        return f"{second}.{ms:03d}Z"
    if pick < 0.95:
        return f"{second}.{ms:03d}+00:00"
    if pick < 0.97:
        return f"{second}Z"
    if pick < 0.98:
        return second  # naive: UTC
    if pick < 0.99:
        return "yesterday"
    return 12345


def stream(seed: int = 7, events: int = 8_000, attempts: int = 300) -> list[bytes]:
    rng = random.Random(seed)
    encode = msgspec.json.Encoder().encode
    t = BASE
    live: dict[str, int] = {}
    ended: list[str] = []
    next_id = 0
    lines: list[bytes] = []
    burst: list[dict] = []  # a tool loop in progress: the next events are these calls
    for n in range(events):
        t += rng.choice([0.05, 0.2, 0.5, 1.0, 3.0])
        if rng.random() < 0.0015:
            t += rng.choice([200, 400, 1200])  # a quiet stream: stuck checks on the stream's clock
        if (len(live) < 6 and next_id < attempts) or not live:
            aid = f"att-{next_id:04d}"
            next_id += 1
            live[aid] = 0
            kind, data = "session_start", {"prompt_type": rng.choice(["initial", "initial", "retry", "followup"])}
        elif burst:
            call = burst.pop()
            aid, kind, data = call["aid"], "tool_call", call["data"]
        else:
            aid = rng.choice(sorted(live))
            live[aid] += 1
            pick = rng.random()
            if pick < 0.004:
                same = rng.random() < 0.5
                burst = [
                    {"aid": aid, "data": {"tool_name": "Bash", "tool_params": {"c": 0 if same else i}}}
                    for i in range(rng.randint(8, 14))
                ]
            if live[aid] > 40 and pick < 0.08:
                kind = "session_end"
                data = {"completion_status": rng.choice(["success", "failed", "failed", "crashed", "cancelled"])}
                if rng.random() < 0.3:
                    data["cost_usd"] = rng.choice([0.2, 1.5, 3.0])
                del live[aid]
                ended.append(aid)
            elif pick < 0.30:
                tool = rng.choice(TOOLS)
                params = {"command": f"run {rng.randint(0, 1 if rng.random() < 0.6 else 400)}"}
                kind, data = "tool_call", {"tool_name": tool, "tool_params": params}
                if rng.random() < 0.03:
                    data = {"tool_name": tool} if rng.random() < 0.5 else {"tool_name": 5, "tool_params": params}
            elif pick < 0.48:
                fp, category = rng.choice(FINGERPRINTS)
                kind, data = (
                    "error",
                    {"error_message": f"{fp} happened", "error_fingerprint": fp, "error_category": category},
                )
                if rng.random() < 0.1:
                    data = {"error_message": "x"} if rng.random() < 0.5 else {"error_fingerprint": ""}
            elif pick < 0.58:
                kind, data = "usage", {"cost_usd": rng.choice([0.01, 0.05, 0.2, True, "0.3", None])}
            elif pick < 0.60:
                kind, data = "followup_sent", {"prompt_type": "followup"}
            elif pick < 0.62:
                kind, data = "session_start", {"prompt_type": rng.choice(["retry", "followup"])}
            else:
                kind, data = rng.choice(["agent_output", "agent_thinking", "tool_result", "status"]), {"output": "..."}
        if ended and rng.random() < 0.01:  # a straggler, or a reopening, after the end
            aid = rng.choice(ended)
            kind = rng.choice(["agent_output", "tool_call", "session_start", "followup_sent"])
            data = {"tool_name": "Bash", "tool_params": {"command": "run 1"}, "prompt_type": "retry"}
            if kind in ("session_start", "followup_sent"):
                ended.remove(aid)
                live[aid] = 0
        when = t - rng.choice([0, 0, 0, 0, 0, 0, 0, 0, 0, 30, 700]) if rng.random() < 0.05 else t
        event: dict = {
            "timestamp": _stamp(rng, when),
            "event_type": kind,
            "attempt_id": aid,
            "executor": rng.choice(["CODEX", "CLAUDE_CODE"]),
            "task_id": f"task-{aid[-2:]}",
            "sequence_num": n,
            "data": data,
        }
        if rng.random() < 0.9:
            event["event_id"] = f"ev-{n:08d}"
        odd = rng.random()
        if odd < 0.005:
            del event["attempt_id"]
        elif odd < 0.008:
            event["attempt_id"] = 7
        elif odd < 0.011:
            event["data"] = None
        elif odd < 0.013:
            del event["data"]
        elif odd < 0.014:
            event["event_type"] = None
        lines.append(encode(event))
        if rng.random() < 0.002:
            lines.append(rng.choice([b"not json", b"[1, 2]", b"", b'{"data": "x", "attempt_id": "a"}']))
    return lines


# -- whole attempts, for the properties that must not depend on how a replay is read ---------

GAPS = [0.2, 0.5, 1.0, 3.0, 20.0, 200.0, 400.0, 1300.0]  # seconds; 400 and 1300 pass the 5 min stuck threshold
QUALITIES = [None, None, None, None, "approximate", "synthetic"]


def attempt_steps():
    """Hypothesis strategy: the shape of one attempt, [(gap, kind, variant)], its timestamp
    quality, how it ends, and how many days before BASE it ran (imported logs span months)."""
    from hypothesis import strategies as st

    step = st.tuples(st.integers(0, len(GAPS) - 1), st.integers(0, 6), st.integers(0, 3))
    return st.fixed_dictionaries(
        {
            "steps": st.lists(step, min_size=1, max_size=30),
            "quality": st.sampled_from(QUALITIES),
            "end": st.sampled_from([None, "success", "failed", "failed"]),
            "days_ago": st.integers(0, 150),
            "second": st.integers(0, 86_399),
        }
    )


def attempt_events(name: str, shape: dict, pad: int = 0) -> list[dict]:
    """The events of one attempt from its shape; `pad` bytes in each output make it span read batches."""
    t = BASE - shape["days_ago"] * 86_400 + shape["second"]
    quality = shape["quality"]
    events: list[dict] = []

    def add(kind: str, **data) -> None:
        event = {
            "timestamp": _iso(t),
            "event_type": kind,
            "attempt_id": name,
            "executor": "CODEX",
            "event_id": f"{name}-{len(events)}",
            "data": data,
        }
        if quality is not None:
            event["timestamp_quality"] = quality
        events.append(event)

    add("session_start", prompt_type="initial")
    for gap, kind, variant in shape["steps"]:
        t += GAPS[gap] * (-0.5 if gap == 2 and variant == 3 else 1)  # now and then a step back in time
        if kind == 0:
            add("error", error_message=f"boom {variant}", error_fingerprint=f"fp-{variant % 2}")
        elif kind == 1:
            add("tool_call", tool_name=f"tool-{variant % 2}", tool_params={"p": variant // 2})
        elif kind == 2:
            add("usage", cost_usd=0.2 * variant)
        elif kind == 3:
            add("status_change", status="turn_complete" if variant == 0 else "running")
        elif kind == 4:
            add("session_start", prompt_type="retry" if variant else "followup")
        elif kind == 5:
            add("tool_call", tool_name="tool-0", tool_params={"p": 0})  # the same call again: repetition
        else:
            add("agent_output", output="x" * (pad or 10))
    if shape["end"] is not None:
        t += 1
        add("session_end", completion_status=shape["end"])
    return events


def _iso(t: float) -> str:
    whole = int(t // 1)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int(round((t - whole) * 1000)) % 1000:03d}Z"
