"""`agentlog import openhands`: a real V0 app session (metadata.json + events/N.json) and a
real V1 SDK conversation (base_state.json + events/event-*.json), and a conversation read
while it grows (test-made from the V0 one)."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

from agentlog.store import layout
from conftest import SHARED, read_jsonl, run_cli

FIXTURES = SHARED / "fixtures" / "openhands"
V0 = FIXTURES / "openhands-v0" / "sessions" / "63b4315947a049e2b7a51249b3d4fcc3"
V1 = FIXTURES / "software-agent-sdk" / "conversations" / "dd0e577997844195930e498016a6350b"


def _import(path: Path, log_dir: Path, *extra: str) -> str:
    return run_cli("import", "openhands", str(path), "--log-dir", str(log_dir), *extra, check=True).stdout.decode()


def _events(log_dir: Path) -> list[dict]:
    return read_jsonl(log_dir / layout.STREAM)


def test_v0_session_tokens_and_cost_add_up_to_its_metadata(tmp_path: Path) -> None:
    assert "1 sessions" in _import(V0.parent, tmp_path / "logs")
    events = _events(tmp_path / "logs")
    metadata = json.loads((V0 / "metadata.json").read_text())
    usage = [e["data"] for e in events if e["event_type"] == "usage"]
    assert len(usage) == 3  # three model calls, each repeated on its observation: counted once
    assert sum(u["input_tokens"] + u.get("cache_read_tokens", 0) for u in usage) == metadata["prompt_tokens"]
    assert sum(u["output_tokens"] for u in usage) == metadata["completion_tokens"]
    assert sum(u["cost_usd"] for u in usage) == pytest.approx(metadata["accumulated_cost"])
    start = events[0]
    assert start["attempt_id"] == V0.name and start["data"]["prompt"] == "Flip a coin!"
    assert start["data"]["task_description"] == "Coin Flip Simulation"
    assert start["model"] == "anthropic/claude-3-7-sonnet-20250219"
    results = [e["data"] for e in events if e["event_type"] == "tool_result"]
    assert [r["call_id"] for r in results] == ["toolu_01Leo6Tody9dsW8p5eXLa7Q8", "toolu_01VgbdjGixpvSBKc5np89Bxn"]
    assert events[-1]["data"]["completion_status"] == "success"
    assert "0 sessions, 0 events" in _import(V0.parent, tmp_path / "logs")


def test_v1_conversation_messages_actions_observations_and_stats(tmp_path: Path) -> None:
    out = _import(V1.parent, tmp_path / "logs")
    assert "1 sessions" in out and "known_ignored 2" in out  # the system prompts
    events = _events(tmp_path / "logs")
    kinds = Counter(e["event_type"] for e in events)
    assert kinds["tool_call"] == kinds["tool_result"] == 3 and kinds["followup_sent"] == 2
    usage = [e["data"] for e in events if e["event_type"] == "usage"]
    assert usage == [
        {
            "input_tokens": 10,
            "output_tokens": 5,
            "cost_usd": 4.5e-06,
            "model": "gpt-4o-mini",
            "cost_source": "transcript",
        }
    ]


def test_a_conversation_is_read_on_as_event_files_are_added(tmp_path: Path) -> None:
    """Test-made: the V0 session copied with its last events held back, then added."""
    session = tmp_path / "sessions" / V0.name
    shutil.copytree(V0, session)
    held = {n: (session / "events" / f"{n}.json").read_bytes() for n in (10, 11, 12, 13)}
    for n in held:
        (session / "events" / f"{n}.json").unlink()
    _import(session.parent, tmp_path / "logs", "--open-after", "3600")
    assert sum(e["event_type"] == "tool_call" for e in _events(tmp_path / "logs")) == 1
    for n, content in held.items():
        (session / "events" / f"{n}.json").write_bytes(content)
    old = 1e9
    for path in session.rglob("*.json"):
        os.utime(path, (old, old))
    _import(session.parent, tmp_path / "logs")
    events = _events(tmp_path / "logs")
    assert sum(e["event_type"] == "tool_call" for e in events) == 2
    assert sum(e["event_type"] == "usage" for e in events) == 3 and events[-1]["event_type"] == "session_end"
    assert len({e["event_id"] for e in events}) == len(events)
