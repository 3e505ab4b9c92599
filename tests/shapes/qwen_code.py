"""Qwen Code chat JSONL as the agent appends it: user, assistant (Gemini parts with
functionCall and thought text, usageMetadata), tool_result and ui_telemetry system records,
a record written twice under its uuid, records nobody knows yet, and `disk.damaged`."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import strategies as st

from .disk import damaged, line, timestamp, valid_time
from .harness import Case, several


@st.composite
def session(draw: Any, name: str, index: int) -> Case:
    sid = f"0e55{index:04x}-0000-4000-8000-{draw(st.integers(0, 16**12 - 1)):012x}"
    counted: Counter = Counter()
    records: list[dict[str, Any]] = []
    calls = inputs = outputs = 0
    clock = 0

    def record(kind: str, uid: str, **extra: Any) -> dict[str, Any]:
        nonlocal clock
        clock += draw(st.integers(1, 120))
        return {
            "uuid": uid,
            "sessionId": sid,
            "timestamp": draw(timestamp(clock)),
            "type": kind,
            "cwd": "/w",
            "version": "0.18.1",
            **extra,
        }

    for turn in range(draw(st.integers(1, 3))):
        records.append(record("user", f"u{index}-{turn}", message={"role": "user", "parts": [{"text": "go"}]}))
        for step in range(draw(st.integers(1, 3))):
            uid = f"a{index}-{turn}-{step}"
            prompt = draw(st.integers(0, 9000))
            cached, out, thoughts = draw(st.integers(0, prompt)), draw(st.integers(0, 500)), draw(st.integers(0, 99))
            parts: list[dict[str, Any]] = [{"text": "thinking", "thought": True}, {"text": "ok"}]
            tool = draw(st.booleans())
            if tool:
                parts.append({"functionCall": {"id": f"c{uid}", "name": "read_file", "args": {"path": "/a"}}})
            usage = {
                "promptTokenCount": prompt,
                "candidatesTokenCount": out,
                "thoughtsTokenCount": thoughts,
                "cachedContentTokenCount": cached,
                "totalTokenCount": prompt + out + thoughts,
            }
            records.append(
                record(
                    "assistant",
                    uid,
                    model="qwen3-coder-plus",
                    message={"role": "model", "parts": parts},
                    usageMetadata=usage,
                )
            )
            inputs += prompt
            outputs += out + thoughts
            if draw(st.integers(0, 4)) == 0:  # written twice: the first copy counts
                records.append(dict(records[-1], usageMetadata={**usage, "candidatesTokenCount": out + 7}))
                counted["repeated_record"] += 1
            records.append(
                record(
                    "system",
                    f"s{uid}",
                    subtype="ui_telemetry",
                    systemPayload={"uiEvent": {"event.name": "qwen-code.api_response", "input_token_count": prompt}},
                )
            )
            counted["known_ignored"] += 1
            if tool:
                calls += 1
                status = draw(st.sampled_from(["success", "error"]))
                response = {"output": "x"} if status == "success" else {"error": "Path must be absolute"}
                records.append(
                    record(
                        "tool_result",
                        f"r{uid}",
                        message={
                            "role": "user",
                            "parts": [
                                {"functionResponse": {"id": f"c{uid}", "name": "read_file", "response": response}}
                            ],
                        },
                        toolCallResult={"callId": f"c{uid}", "status": status},
                    )
                )
        if draw(st.integers(0, 5)) == 0:
            records.append(record(f"new_kind_{turn}", f"n{index}-{turn}"))
            counted[f"unknown_type:new_kind_{turn}"] += 1
    content = draw(damaged([line(r) for r in records], counted))
    if not any(
        valid_time(r["timestamp"]) for r in records if r["type"] in ("user", "assistant", "tool_result", "system")
    ):
        return Case({name: content}, counted, Counter(no_timestamp=1))
    return Case({name: content}, counted, sessions=1, input_tokens=inputs, output_tokens=outputs, tool_calls=calls)


@st.composite
def cases(draw: Any) -> Case:
    return several(draw, session, "projects/-w/chats/{:02d}-chat.jsonl")
