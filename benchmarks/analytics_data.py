"""Synthetic agent logs for the analytics benchmark: realistic shape, fixed seed.

Sessions of 20-80 events (tool calls and results, output, usage, errors, follow-ups),
most ended, some still open; a third of the errors in the original format (no
fingerprint, no category) so the analytics derive them; 10% of the files' events sit in
a gzip archive, as after a rotation.
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import msgspec

EXECUTORS = ("CODEX", "COPILOT", "CLAUDE_CODE", "GEMINI")
MODELS = ("gpt-5-codex", "claude-sonnet-4-5", "gemini-2.5-pro")
SIZES = ("xs", "s", "m", "l", "xl")
STATUSES = ("success", "success", "success", "failed", "timeout", "interrupted", "setup_failed")
MESSAGES = (
    "fatal: not a git repository (or any of the parent directories): .git",
    "npm ERR! network timeout at: https://registry.npmjs.org/left-pad-{n}",
    "ModuleNotFoundError: No module named 'pkg{n}'",
    "Error: 429 Too Many Requests: rate limit exceeded, retry after {n}s",
    "AssertionError: expected {n} to equal 200 in tests/test_api.py",
    "error TS2345: Argument of type 'string' is not assignable at src/app{n}.ts",
    "prompt is too long: {n} tokens > 200000 maximum",
    "Permission denied: /workspace/build/out{n}.o",
    "401 Unauthorized: invalid api key",
    "ECONNRESET: socket hang up after {n}ms",
)
_encode = msgspec.json.Encoder().encode
EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z


def _iso(t: float) -> str:
    whole = int(t)
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((t - whole) * 1000):03d}Z"


def sessions(n_events: int, seed: int = 7):
    """Yield one list of event dicts per session until n_events events are produced."""
    rng = random.Random(seed)
    made = 0
    s = 0
    tasks = max(1, n_events // 120)
    while made < n_events:
        s += 1
        task = rng.randrange(tasks)
        env = {
            "attempt_id": f"att-{s:07d}",
            "task_id": f"task-{task:05d}",
            "task_title": f"[{SIZES[task % 5]}] Task number {task}",
            "executor": rng.choice(EXECUTORS),
            "model": rng.choice(MODELS),
        }
        t = EPOCH + s * 120 + rng.random()
        count = min(rng.randint(20, 80), n_events - made)
        events = []

        def add(kind: str, data: dict) -> None:
            nonlocal t
            t += rng.random() * 5
            events.append(
                {
                    "timestamp": _iso(t),
                    "event_type": kind,
                    **env,
                    "event_id": f"{s:08x}-{len(events):04x}-7000-8000-000000000000",
                    "sequence_num": len(events) + 1,
                    "data": data,
                }
            )

        add(
            "session_start",
            {
                "prompt": "Implement the feature described in the task",
                "prompt_type": rng.choice(("initial", "initial", "initial", "retry")),
            },
        )
        ends = rng.random() < 0.9
        while len(events) < count - (1 if ends else 0):
            r = rng.random()
            if r < 0.35:
                add("tool_call", {"tool_name": "bash", "tool_params": {"cmd": "pytest -q tests/"}})
            elif r < 0.7:
                add(
                    "tool_result",
                    {
                        "tool_name": "bash",
                        "result": "error" if rng.random() < 0.1 else "success",
                        "result_data": "collected 12 items ... 12 passed in 0.4s",
                    },
                )
            elif r < 0.82:
                add(
                    "agent_output",
                    {"output": "Looking at the failing test, the handler returns 401.", "stream_type": "stdout"},
                )
            elif r < 0.88:
                add(
                    "usage",
                    {
                        "input_tokens": rng.randint(100, 5000),
                        "output_tokens": rng.randint(10, 900),
                        "cost_usd": round(rng.random() * 0.05, 6),
                    },
                )
            elif r < 0.9:
                add("followup_sent", {"message": "Please also fix the lint errors", "reason": "review"})
            else:
                message = rng.choice(MESSAGES).format(n=rng.randrange(40))
                data = {"error_message": message}
                if rng.random() < 0.67:
                    from agentlog.intel import analyze_error

                    info = _cached(message, analyze_error)
                    data.update(error_fingerprint=info[0], error_category=info[1])
                add("error", data)
        if ends:
            add(
                "session_end",
                {"completion_status": rng.choice(STATUSES), "duration_ms": round((t - EPOCH - s * 120) * 1000)},
            )
        made += len(events)
        yield events


_cache: dict[str, tuple[str, str]] = {}


def _cached(message, analyze):
    if message not in _cache:
        info = analyze(message)
        _cache[message] = (info.fingerprint, info.category)
    return _cache[message]


def write_logs(log_dir: Path, n_events: int, seed: int = 7, archived_share: float = 0.1) -> None:
    """Write the stream: the first `archived_share` of it gzip-archived, the rest live."""
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "archive").mkdir(exist_ok=True)
    cut = int(n_events * archived_share)
    done = 0
    archive = gzip.open(log_dir / "archive" / "agent-work-stream-20260101T000000Z.jsonl.gz", "wb", compresslevel=1)
    live = open(log_dir / "agent-work-stream.jsonl", "wb")
    try:
        for events in sessions(n_events, seed):
            out = archive if done < cut else live
            out.write(b"".join(_encode(e) + b"\n" for e in events))
            done += len(events)
    finally:
        archive.close()
        live.close()
