"""`agentlog import opencode`: the SQLite store (a real `opencode.db`, ../shared/fixtures/opencode)
opened read-only without creating `-wal`/`-shm` beside it, and the legacy JSON storage
(tokenuze's test-made files)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from conftest import SHARED, read_jsonl, run_cli

FIXTURES = SHARED / "fixtures" / "opencode"
DB = FIXTURES / "opencode-project-manager" / "opencode.db"
LEGACY = FIXTURES / "tokenuze"


def _import(log_dir: Path, path: Path, *extra: str) -> str:
    return run_cli(
        "import", "opencode", str(path), "--log-dir", str(log_dir), "--open-after", "0", *extra, check=True
    ).stdout.decode()


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "opencode"
    folder.mkdir()
    shutil.copy(DB, folder / "opencode.db")
    return folder


def _events(log_dir: Path) -> list[dict]:
    return read_jsonl(log_dir / "agent-work-stream.jsonl")


def test_each_session_is_an_attempt_with_the_databases_own_tokens_and_cost(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _import(tmp_path / "log", folder)
    assert sorted(p.name for p in folder.iterdir()) == ["opencode.db"]  # no -wal, no -shm
    events = _events(tmp_path / "log")
    db = sqlite3.connect(folder / "opencode.db")
    for (sid,) in db.execute("SELECT id FROM session"):
        mine = [e for e in events if e["attempt_id"] == sid]
        assert mine[0]["event_type"] == "session_start" and mine[-1]["event_type"] == "session_end"
        usage = [e["data"] for e in mine if e["event_type"] == "usage"]
        rows = [json.loads(d) for (d,) in db.execute("SELECT data FROM message WHERE session_id = ?", (sid,))]
        tokens = [r["tokens"] for r in rows if r["role"] == "assistant"]
        assert sum(u["input_tokens"] for u in usage) == sum(t["input"] for t in tokens)
        assert sum(u["cache_read_tokens"] for u in usage) == sum(t["cache"]["read"] for t in tokens)
        assert all(u["cost_usd"] == 0 and u["cost_source"] == "transcript" for u in usage)  # a subscription
        tools = db.execute(
            'SELECT count(*) FROM part WHERE session_id = ? AND data LIKE \'%"type":"tool"%\'', (sid,)
        ).fetchone()[0]
        assert sum(e["event_type"] == "tool_call" for e in mine) == tools > 0
        assert mine[-1]["model"] == "glm-5" and mine[-1]["data"]["completion_status"] == "success"
    assert "0 sessions, 0 events" in _import(tmp_path / "log", folder)


def test_a_running_opencode_is_read_through_its_wal_and_only_new_messages_are_added(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _import(tmp_path / "log", folder)
    before = len(_events(tmp_path / "log"))
    writer = sqlite3.connect(folder / "opencode.db")  # OpenCode, running: the new rows are in the WAL
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    sid, updated = writer.execute("SELECT id, time_updated FROM session ORDER BY time_created LIMIT 1").fetchone()
    message = {
        "role": "assistant",
        "time": {"created": updated + 1000, "completed": updated + 2000},
        "modelID": "glm-5",
        "cost": 0.25,
        "finish": "stop",
        "tokens": {"input": 7, "output": 3, "reasoning": 0, "cache": {"read": 0, "write": 0}},
        "error": {"name": "APIError", "data": {"message": "rate limited"}},
    }
    writer.execute(
        "INSERT INTO message VALUES ('msg_zzz', ?, ?, ?, ?)", (sid, updated + 1000, updated + 2000, json.dumps(message))
    )
    writer.execute("UPDATE session SET time_updated = ? WHERE id = ?", (updated + 2000, sid))
    writer.commit()
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["opencode.db", "opencode.db-shm", "opencode.db-wal"]
    _import(tmp_path / "log", folder)
    assert sorted(p.name for p in folder.iterdir()) == files
    writer.close()
    new = _events(tmp_path / "log")[before:]
    assert [e["event_type"] for e in new] == ["session_start", "error", "usage", "status_change", "session_end"]
    assert new[0]["data"]["prompt_type"] == "followup" and new[2]["data"]["cost_usd"] == 0.25
    assert new[-1]["data"]["completion_status"] == "failed"


def test_a_message_still_streaming_waits_until_it_is_complete(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    db = sqlite3.connect(folder / "opencode.db")
    sid, updated = db.execute("SELECT id, time_updated FROM session ORDER BY time_created LIMIT 1").fetchone()
    partial = {"role": "assistant", "time": {"created": updated + 1000}, "modelID": "glm-5"}
    db.execute(
        "INSERT INTO message VALUES ('msg_zzz', ?, ?, ?, ?)", (sid, updated + 1000, updated + 1000, json.dumps(partial))
    )
    db.execute(
        "INSERT INTO part VALUES ('prt_zzz', 'msg_zzz', ?, ?, ?, ?)",
        (
            sid,
            updated,
            updated,
            json.dumps(
                {
                    "type": "tool",
                    "callID": "c1",
                    "tool": "bash",
                    "state": {"status": "running", "input": {"command": "ls"}},
                }
            ),
        ),
    )
    db.commit()
    db.close()
    run_cli("import", "opencode", str(folder), "--log-dir", str(tmp_path / "log"), "--open-after", "1e12", check=True)
    assert not [e for e in _events(tmp_path / "log") if e["data"].get("call_id") == "c1"]
    _import(tmp_path / "log", folder)  # left alone: complete, the call stays without a result
    calls = [e for e in _events(tmp_path / "log") if e["data"].get("call_id") == "c1"]
    assert [e["event_type"] for e in calls] == ["tool_call"]


def test_legacy_json_storage_is_read_test_made_files(tmp_path: Path) -> None:
    out = _import(tmp_path / "log", LEGACY)
    assert "1 sessions" in out and "not priced (unknown model): grok-code, scout-preview" in out
    events = _events(tmp_path / "log")
    usage = [e["data"] for e in events if e["event_type"] == "usage"]
    assert [(u["input_tokens"], u["cache_read_tokens"], u["cache_creation_tokens"], u["model"]) for u in usage] == [
        (1200, 300, 100, "grok-code"),
        (400, 0, 0, "scout-preview"),
    ]
    assert {e["attempt_id"] for e in events} == {"ses_fixture_one"}


def test_a_legacy_session_already_in_the_database_is_read_once(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    sid = sqlite3.connect(folder / "opencode.db").execute("SELECT id FROM session LIMIT 1").fetchone()[0]
    legacy = folder / "storage" / "session" / "proj" / f"{sid}.json"
    legacy.parent.mkdir(parents=True)
    legacy.write_text(json.dumps({"id": sid, "time": {"created": 1, "updated": 2}}))
    out = _import(tmp_path / "log", folder)
    assert "2 files, 2 sessions" in out and "in_database 1" in out
    starts = [e for e in _events(tmp_path / "log") if e["event_type"] == "session_start"]
    assert sorted(e["attempt_id"] for e in starts) == sorted({e["attempt_id"] for e in starts})


def test_only_opencodes_own_files_are_read_not_its_snapshot_stores(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    snapshot = folder / "snapshot" / "proj" / "objects"
    snapshot.mkdir(parents=True)
    shutil.copy(DB, snapshot / "opencode-copy.db")  # a file the walk would have taken
    out = _import(tmp_path / "log", folder)
    assert out.startswith("opencode: 1 files, 2 sessions")
