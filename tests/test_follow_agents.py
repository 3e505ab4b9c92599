"""`agentlog watch --follow AGENT` for the agents added by issue 19: a session in each agent's own
format (written here, in the shapes of the fixtures) that runs the same failing test four
times becomes an error_loop alert, whether the watchdog was running while it was written or
read it on its next start; OpenCode's database is read through its WAL as OpenCode writes it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Callable

import pytest

from conftest import AGENTLOG, run_cli
from watchkit import alerts, iso, wait_for

QUIET_ENV = {"AGENT_STUCK_THRESHOLD_MS": "86400000"}
FAILING = "1 failed: AssertionError: expected 200, got 401"
SID = "c0ffee00-0000-4000-8000-00000000f019"
CMD = {"command": "pytest -q tests/test_login.py"}


def gemini(t0: float, n: int) -> list[dict]:
    records = [
        {"sessionId": SID, "projectHash": "ab", "startTime": iso(t0), "lastUpdated": iso(t0), "kind": "main"},
        {"id": "u0", "timestamp": iso(t0), "type": "user", "content": [{"text": "Fix the login test"}]},
    ]
    for i in range(n):
        call = {
            "id": f"t{i}",
            "name": "run_shell_command",
            "args": CMD,
            "status": "error",
            "timestamp": iso(t0 + i + 1),
            "result": [
                {"functionResponse": {"id": f"t{i}", "name": "run_shell_command", "response": {"error": FAILING}}}
            ],
        }
        base = {
            "id": f"g{i}",
            "timestamp": iso(t0 + i + 1),
            "type": "gemini",
            "content": "",
            "model": "gemini-2.5-pro",
            "tokens": {"input": 10, "output": 2, "cached": 0, "thoughts": 0, "tool": 0, "total": 12},
        }
        records += [base, {"$set": {"lastUpdated": iso(t0 + i + 1)}}, {**base, "toolCalls": [call]}]
    return records


def qwen(t0: float, n: int) -> list[dict]:
    common = {"sessionId": SID, "cwd": "/proj", "version": "0.18.1"}
    records = [
        {
            "uuid": "u0",
            "timestamp": iso(t0),
            "type": "user",
            **common,
            "message": {"role": "user", "parts": [{"text": "Fix the login test"}]},
        }
    ]
    for i in range(n):
        records.append(
            {
                "uuid": f"a{i}",
                "timestamp": iso(t0 + i + 1),
                "type": "assistant",
                **common,
                "message": {
                    "role": "model",
                    "parts": [{"functionCall": {"id": f"c{i}", "name": "run_shell_command", "args": CMD}}],
                },
            }
        )
        records.append(
            {
                "uuid": f"r{i}",
                "timestamp": iso(t0 + i + 1.5),
                "type": "tool_result",
                **common,
                "message": {
                    "role": "user",
                    "parts": [
                        {
                            "functionResponse": {
                                "id": f"c{i}",
                                "name": "run_shell_command",
                                "response": {"error": FAILING},
                            }
                        }
                    ],
                },
                "toolCallResult": {"callId": f"c{i}", "status": "error"},
            }
        )
    return records


def copilot(t0: float, n: int) -> list[dict]:
    def event(kind: str, t: float, **data: object) -> dict:
        return {"type": kind, "data": data, "id": f"{kind}{t}", "timestamp": iso(t), "parentId": None}

    records = [
        event("session.start", t0, sessionId=SID, copilotVersion="1.0.34", context={"cwd": "/proj"}),
        event("user.message", t0, content="Fix the login test"),
    ]
    for i in range(n):
        records.append(
            event(
                "assistant.message",
                t0 + i + 1,
                messageId=f"m{i}",
                content="",
                outputTokens=5,
                toolRequests=[{"toolCallId": f"c{i}", "name": "bash", "arguments": CMD}],
            )
        )
        records.append(
            event(
                "tool.execution_complete", t0 + i + 1.5, toolCallId=f"c{i}", success=False, error={"message": FAILING}
            )
        )
    return records


def parts_messages(n: int) -> list[tuple[str, list[dict]]]:
    messages = [("user", [{"type": "text", "text": "<user_query>Fix the login test</user_query>"}])]
    for i in range(n):
        messages.append(("assistant", [{"type": "tool_use", "id": f"c{i}", "name": "Shell", "input": CMD}]))
        messages.append(
            ("user", [{"type": "tool_result", "tool_use_id": f"c{i}", "content": FAILING, "is_error": True}])
        )
    return messages


def cursor(t0: float, n: int) -> list[dict]:
    return [{"role": role, "message": {"content": content}} for role, content in parts_messages(n)]


def droid(t0: float, n: int) -> list[dict]:
    return [{"type": "session_start", "id": SID, "cwd": "/proj"}] + [
        {"type": "message", "id": f"m{i}", "timestamp": iso(t0 + i), "message": {"role": role, "content": content}}
        for i, (role, content) in enumerate(parts_messages(n))
    ]


APPENDED: dict[str, tuple[str, Callable[[float, int], list[dict]]]] = {
    "gemini-cli": (f"tmp/proj/chats/session-2026-01-01T00-00-{SID[:8]}.jsonl", gemini),
    "qwen-code": (f"projects/-proj/chats/{SID}.jsonl", qwen),
    "copilot-cli": (f"session-state/{SID}/events.jsonl", copilot),
    "cursor-agent": (f"proj/agent-transcripts/{SID}/{SID}.jsonl", cursor),
    "droid": (f"proj/{SID}.jsonl", droid),
}


@pytest.mark.parametrize("agent", sorted(APPENDED))
def test_a_failing_loop_written_while_the_watchdog_was_down_is_an_alert_on_its_next_start(
    agent: str, tmp_path: Path, log_dir: Path
) -> None:
    name, make = APPENDED[agent]
    transcript = tmp_path / "agent" / name
    transcript.parent.mkdir(parents=True)
    lines = [json.dumps(r) + "\n" for r in make(time.time() - 30, 4)]
    transcript.write_text(lines[0])
    args = ("watch", "--log-dir", str(log_dir), "--follow", agent, str(tmp_path / "agent"), "--once", "--quiet")
    run_cli(*args, env=QUIET_ENV, check=True)  # a first start: what was there is history
    with open(transcript, "a") as handle:
        handle.write("".join(lines[1:]))
    run_cli(*args, env=QUIET_ENV, check=True)
    (loop,) = [a for a in alerts(log_dir) if a["type"] == "error_loop"]
    assert loop["occurrences"] == 4
    again = run_cli(*args, env=QUIET_ENV, check=True)
    assert "0 events, 0 new alerts" in again.stderr.decode()


def test_follow_opencode_reads_the_database_through_its_wal_while_opencode_writes(
    tmp_path: Path, log_dir: Path
) -> None:
    folder = tmp_path / "opencode"
    folder.mkdir()
    db = sqlite3.connect(folder / "opencode.db")  # OpenCode, running
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript("""
        CREATE TABLE session (id text PRIMARY KEY, project_id text, parent_id text, slug text, directory text,
          title text, version text, time_created integer, time_updated integer);
        CREATE TABLE message (id text PRIMARY KEY, session_id text, time_created integer, time_updated integer, data text);
        CREATE TABLE part (id text PRIMARY KEY, message_id text, session_id text, time_created integer,
          time_updated integer, data text);""")
    t0 = int((time.time() - 30) * 1000)
    db.execute("INSERT INTO session VALUES ('ses_1', 'p', NULL, 's', '/proj', 't', '1.2.15', ?, ?)", (t0, t0))
    db.execute(
        "INSERT INTO message VALUES ('msg_0', 'ses_1', ?, ?, ?)",
        (t0, t0, json.dumps({"role": "user", "time": {"created": t0}})),
    )
    db.execute(
        "INSERT INTO part VALUES ('prt_0', 'msg_0', 'ses_1', ?, ?, ?)",
        (t0, t0, json.dumps({"type": "text", "text": "Fix the login test"})),
    )
    db.commit()
    proc = subprocess.Popen(
        [*AGENTLOG, "watch", "--log-dir", str(log_dir), "--follow", "opencode", str(folder), "--json"],
        env={**os.environ, **QUIET_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert wait_for(lambda: (log_dir / "state" / "watch-heartbeat.json").exists(), 30)
        for i in range(1, 5):
            t = t0 + i * 1000
            data = {
                "role": "assistant",
                "time": {"created": t, "completed": t + 500},
                "modelID": "glm-5",
                "finish": "tool-calls",
                "tokens": {"input": 10, "output": 2, "reasoning": 0, "cache": {"read": 0}},
            }
            db.execute("INSERT INTO message VALUES (?, 'ses_1', ?, ?, ?)", (f"msg_{i}", t, t, json.dumps(data)))
            part = {
                "type": "tool",
                "callID": f"c{i}",
                "tool": "bash",
                "state": {"status": "error", "input": CMD, "error": FAILING},
            }
            db.execute(
                "INSERT INTO part VALUES (?, ?, 'ses_1', ?, ?, ?)", (f"prt_{i}", f"msg_{i}", t, t, json.dumps(part))
            )
            db.execute("UPDATE session SET time_updated = ? WHERE id = 'ses_1'", (t,))
            db.commit()
            time.sleep(0.05)
        assert wait_for(lambda: any(a["type"] == "error_loop" for a in alerts(log_dir)), 30), alerts(log_dir)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        db.close()
    assert proc.returncode == 0, err.decode()
    (loop,) = [a for a in alerts(log_dir) if a["type"] == "error_loop"]
    assert loop["attempt_id"] == "ses_1" and loop["executor"] == "OPENCODE"
    assert sorted(p.name for p in folder.iterdir()) == ["opencode.db"]  # the WAL checkpointed by OpenCode's close
