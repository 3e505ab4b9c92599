"""Vibe Kanban stores for tests, test-made: the schema from the project's own migrations
(../shared/fixtures/vibe-kanban), the rows written here (no filled store was published).

The migrations use `datetime('now', 'subsec')`, which SQLite before 3.42 reads as NULL;
they are applied with the equivalent `strftime('%Y-%m-%d %H:%M:%f', 'now')`. sqlx runs
each migration in a transaction (some commit and begin their own): so does `build`.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import tempfile
import uuid
from pathlib import Path

from conftest import SHARED

MIGRATIONS = SHARED / "fixtures" / "vibe-kanban" / "vibe-kanban" / "migrations"
SUBSEC = ("datetime('now', 'subsec')", "strftime('%Y-%m-%d %H:%M:%f', 'now')")


def build(path: Path, *, wal: bool = True) -> sqlite3.Connection:
    """An empty store at the latest schema (in WAL mode, as Vibe Kanban keeps it, unless not `wal`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_schema())
    db = sqlite3.connect(path, isolation_level=None)
    if wal:
        db.execute("PRAGMA journal_mode=WAL")
    return db


@functools.cache
def _schema() -> bytes:
    """The migrated empty store's bytes, built once per process."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch, "db.sqlite")
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA synchronous=OFF")
        for migration in sorted(MIGRATIONS.glob("*.sql")):
            db.executescript("BEGIN;\n" + migration.read_text().replace(*SUBSEC))
            if db.in_transaction:
                db.execute("COMMIT")
        db.close()
        return path.read_bytes()


def blob(text: str) -> bytes:
    return uuid.UUID(text).bytes


def claude_stream(session_id: str, *, tool: bool = True, tokens: tuple[int, int] = (100, 20)) -> list[str]:
    """What `claude -p --output-format stream-json` prints (and Vibe Kanban keeps as Stdout)."""
    lines = [{"type": "system", "subtype": "init", "session_id": session_id, "model": "claude-sonnet-4-5"}]
    content = [{"type": "text", "text": "Fixing it."}]
    if tool:
        content.append(
            {"type": "tool_use", "id": f"toolu_{session_id[:8]}", "name": "Bash", "input": {"command": "pytest -q"}}
        )
    lines.append(
        {
            "type": "assistant",
            "session_id": session_id,
            "uuid": f"{session_id}-a1",
            "message": {
                "id": f"msg_{session_id[:8]}",
                "role": "assistant",
                "model": "claude-sonnet-4-5",
                "content": content,
                "stop_reason": "tool_use" if tool else "end_turn",
                "usage": {"input_tokens": tokens[0], "output_tokens": tokens[1]},
            },
        }
    )
    if tool:
        lines.append(
            {
                "type": "user",
                "session_id": session_id,
                "uuid": f"{session_id}-u1",
                "message": {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": f"toolu_{session_id[:8]}",
                            "content": "1 failed",
                            "is_error": True,
                        }
                    ],
                },
            }
        )
    lines.append(
        {
            "type": "result",
            "subtype": "success",
            "session_id": session_id,
            "is_error": False,
            "total_cost_usd": 0.01,
            "num_turns": 1,
        }
    )
    return [json.dumps(line) for line in lines]


def console(stdout_lines: list[str], *, chunk: int = 37, stderr: str = "", finished: bool = True) -> bytes:
    """A process's console log: Stdout cut into chunks that do not follow lines."""
    text = "".join(line + "\n" for line in stdout_lines)
    out = [json.dumps({"Stdout": text[i : i + chunk]}) for i in range(0, len(text), chunk)]
    out.append(json.dumps({"JsonPatch": [{"op": "add", "path": "/entries/0", "value": {}}]}))
    if stderr:
        out.append(json.dumps({"Stderr": stderr}))
    if finished:
        out.append(json.dumps("Finished"))
    return "".join(line + "\n" for line in out).encode()


class Store:
    """Rows of one Vibe Kanban data folder."""

    def __init__(self, data_dir: Path, *, wal: bool = True):
        self.dir = data_dir
        self.db = build(data_dir / "db.v2.sqlite", wal=wal)
        self.project = str(uuid.uuid4())
        self.db.execute(
            "INSERT INTO projects (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
            (blob(self.project), "app", "2026-01-01 00:00:00", "2026-01-01 00:00:00"),
        )

    def workspace(
        self,
        title: str,
        slug: str,
        *,
        at: str = "2026-01-07 10:00:00.000",
        executor: str = "CLAUDE_CODE",
        description: str | None = None,
    ) -> tuple[str, str]:
        """A task with one workspace (branch `ve/<4 hex>-<slug>`) and its session: (workspace, session)."""
        task, space, session = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
        self.db.execute(
            "INSERT INTO tasks (id, project_id, title, description, status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, 'inprogress', ?, ?)",
            (blob(task), blob(self.project), title, description, at, at),
        )
        self.db.execute(
            "INSERT INTO workspaces (id, task_id, container_ref, branch, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (blob(space), blob(task), f"/tmp/worktrees/{slug}", f"ve/{space[:4]}-{slug}", at, at),
        )
        self.db.execute(
            "INSERT INTO sessions (id, workspace_id, executor, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
            (blob(session), blob(space), executor, at, at),
        )
        return space, session

    def process(
        self,
        session: str,
        *,
        reason: str = "codingagent",
        status: str = "completed",
        exit_code: int | None = 0,
        started: str = "2026-01-07 10:00:01.000",
        completed: str | None = "2026-01-07 10:05:00.000",
        prompt: str | None = None,
        agent_session_id: str | None = None,
        log: bytes | None = None,
        variant: str | None = "DEFAULT",
        log_in_db: bool = False,
    ) -> str:
        process = str(uuid.uuid4())
        action = {
            "typ": {
                "type": "CodingAgentInitialRequest",
                "prompt": prompt,
                "executor_profile_id": {"executor": "CLAUDE_CODE", "variant": variant},
            }
        }
        self.db.execute(
            "INSERT INTO execution_processes (id, session_id, executor_action, status, exit_code, run_reason, "
            "started_at, completed_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                blob(process),
                blob(session),
                json.dumps(action),
                status,
                exit_code,
                reason,
                started,
                completed,
                started,
                started,
            ),
        )
        if reason == "codingagent":
            self.db.execute(
                "INSERT INTO coding_agent_turns (id, execution_process_id, agent_session_id, prompt, summary, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (blob(str(uuid.uuid4())), blob(process), agent_session_id, prompt, "done", started, started),
            )
        if log is not None and log_in_db:
            self.db.execute(
                "INSERT INTO execution_process_logs (execution_id, logs, byte_size, inserted_at) VALUES (?, ?, ?, ?)",
                (blob(process), log.decode(), len(log), started),
            )
        elif log is not None:
            path = self.dir / "sessions" / session[:2] / session / "processes" / f"{process}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(log)
        return process

    def merge(self, workspace: str, status: str = "merged", number: int = 7) -> None:
        self.db.execute(
            "INSERT INTO merges (id, workspace_id, merge_type, pr_number, pr_url, pr_status, created_at, "
            "target_branch_name) VALUES (?, ?, 'pr', ?, ?, ?, ?, 'main')",
            (
                blob(str(uuid.uuid4())),
                blob(workspace),
                number,
                f"https://github.com/o/r/pull/{number}",
                status,
                "2026-01-07 11:00:00",
            ),
        )

    def close(self) -> None:
        self.db.close()
