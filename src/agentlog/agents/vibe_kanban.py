"""Vibe Kanban's local store: `db.v2.sqlite` in its data folder, and the console log of
each process it ran (`sessions/<2>/<session>/processes/<process>.jsonl`).

One attempt per workspace (a task's try in its own worktree and branch). Its attempt id
is the branch made a name (`ve/a1b2-fix-login` -> `ve-a1b2-fix-login`), which is what the
original system recorded, else the workspace's UUID. The attempt's events:

- session_start: the task's title and description, the worktree, the first prompt;
- per coding-agent process: each turn's prompt (a follow-up after the first), then the
  agent's own output (the `Stdout` of its console log is the stream-json `agentlog run`
  parses: tool calls, usage, errors), and an error when it failed or was killed;
- setup, cleanup and dev-server scripts as tool calls with their exit status;
- session_end once nothing runs: outcome = the PR when one was merged, else the last
  coding process's status and exit code.

The database is opened read-only, without creating `-wal`/`-shm` beside it (see
sqlite_readonly). UUIDs are 16-byte blobs. An import remembers, per workspace, which
processes it read and how many log lines; what changed since is read on the next one.
Console lines other than `Stdout`/`Stderr`/`JsonPatch`/`"Finished"` are counted.
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import uuid
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any, ClassVar, Iterator

from ..events import parse_time
from ..capture.sqlite_readonly import open_readonly
from ..capture.importers.base import IMPORTERS, Context, Importer, Mapper, clip, decode_record, safe_feed, stable_id

DEFAULT_DIR = (
    "~/Library/Application Support/ai.bloop.vibe-kanban" if sys.platform == "darwin" else "~/.local/share/vibe-kanban"
)
DB_NAMES = ("db.v2.sqlite", "db.sqlite")  # v2 is copied from the older name on upgrade
_BRANCH_ID = re.compile(r"^(v[ek])/([0-9a-f]{4}-.+)$")
STATUS = {"completed": "success", "failed": "failed", "killed": "interrupted"}


def as_uuid(value: Any) -> str | None:
    """A 16-byte blob (or a UUID text) as the UUID's text."""
    try:
        if isinstance(value, bytes) and len(value) == 16:
            return str(uuid.UUID(bytes=value))
        return str(uuid.UUID(str(value))) if value is not None else None
    except ValueError:
        return None


def as_time(value: Any) -> str | None:
    """SQLite's `2026-01-07 11:51:55.123` (UTC) as ISO 8601, None when it is no time."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace(" ", "T", 1)
    if not re.search(r"(Z|[+-]\d\d:?\d\d)$", text):
        text += "Z"
    try:
        parse_time(text)
    except ValueError:
        return None
    return text


def attempt_id_of(workspace_id: str, branch: str | None) -> str:
    """`ve/a1b2-slug` -> `ve-a1b2-slug`; a branch of another shape -> the workspace UUID."""
    match = _BRANCH_ID.match(branch or "")
    return f"{match.group(1)}-{match.group(2)}".replace("/", "-") if match else workspace_id


# --- the store, as rows ------------------------------------------------------------------


@dataclass
class Process:
    id: str
    session_id: str
    run_reason: str
    status: str
    exit_code: int | None
    started_at: str | None
    completed_at: str | None
    action: dict[str, Any]
    turns: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Workspace:
    id: str
    branch: str | None
    worktree: str | None
    created_at: str | None
    archived: bool
    task_id: str | None = None
    task_title: str | None = None
    task_description: str | None = None
    task_status: str | None = None
    executor: str | None = None  # of its first session
    processes: list[Process] = field(default_factory=list)
    merges: list[dict[str, Any]] = field(default_factory=list)

    @property
    def attempt_id(self) -> str:
        return attempt_id_of(self.id, self.branch)

    @property
    def variant(self) -> str | None:
        for process in self.processes:
            variant = _profile(process.action).get("variant")
            if variant:
                return str(variant)
        return None

    def outcome(self) -> dict[str, Any]:
        """PR merged, else the last coding process's status and exit code."""
        merged = next((m for m in self.merges if m.get("pr_status") == "merged"), None)
        if merged:
            return {"status": "merged", "pr_url": merged.get("pr_url"), "pr_number": merged.get("pr_number")}
        coding = [p for p in self.processes if p.run_reason == "codingagent"]
        last = coding[-1] if coding else None
        pr = next((m for m in reversed(self.merges) if m.get("pr_status")), None)
        out = {
            "status": last.status if last else None,
            "exit_code": last.exit_code if last else None,
            "pr_status": pr.get("pr_status") if pr else None,
            "pr_url": pr.get("pr_url") if pr else None,
            "task_status": self.task_status,
        }
        return {k: v for k, v in out.items() if v is not None}

    def completion_status(self) -> str:
        outcome = self.outcome()
        if outcome.get("status") == "merged":
            return "success"
        status = STATUS.get(str(outcome.get("status")), "failed")
        return "failed" if status == "success" and outcome.get("exit_code") not in (0, None) else status

    def running(self) -> bool:
        return any(p.status == "running" for p in self.processes)

    def last_time(self) -> str | None:
        times = [t for p in self.processes for t in (p.completed_at, p.started_at) if t] or [self.created_at]
        return max((t for t in times if t), key=parse_time, default=None)


def _profile(action: dict[str, Any]) -> dict[str, Any]:
    typ = action.get("typ") if isinstance(action.get("typ"), dict) else {}
    for name in ("executor_profile_id", "profile_variant_label"):
        if isinstance(typ.get(name), dict):
            return typ[name]
    return {}


def _tables(db: sqlite3.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _rows(db: sqlite3.Connection, sql: str) -> Iterator[dict[str, Any]]:
    cursor = db.execute(sql)
    names = [c[0] for c in cursor.description]
    for row in cursor:
        yield dict(zip(names, row))


def load(db: sqlite3.Connection) -> list[Workspace]:
    """Every workspace with its task, processes, turns and merges, oldest first."""
    tables = _tables(db)
    if not {"workspaces", "sessions", "execution_processes"} <= tables:
        raise UnsupportedSchema("no workspaces/sessions tables (a store from before Dec 2025)")
    tasks = {as_uuid(r["id"]): r for r in _rows(db, "SELECT * FROM tasks")} if "tasks" in tables else {}
    spaces: dict[str, Workspace] = {}
    for row in _rows(db, "SELECT * FROM workspaces ORDER BY created_at, id"):
        wid = as_uuid(row["id"])
        if wid is None:
            continue
        task = tasks.get(as_uuid(row.get("task_id"))) or {}
        spaces[wid] = Workspace(
            wid,
            row.get("branch"),
            row.get("container_ref"),
            as_time(row.get("created_at")),
            bool(row.get("archived")),
            as_uuid(row.get("task_id")),
            task.get("title"),
            task.get("description"),
            task.get("status"),
        )
    sessions: dict[str, str] = {}
    for row in _rows(db, "SELECT * FROM sessions ORDER BY created_at, id"):
        sid, wid = as_uuid(row["id"]), as_uuid(row["workspace_id"])
        if sid and wid in spaces:
            sessions[sid] = wid
            spaces[wid].executor = spaces[wid].executor or row.get("executor")
    processes: dict[str, Process] = {}
    for row in _rows(db, "SELECT * FROM execution_processes ORDER BY started_at, created_at, id"):
        pid, sid = as_uuid(row["id"]), as_uuid(row.get("session_id"))
        if pid is None or sid not in sessions or row.get("dropped"):
            continue
        try:
            action = json.loads(row.get("executor_action") or "{}")
        except ValueError:
            action = {}
        process = Process(
            pid,
            sid,
            row.get("run_reason") or "",
            row.get("status") or "",
            row.get("exit_code"),
            as_time(row.get("started_at")),
            as_time(row.get("completed_at")),
            action if isinstance(action, dict) else {},
        )
        processes[pid] = process
        spaces[sessions[sid]].processes.append(process)
    if "coding_agent_turns" in tables:
        for row in _rows(db, "SELECT * FROM coding_agent_turns ORDER BY created_at, id"):
            process = processes.get(as_uuid(row["execution_process_id"]))
            if process is not None:
                process.turns.append(
                    {
                        "id": as_uuid(row["id"]),
                        "agent_session_id": row.get("agent_session_id"),
                        "prompt": row.get("prompt"),
                        "summary": row.get("summary"),
                        "at": as_time(row.get("created_at")),
                    }
                )
    if "merges" in tables:
        for row in _rows(db, "SELECT * FROM merges ORDER BY created_at, id"):
            wid = as_uuid(row["workspace_id"])
            if wid in spaces:
                spaces[wid].merges.append({k: row.get(k) for k in ("merge_type", "pr_number", "pr_url", "pr_status")})
    return list(spaces.values())


class UnsupportedSchema(Exception):
    pass


def process_log(data_dir: Path, db: sqlite3.Connection, process: Process) -> list[Any]:
    """A process's console log: its file when there is one, else `execution_process_logs`."""
    path = data_dir / "sessions" / process.session_id[:2] / process.session_id / "processes" / f"{process.id}.jsonl"
    if path.is_file():
        raw = path.read_bytes()
    elif "execution_process_logs" in _tables(db):
        blob = uuid.UUID(process.id).bytes
        rows = db.execute(
            "SELECT logs FROM execution_process_logs WHERE execution_id = ? ORDER BY inserted_at", (blob,)
        ).fetchall()
        raw = "".join(r[0] if r[0].endswith("\n") else r[0] + "\n" for r in rows if isinstance(r[0], str)).encode()
    else:
        return []
    return raw.split(b"\n")[:-1]  # after the last newline: nothing, or a line still being written


# --- events ----------------------------------------------------------------------------------


class VibeKanbanMapper(Mapper):
    executor = "VIBE_KANBAN"  # replaced by the workspace's executor

    def event(self, event_type: str, data: dict[str, Any], timestamp: str | None, key: Any = None) -> dict[str, Any]:
        event = super().event(event_type, data, timestamp, key)
        for name in ("task_id", "task_title", "executor_variant"):
            if self.state.get(name):
                event.setdefault(name, self.state[name])
        return event

    def feed(self, record: Any, where: int | str) -> list[dict[str, Any]]:
        raise NotImplementedError  # a workspace is read by VibeKanbanImporter, not record by record

    def end_status(self) -> str:
        return self.state.get("completion") or super().end_status()


class VibeKanbanImporter(Importer):
    name = "vibe-kanban"
    executor = "VIBE_KANBAN"
    default_path = DEFAULT_DIR
    append_only = False
    follow: ClassVar[bool] = True
    hooks: ClassVar[bool] = False
    tokens: ClassVar[str] = "exact"
    cost: ClassVar[str] = "pricing"

    def files(self, root: Path, **options: Any) -> list[Path]:
        """The data folder's store (`db.v2.sqlite`, else the older `db.sqlite`), or the
        `db.v2.sqlite` of every data folder under `root` (a backup of several machines)."""
        if root.is_file():
            return [root]
        here = next(([root / n] for n in DB_NAMES if (root / n).is_file()), None)
        if here:
            return here
        saved, self.pattern = self.pattern, DB_NAMES[0]
        try:
            return super().files(root, **options)
        finally:
            self.pattern = saved

    def attempt_ids(self, path: Path) -> list[str]:
        try:
            with open_readonly(path) as db:
                return [space.attempt_id for space in load(db)]
        except (UnsupportedSchema, sqlite3.DatabaseError):
            return []

    def read(self, path: Path, entry: dict[str, Any], ctx: Context) -> Iterator[dict[str, Any]]:
        try:
            with open_readonly(path) as db:
                spaces = load(db)
                seen = entry.setdefault("workspaces", {})
                for space in spaces:
                    state = seen.setdefault(space.id, {})
                    yield from self._workspace(path.parent, db, space, state, ctx)
        except UnsupportedSchema:
            ctx.skip_file("unsupported_schema")
        except sqlite3.DatabaseError:
            ctx.skip_file("not_sqlite")

    def _workspace(
        self, data_dir: Path, db: sqlite3.Connection, space: Workspace, state: dict[str, Any], ctx: Context
    ) -> Iterator[dict[str, Any]]:
        complete = not space.running() and _age(space.last_time(), ctx) >= ctx.open_window_s
        signature = [[p.id, p.status, len(p.turns)] for p in space.processes] + [space.outcome()]
        if state.get("ended") and state.get("signature") == signature:
            return
        mapper = VibeKanbanMapper(space.attempt_id, ctx, state.get("mapper"))
        mapper.executor = str(space.executor or "VIBE_KANBAN")
        mapper.state.update(
            {
                k: v
                for k, v in {
                    "task_id": space.task_id,
                    "task_title": space.task_title,
                    "branch": space.branch,
                    "executor_variant": space.variant,
                }.items()
                if v
            }
        )
        if state.get("ended"):
            mapper.reopen()
        first_prompt = next((t["prompt"] for p in space.processes for t in p.turns if t.get("prompt")), None)
        agent_session = next(
            (t["agent_session_id"] for p in space.processes for t in p.turns if t.get("agent_session_id")), None
        )
        if agent_session and not mapper.state.get("session_id"):
            mapper.state["session_id"] = str(agent_session)  # the agent's own: what enrich and OTLP match on
        mapper.state["start_data"] = {"task_description": space.task_description, "working_dir": space.worktree}
        yield from mapper.ensure_started(first_prompt or space.task_title, space.created_at)
        done = state.setdefault("processes", {})
        for process in space.processes:
            yield from self._process(data_dir, db, mapper, process, done.setdefault(process.id, {}))
        if complete:
            for process in space.processes:  # what the agents' own mappers hold back (a last message's usage)
                agent = _agent_mapper(mapper, process, done.get(process.id, {}), None)
                if agent is not None:
                    yield from _with_task(mapper, process, agent.flush())
            mapper.state["end_data"] = {"outcome": space.outcome()}
            mapper.state["completion"] = space.completion_status()
            yield from mapper.finish()
        else:
            ctx.stats.open_sessions += 1
        state.update(mapper=mapper.state, ended=complete, signature=signature)

    def _process(
        self, data_dir: Path, db: sqlite3.Connection, mapper: VibeKanbanMapper, process: Process, seen: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        if seen.get("finished"):
            return
        ts = process.started_at
        if process.run_reason != "codingagent":
            if process.status == "running":
                return
            call = {"tool_name": process.run_reason or "script", "call_id": process.id}
            yield mapper.event(
                "tool_call", {**call, "tool_params": {"run_reason": process.run_reason}}, ts, key=(process.id, "call")
            )
            failed = process.status != "completed" or process.exit_code not in (0, None)
            yield mapper.event(
                "tool_result",
                {
                    **call,
                    "result": "error" if failed else "success",
                    "result_data": f"{process.status}, exit code {process.exit_code}",
                    "duration_ms": _ms(ts, process.completed_at),
                },
                process.completed_at or ts,
                key=(process.id, "result"),
            )
            seen["finished"] = True
            return
        for index, turn in enumerate(process.turns[seen.get("turns", 0) :], seen.get("turns", 0)):
            if mapper.state.get("prompted"):  # the first turn's prompt is the session_start's
                yield mapper.event(
                    "followup_sent",
                    {"message": turn.get("prompt"), "reason": "user"},
                    turn.get("at") or ts,
                    key=(process.id, "turn", index),
                )
            mapper.state["prompted"] = True
        seen["turns"] = len(process.turns)
        yield from self._console(data_dir, db, mapper, process, seen)
        if process.status == "running":
            return
        if not seen.get("exit_reported"):
            seen["exit_reported"] = True
            if process.status in ("failed", "killed") or process.exit_code not in (0, None):
                message = f"{process.run_reason} {process.status}, exit code {process.exit_code}"
                if seen.get("stderr"):
                    message += f": {seen['stderr'][-500:]}"
                yield mapper.event(
                    "error",
                    {"error_message": clip(message, 1000)},
                    process.completed_at or ts,
                    key=(process.id, "exit"),
                )
        # the status can be written before the log's last lines: done once the log says so
        seen["finished"] = bool(seen.get("log_done"))

    def _console(
        self, data_dir: Path, db: sqlite3.Connection, mapper: VibeKanbanMapper, process: Process, seen: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        lines = process_log(data_dir, db, process)
        ctx = mapper.ctx
        for number in range(seen.get("lines", 0), len(lines)):
            raw = lines[number]
            if not raw.strip():
                continue
            try:
                message = json.loads(raw)
            except ValueError:
                ctx.skip("malformed_json")
                continue
            if message == "Finished":
                seen["log_done"] = True
                continue
            kind = next(iter(message), None) if isinstance(message, dict) and len(message) == 1 else None
            if kind == "Stdout":
                yield from self._stdout(mapper, process, seen, str(message[kind]), number)
            elif kind == "Stderr":
                seen["stderr"] = (seen.get("stderr", "") + str(message[kind]))[-2000:]
            elif kind in ("JsonPatch", "SessionId", "MessageId", "Ready"):
                ctx.skip("known_ignored")  # the UI's normalized view of the same output
            else:
                ctx.skip(f"unknown_log_message:{kind}")
        seen["lines"] = len(lines)

    def _stdout(
        self, mapper: VibeKanbanMapper, process: Process, seen: dict[str, Any], text: str, number: int
    ) -> Iterator[dict[str, Any]]:
        """Stdout arrives in chunks, not lines: whole lines are the agent's stream-json."""
        buffer = seen.get("carry", "") + text
        *whole, seen["carry"] = buffer.split("\n")
        for index, line in enumerate(whole):
            record, problem = decode_record(line.encode())
            if record is None:
                if line.strip():
                    mapper.ctx.skip("stdout_not_json" if problem == "malformed_json" else problem)
                continue
            agent = _agent_mapper(mapper, process, seen, record)
            if agent is None:
                mapper.ctx.skip("stdout_unknown_stream")
                continue
            agent.state["last_ts"] = agent.state.get("last_ts") or process.started_at or mapper.state.get("last_ts")
            events = safe_feed(agent, record, f"{process.id}:{number}.{index}")
            seen["agent"]["state"] = agent.state
            yield from _with_task(mapper, process, events)


def _agent_mapper(
    mapper: VibeKanbanMapper, process: Process, seen: dict[str, Any], record: dict[str, Any] | None
) -> Mapper | None:
    """The mapper of the agent whose stream-json this process printed, resumed from its state."""
    known = seen.get("agent")
    if known:
        module, name = known["class"].split(":")
        cls = getattr(import_module(module), name)
        agent = cls(mapper.attempt_id, mapper.ctx, known["state"], lifecycle=False)
        agent.time_quality = "approximate"
        return agent
    if record is None:
        return None
    for importer in list(IMPORTERS.values()):
        if importer is VibeKanbanImporter:
            continue
        agent = importer().stream_mapper(record, mapper.attempt_id, mapper.ctx)
        if agent is not None:
            agent.stable_ids = True
            agent.time_quality = "approximate"
            seen["agent"] = {"class": f"{type(agent).__module__}:{type(agent).__qualname__}", "state": agent.state}
            return agent
    return None


def _with_task(mapper: VibeKanbanMapper, process: Process, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The agent's own events, with the workspace's task, branch and variant on them, and
    ids of their process (an agent's own ids need not be unique across its runs)."""
    for event in events:
        if event.get("event_id"):
            event["event_id"] = stable_id(process.id, event["event_id"])
        for name in ("task_id", "task_title", "executor_variant", "branch"):
            if mapper.state.get(name):
                event.setdefault(name, mapper.state[name])
    return events


def _age(timestamp: str | None, ctx: Context) -> float:
    try:
        return ctx.now - parse_time(timestamp)
    except (TypeError, ValueError):
        return float("inf")


def _ms(start: str | None, end: str | None) -> int | None:
    try:
        return max(0, round((parse_time(end) - parse_time(start)) * 1000))
    except (TypeError, ValueError):
        return None
