"""Every reader of the logs run on one log dir, in this process: what each kept and reported.

Readers: `watch --replay --once`, `cat`, `replay`, `du`, `emit -`, the dashboard's pages
(starlette's TestClient) and `import claude-code`. Lines are plain bytes; a log dir gets
them both as its stream and as the transcript of ATTEMPT.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from agentlog.cli import cli
from agentlog.store import layout

ATTEMPT = "fz-1"
BASE = "2026-01-01T00:00:{:02d}.000Z"
PAGES = ["/", "/sessions", "/alerts", "/executors", "/errors", f"/sessions/{ATTEMPT}"]


def good_lines(count: int = 6) -> list[bytes]:
    """A finished session: start, tool call and result, an error, usage, end."""
    kinds = [
        ("session_start", {"prompt": "fix it", "prompt_type": "initial"}),
        ("tool_call", {"tool_name": "Bash", "tool_params": {"command": "pytest"}, "call_id": "c1"}),
        ("tool_result", {"tool_name": "Bash", "call_id": "c1", "result": "error", "result_data": "1 failed"}),
        ("error", {"error_message": "AssertionError: expected 2, got 3"}),
        ("usage", {"input_tokens": 1200, "output_tokens": 300, "cost_usd": 0.01}),
    ]
    lines = []
    for i in range(count - 1):
        kind, data = kinds[i % len(kinds)]
        lines.append(
            {
                "timestamp": BASE.format(i),
                "event_type": kind,
                "attempt_id": ATTEMPT,
                "executor": "CODEX",
                "sequence_num": i,
                "data": data,
            }
        )
    lines.append(
        {
            "timestamp": BASE.format(count),
            "event_type": "session_end",
            "attempt_id": ATTEMPT,
            "executor": "CODEX",
            "sequence_num": count,
            "data": {"completion_status": "failed"},
        }
    )
    return [json.dumps(line).encode() for line in lines]


@dataclass
class Seen:
    code: int
    out: str
    err: str
    error: BaseException | None = None  # an exception the command let escape (a crash)


def run(*args: str, input: bytes | None = None) -> Seen:
    result = CliRunner().invoke(cli, list(args), input=input)
    crash = result.exception if not isinstance(result.exception, SystemExit) else None
    return Seen(result.exit_code, result.stdout, result.stderr, crash)


def write_logs(log_dir: Path, lines: list[bytes]) -> Path:
    """The lines as the stream and as ATTEMPT's transcript; returns the stream's path."""
    body = b"".join(line + b"\n" for line in lines)
    transcript = layout.session_path(log_dir, ATTEMPT)
    transcript.parent.mkdir(parents=True, exist_ok=True)
    transcript.write_bytes(body)
    stream = log_dir / layout.STREAM
    stream.write_bytes(body)
    return stream


def skipped_lines(err: str, path: Path) -> list[int]:
    """Line numbers of `skipped PATH:LINE: reason` notes (cat, replay)."""
    return [int(n) for n in re.findall(rf"skipped {re.escape(str(path))}:(\d+):", err)]


def watch(log_dir: Path, *args: str) -> tuple[Seen, int, int]:
    """`watch --replay --once`: what it said, and its events and malformed counts."""
    seen = run("watch", "--replay", "--once", "--quiet", "--log-dir", str(log_dir), *args)
    found = re.search(r"(\d+) events, \d+ new alerts, (\d+) malformed lines skipped", seen.err)
    return seen, int(found[1]) if found else -1, int(found[2]) if found else -1


def told_offsets(err: str, path: Path) -> list[int]:
    """Byte offsets of the watchdog's `PATH: byte N: reason; skipped` notes."""
    return [int(n) for n in re.findall(rf"{re.escape(str(path))}: byte (\d+): ", err)]


def offsets(lines: list[bytes]) -> list[int]:
    """The byte offset each line starts at in the file `write_logs` makes."""
    starts, at = [], 0
    for line in lines:
        starts.append(at)
        at += len(line) + 1
    return starts


def dashboard(log_dir: Path) -> dict[str, tuple[int, str]]:
    """Status and text of every dashboard page (no server: the ASGI app in this process)."""
    from starlette.testclient import TestClient

    from agentlog.web.app import create_app

    with TestClient(create_app(log_dir), base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        return {page: (r.status_code, r.text) for page in PAGES for r in [client.get(page)]}


def claude_records(count: int = 4) -> list[bytes]:
    """A small Claude Code transcript: a prompt, then tool calls and their results."""
    sid = "c0ffee00-0000-4000-8000-00000000fa11"
    records = [
        {
            "type": "user",
            "uuid": "u-0",
            "sessionId": sid,
            "timestamp": BASE.format(0),
            "message": {"role": "user", "content": "fix the test"},
        }
    ]
    for i in range(1, count):
        records.append(
            {
                "type": "assistant",
                "uuid": f"a-{i}",
                "sessionId": sid,
                "timestamp": BASE.format(2 * i),
                "message": {
                    "id": f"msg_{i}",
                    "role": "assistant",
                    "model": "claude-sonnet-4-5",
                    "content": [
                        {"type": "tool_use", "id": f"t{i}", "name": "Bash", "input": {"command": f"pytest -k t{i}"}}
                    ],
                    "usage": {"input_tokens": 10, "output_tokens": 5},
                },
            }
        )
        records.append(
            {
                "type": "user",
                "uuid": f"r-{i}",
                "sessionId": sid,
                "timestamp": BASE.format(2 * i + 1),
                "message": {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": f"t{i}", "content": "ok"}],
                },
            }
        )
    return [json.dumps(r).encode() for r in records]


def import_claude(folder: Path, log_dir: Path, lines: list[bytes]) -> tuple[Seen, list[tuple]]:
    """Import one transcript of these lines (finished: written long ago); what was said and the
    (event_type, data) of every event recorded."""
    import os

    path = folder / "-proj" / "c0ffee00-0000-4000-8000-00000000fa11.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    os.utime(path, (1_700_000_000, 1_700_000_000))
    seen = run("import", "claude-code", str(folder), "--log-dir", str(log_dir), "--quiet")
    stream = log_dir / layout.STREAM
    events = [json.loads(line) for line in stream.read_bytes().splitlines()] if stream.exists() else []
    return seen, [(e["event_type"], json.dumps(e["data"], sort_keys=True)) for e in events]
