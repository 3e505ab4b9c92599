"""Claude Code session files as agents write them: prompts, replies written one content
block per line with the usage repeated and the output count growing, tool calls and their
results, records written twice, records nobody knows yet, bookkeeping records, and the
disk shapes of `disk.damaged`."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import strategies as st

from .disk import damaged, huge, line, timestamp, valid_time
from .harness import Case

MODEL = "claude-sonnet-4-5"


@st.composite
def session(draw: Any, name: str, index: int) -> Case:
    sid = f"5e55{index:04x}-0000-4000-8000-{draw(st.integers(0, 16**12 - 1)):012x}"
    counted: Counter = Counter()
    records: list[dict[str, Any]] = []
    calls, inputs, outputs, clock = 0, 0, 0, 0
    uid = iter(range(10**6))

    def record(kind: str, message: Any, **extra: Any) -> dict[str, Any]:
        nonlocal clock
        clock += draw(st.integers(1, 120))
        base = {
            "type": kind,
            "uuid": f"{sid}-{next(uid)}",
            "sessionId": sid,
            "timestamp": draw(timestamp(clock)),
            "cwd": "/work/app",
            "version": "2.0.1",
            "message": message,
            **extra,
        }
        if base["timestamp"] is None and draw(st.booleans()):
            del base["timestamp"]  # missing, not null
        if draw(st.integers(0, 9)) == 0:
            base[f"field_from_the_future_{clock}"] = {"nested": [1, "two"]}
        return base

    for turn in range(draw(st.integers(1, 4))):
        records.append(
            record(
                "user",
                {
                    "role": "user",
                    "content": draw(
                        st.sampled_from(["fix the failing test", "now add docs", "why did that fail?", "thanks"])
                    ),
                },
            )
        )
        for step in range(draw(st.integers(1, 3))):
            message_id = f"msg_{sid[-6:]}_{turn}_{step}"
            tool = draw(st.booleans())
            blocks: list[dict[str, Any]] = [{"type": "text", "text": "Let me look."}]
            if draw(st.booleans()):
                blocks.insert(0, {"type": "thinking", "thinking": "hmm", "signature": "x"})
            if tool:
                blocks.append(
                    {"type": "tool_use", "id": f"toolu_{message_id}", "name": "Bash", "input": {"command": "pytest -q"}}
                )
            usage_in, cache = draw(st.integers(1, 5000)), draw(st.integers(0, 50000))
            out = 0
            for n, block in enumerate(blocks):  # one line per content block, usage repeated, output growing
                out = (
                    draw(st.integers(out, out + 300)) if n < len(blocks) - 1 else draw(st.integers(out + 1, out + 500))
                )
                last = n == len(blocks) - 1
                message = {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": MODEL,
                    "content": [block],
                    "stop_reason": ("tool_use" if tool else "end_turn") if last else None,
                    "usage": {"input_tokens": usage_in, "cache_read_input_tokens": cache, "output_tokens": out},
                }
                extra = {"requestId": f"req_{message_id}"} if n or draw(st.booleans()) else {}
                records.append(record("assistant", message, **extra))
                if n:
                    counted["repeated_usage_line"] += 1
            inputs += usage_in + cache
            outputs += out
            if tool:
                calls += 1
                result = {
                    "type": "tool_result",
                    "tool_use_id": f"toolu_{message_id}",
                    "content": draw(st.sampled_from(["1 passed", "FAILED test_x.py::t - assert 1 == 2"])),
                    "is_error": draw(st.booleans()),
                }
                records.append(record("user", {"role": "user", "content": [result]}))
                if draw(st.integers(0, 4)) == 0:  # written twice by some versions
                    records.append(dict(records[-1]))
                    counted["repeated_record"] += 1
        if draw(st.integers(0, 3)) == 0:
            records.append({"type": "summary", "summary": "Fixing tests", "leafUuid": "x"})
            counted["known_ignored"] += 1
        if draw(st.integers(0, 5)) == 0:
            kind = f"brand_new_record_{turn}"
            records.append({"type": kind, "timestamp": "2025-01-01T00:00:00Z", "sessionId": sid})
            counted[f"unknown_type:{kind}"] += 1
    lines = [line(r) for r in records]
    if draw(st.integers(0, 19)) == 0:
        lines.insert(1, huge("huge_unknown"))
        counted["unknown_type:huge_unknown"] += 1
    content = draw(damaged(lines, counted))
    timed = any(valid_time(r.get("timestamp")) for r in records if r["type"] in ("user", "assistant"))
    if not timed:  # nothing has a time: not a session, nothing imported
        return Case({name: content}, counted, Counter(no_timestamp=1))
    return Case({name: content}, counted, sessions=1, input_tokens=inputs, output_tokens=outputs, tool_calls=calls)


@st.composite
def cases(draw: Any) -> Case:
    """A project folder of one to three sessions, and sometimes an empty or a junk file."""
    total = Case({})
    for index in range(draw(st.integers(1, 3))):
        total = total.add(draw(session(f"-work-app/{index:02d}-session.jsonl", index)))
    extra = draw(st.sampled_from([None, b"", b"\xef\xbb\xbf", b"\n\n", b"\x89PNG\r\n\x1a\n\x00\x00"]))
    if extra is not None:
        reason = "not_json_lines" if extra.strip(b"\xef\xbb\xbf\n") else "empty_file"
        total = total.add(Case({"-work-app/junk.jsonl": extra}, files_skipped=Counter({reason: 1}), tool_calls=0))
    return total
