"""`agentlog import vibe-kanban`: workspaces of a test-made store (vkkit: schema from the
project's migrations, rows written here) become attempts with their task, prompts, the
agent's own stream-json output, scripts and outcome; the user's files are never touched."""

from __future__ import annotations

import uuid
from pathlib import Path

from agentlog.store import layout
from conftest import SHARED, read_jsonl, run_cli
from vkkit import Store, claude_stream, console


def _import(data_dir: Path, log_dir: Path) -> str:
    return run_cli("import", "vibe-kanban", str(data_dir), "--log-dir", str(log_dir), check=True).stdout.decode()


def _events(log_dir: Path) -> list[dict]:
    return read_jsonl(log_dir / layout.STREAM)


def _store(tmp_path: Path) -> tuple[Store, dict[str, str]]:
    store = Store(tmp_path / "vk")
    merged, session = store.workspace("Fix login", "fix-login", description="Users cannot log in")
    store.process(session, reason="setupscript", started="2026-01-07 10:00:00.500", completed="2026-01-07 10:00:00.900")
    store.process(
        session,
        prompt="Fix the login bug",
        agent_session_id="11111111-2222-4333-8444-555555555555",
        log=console(claude_stream("11111111-2222-4333-8444-555555555555")),
    )
    store.process(
        session,
        prompt="Also add a test",
        started="2026-01-07 10:06:00.000",
        completed="2026-01-07 10:07:00.000",
        agent_session_id="11111111-2222-4333-8444-555555555555",
        log=console(claude_stream("11111111-2222-4333-8444-555555555555", tool=False, tokens=(50, 5))),
        variant="PLAN",
    )
    store.merge(merged)
    failed, session = store.workspace("Add dark mode", "dark-mode", executor="CODEX")
    store.process(
        session,
        prompt="Add dark mode",
        status="failed",
        exit_code=1,
        log=console([], stderr="boom: API key"),
        log_in_db=True,
    )
    return store, {"merged": merged, "failed": failed}


def test_workspaces_become_attempts_with_task_prompts_tool_calls_usage_and_outcome(tmp_path: Path) -> None:
    store, ids = _store(tmp_path)
    store.close()
    out = _import(store.dir, tmp_path / "logs")
    assert "2 sessions" in out and "known_ignored" in out
    events = _events(tmp_path / "logs")
    merged = [e for e in events if e["attempt_id"] == f"ve-{ids['merged'][:4]}-fix-login"]
    assert {e["task_title"] for e in merged} == {"Fix login"} and {e["executor"] for e in merged} >= {"CLAUDE_CODE"}
    start = merged[0]
    assert start["event_type"] == "session_start" and start["data"]["prompt"] == "Fix the login bug"
    assert (
        start["data"]["task_description"] == "Users cannot log in"
        and start["branch"] == f"ve/{ids['merged'][:4]}-fix-login"
    )
    kinds = [e["event_type"] for e in merged]
    assert kinds.count("followup_sent") == 1 and kinds.count("usage") == 2
    calls = [e["data"]["tool_name"] for e in merged if e["event_type"] == "tool_call"]
    assert calls == ["setupscript", "Bash"]
    usage = [e["data"] for e in merged if e["event_type"] == "usage"]
    assert [u["input_tokens"] for u in usage] == [100, 50]
    assert merged[-1]["event_type"] == "session_end"
    assert merged[-1]["data"]["completion_status"] == "success"
    assert merged[-1]["data"]["outcome"]["status"] == "merged"
    assert {e.get("executor_variant") for e in merged} == {"DEFAULT"}
    failed = [e for e in events if e["attempt_id"] == f"ve-{ids['failed'][:4]}-dark-mode"]
    assert [e["data"]["error_message"] for e in failed if e["event_type"] == "error"] == [
        "codingagent failed, exit code 1: boom: API key"
    ]
    assert failed[-1]["data"]["completion_status"] == "failed"
    assert failed[-1]["data"]["outcome"] == {"status": "failed", "exit_code": 1, "task_status": "inprogress"}
    assert "0 sessions, 0 events" in _import(store.dir, tmp_path / "logs")


def test_the_store_is_read_while_open_without_a_file_created_beside_it(tmp_path: Path) -> None:
    store, _ids = _store(tmp_path)  # the connection stays open: its WAL holds every row
    before = sorted(p.name for p in store.dir.iterdir())
    assert "db.v2.sqlite-wal" in before
    out = _import(store.dir, tmp_path / "logs")
    assert "2 sessions" in out
    assert sorted(p.name for p in store.dir.iterdir()) == before
    store.close()
    after = sorted(p.name for p in store.dir.iterdir())
    _import(store.dir, tmp_path / "logs2")
    assert sorted(p.name for p in store.dir.iterdir()) == after == ["db.v2.sqlite", "sessions"]


def test_a_running_process_is_read_on_and_ended_later(tmp_path: Path) -> None:
    store = Store(tmp_path / "vk")
    space, session = store.workspace("Slow task", "slow")
    sid = str(uuid.uuid4())
    lines = claude_stream(sid)
    process = store.process(
        session,
        prompt="go",
        status="running",
        exit_code=None,
        completed=None,
        agent_session_id=sid,
        log=console(lines[:2], finished=False),
    )
    store.close()
    _import(store.dir, tmp_path / "logs")
    events = _events(tmp_path / "logs")
    assert [e["event_type"] for e in events].count("tool_call") == 1 and "session_end" not in [
        e["event_type"] for e in events
    ]
    import sqlite3

    db = sqlite3.connect(store.dir / "db.v2.sqlite")
    db.execute(
        "UPDATE execution_processes SET status = 'completed', exit_code = 0, completed_at = '2026-01-07 10:09:00'"
    )
    db.commit()
    db.close()
    log = store.dir / "sessions" / session[:2] / session / "processes" / f"{process}.jsonl"
    with open(log, "ab") as handle:  # the agent went on writing
        handle.write(console(lines[2:]))
    _import(store.dir, tmp_path / "logs")
    events = _events(tmp_path / "logs")
    kinds = [e["event_type"] for e in events]
    assert kinds.count("tool_call") == 1 and kinds.count("tool_result") == 1 and kinds[-1] == "session_end"
    assert len({e["event_id"] for e in events}) == len(events)


def test_a_folder_without_a_store_or_an_old_one_is_said_plainly(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = _import(empty, tmp_path / "logs")
    assert "0 files" in out
    old = tmp_path / "old"
    old.mkdir()
    (old / "db.sqlite").write_bytes(
        (
            Path(__file__).parents[1].parent / "shared" / "fixtures" / "vibe-kanban" / "vibe-kanban" / "db.sqlite"
        ).read_bytes()
    )
    assert "unsupported_schema 1" in _import(old, tmp_path / "logs")
    (old / "db.sqlite").write_bytes(b"not a database at all" * 100)
    assert "not_sqlite 1" in _import(old, tmp_path / "logs")


CODEX = SHARED / "fixtures" / "codex" / "rollout-2026-01-02T03-04-05-11111111-1111-4111-8111-111111111111.jsonl"
CODEX_SESSION = "11111111-1111-4111-8111-111111111111"


def test_enrich_joins_imported_sessions_branch_named_attempts_and_workspace_uuids(tmp_path: Path) -> None:
    log = tmp_path / "logs"
    run_cli("import", "codex", str(CODEX), "--log-dir", str(log), check=True)
    store = Store(tmp_path / "vk")
    by_session, session = store.workspace("Port to Rust", "port", executor="CODEX")
    store.process(session, prompt="port it", agent_session_id=CODEX_SESSION, variant="HIGH")
    store.merge(by_session)
    by_branch, session = store.workspace("Fix login", "fix-login")
    store.process(session, prompt="fix", status="failed", exit_code=2)
    by_uuid, session = store.workspace("Docs", "docs")
    store.process(session, prompt="write docs", status="killed", exit_code=None)
    store.close()
    for attempt in (f"ve-{by_branch[:4]}-fix-login", by_uuid, "unrelated"):  # recorded by the original system
        run_cli("emit", "start", "--attempt", attempt, "--executor", "CLAUDE_CODE", "--log-dir", str(log), check=True)
    out = run_cli("enrich", "--vibe-kanban", str(store.dir), "--log-dir", str(log), check=True).stdout.decode()
    assert "4 attempts, 3 matched a workspace, 3 enriched now" in out
    enriched = {e["attempt_id"]: e for e in read_jsonl(log / layout.STREAM) if e["data"].get("status") == "enriched"}
    codex = enriched[CODEX_SESSION]
    assert (codex["task_title"], codex["executor_variant"], codex["branch"]) == (
        "Port to Rust",
        "HIGH",
        f"ve/{by_session[:4]}-port",
    )
    assert codex["data"]["outcome"]["status"] == "merged" and codex["data"]["completion_status"] == "success"
    assert codex["executor"] == "CODEX"
    branch = enriched[f"ve-{by_branch[:4]}-fix-login"]
    assert branch["task_title"] == "Fix login" and branch["data"]["outcome"] == {
        "status": "failed",
        "exit_code": 2,
        "task_status": "inprogress",
    }
    assert enriched[by_uuid]["data"]["completion_status"] == "interrupted"
    again = run_cli("enrich", "--vibe-kanban", str(store.dir), "--log-dir", str(log), check=True).stdout.decode()
    assert "0 enriched now" in again


def test_enrich_without_a_store_says_so(tmp_path: Path) -> None:
    result = run_cli("enrich", "--vibe-kanban", str(tmp_path), "--log-dir", str(tmp_path / "logs"))
    assert result.returncode == 2 and "no Vibe Kanban store" in result.stderr.decode()


def test_watch_follows_the_store_while_vibe_kanban_runs(tmp_path: Path) -> None:
    """`watch --follow vibe-kanban`: each pass imports what the running store added."""
    store = Store(tmp_path / "vk")
    _space, session = store.workspace("Live task", "live")
    sid = str(uuid.uuid4())
    store.process(
        session,
        prompt="go",
        status="running",
        exit_code=None,
        completed=None,
        agent_session_id=sid,
        log=console(claude_stream(sid)[:2], finished=False),
    )
    args = (
        "watch",
        "--log-dir",
        str(tmp_path / "logs"),
        "--follow",
        "vibe-kanban",
        str(store.dir),
        "--once",
        "--quiet",
    )
    first = run_cli(*args, check=True)  # the store is open: its rows are in the WAL
    assert "following vibe-kanban" in first.stderr.decode()
    assert [e["event_type"] for e in _events(tmp_path / "logs")].count("tool_call") == 1
    store.process(
        session,
        reason="devserver",
        status="completed",
        started="2026-01-07 10:10:00.000",
        completed="2026-01-07 10:11:00.000",
    )
    run_cli(*args, check=True)
    calls = [e["data"]["tool_name"] for e in _events(tmp_path / "logs") if e["event_type"] == "tool_call"]
    assert calls == ["Bash", "devserver"]
    store.close()
