"""ATIF in and out: `agentlog import atif` on real trajectories (one of which bends the
spec), and `agentlog export atif` whose output imports back as the same sessions, tool
calls, tokens and cost, for the fixtures of every agent."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from agentlog.store import layout
from conftest import SHARED, read_jsonl, run_cli

FIXTURES = SHARED / "fixtures"
ATIF = FIXTURES / "atif" / "openagents"
REGEX_LOG = ATIF / "regex-log" / "20251211-161750-ba4ddb16" / "trajectory.json"

# every agent's fixtures, as `agentlog import <agent> PATH` reads them
NATIVE = {
    "claude-code": FIXTURES / "claude-code",
    "codex": FIXTURES / "codex",
    "swe-agent": FIXTURES / "swe-agent",
    "atif": ATIF,
    "aider": FIXTURES / "aider",
    "pi": FIXTURES / "pi",
    "openclaw": FIXTURES / "openclaw",
    "openhands": FIXTURES / "openhands",
}
TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens", "reasoning_tokens")


def _import(agent: str, path: Path, log_dir: Path) -> str:
    return run_cli("import", agent, str(path), "--log-dir", str(log_dir), check=True).stdout.decode()


def _stream(log_dir: Path) -> list[dict]:
    path = log_dir / layout.STREAM
    return read_jsonl(path) if path.exists() else []


def sessions(log_dir: Path) -> dict[str, dict]:
    """What a round trip must keep, per session: its tool calls, tokens by kind, cost, errors."""
    found: dict[str, dict] = defaultdict(
        lambda: {"tool_calls": [], "tokens": dict.fromkeys(TOKENS, 0), "cost": 0.0, "errors": 0, "executor": None}
    )
    names: dict[str, str] = {}
    for event in _stream(log_dir):
        names.setdefault(event["attempt_id"], event.get("session_id") or event["attempt_id"])
    for event in _stream(log_dir):
        session, data = found[names[event["attempt_id"]]], event["data"]
        session["executor"] = event["executor"]
        if event["event_type"] == "tool_call":
            session["tool_calls"].append(
                (data["tool_name"], data.get("call_id"), json.dumps(data.get("tool_params"), sort_keys=True))
            )
        elif event["event_type"] == "usage":
            for kind in TOKENS:
                session["tokens"][kind] += data.get(kind) or 0
            session["cost"] += data.get("cost_usd") or 0
        elif event["event_type"] == "error":
            session["errors"] += 1
    for session in found.values():
        session["tool_calls"].sort()
        session["cost"] = round(session["cost"], 9)
    return dict(found)


@pytest.mark.parametrize("agent", sorted(NATIVE))
def test_native_then_atif_then_back_is_the_same_sessions_tool_calls_tokens_and_cost(agent: str, tmp_path: Path) -> None:
    native, back, out = tmp_path / "native", tmp_path / "back", tmp_path / "atif"
    _import(agent, NATIVE[agent], native)
    exported = run_cli("export", "atif", "--out", str(out), "--log-dir", str(native), check=True)
    assert "sessions written" in exported.stdout.decode()
    files = sorted(out.glob("*/trajectory.json"))
    assert files and all(json.loads(f.read_text())["schema_version"] == "ATIF-v1.4" for f in files)
    _import("atif", out, back)
    before, after = sessions(native), sessions(back)
    assert len(files) == len(before)
    assert after == before
    assert sum(len(s["tool_calls"]) for s in before.values()) > 0 or agent == "atif"


def test_real_trajectories_import_with_their_tool_results_and_failures(log_dir: Path) -> None:
    out = _import("atif", ATIF, log_dir)
    assert "3 sessions" in out
    events = _stream(log_dir)
    orchestrator = [e for e in events if e.get("session_id") == "session-2025-12-05T08-00-23-404Z-ew8gut"]
    assert {e["executor"] for e in orchestrator} == {"MECHACODER_ORCHESTRATOR"}
    results = [e for e in orchestrator if e["event_type"] == "tool_result"]
    assert len(results) == 5 and all(r["data"]["result"] == "error" for r in results)  # verification failed
    assert "invalid volume name" in next(e for e in orchestrator if e["event_type"] == "error")["data"]["error_message"]
    again = _import("atif", ATIF, log_dir)
    assert "0 sessions, 0 events" in again


def test_the_file_that_breaks_the_spec_is_read_where_it_can_be_and_the_rest_counted(log_dir: Path) -> None:
    """regex-log: `schema_version: "1.4"`, `agent.model`, tool calls as {id, name}, results
    as one object each and written before their calls."""
    out = _import("atif", REGEX_LOG, log_dir)
    assert "1 sessions" in out
    for bend in (
        "nonstandard:schema_version",
        "nonstandard:agent.model",
        "nonstandard:tool_call_keys 5",
        "nonstandard:observation 5",
    ):
        assert bend in out, out
    events = _stream(log_dir)
    assert {e["executor"] for e in events} == {"CLAUDE_CODE"}
    assert events[0]["data"]["prompt"].startswith("Write a regex expression")
    calls = [e["data"] for e in events if e["event_type"] == "tool_call"]
    assert [c["tool_name"] for c in calls] == ["Write", "Bash", "Bash", "Bash", "Write"]
    results = [e["data"] for e in events if e["event_type"] == "tool_result"]
    assert [r["call_id"] for r in results][:1] == ["toolu_01TQktt5rHsfYcF1BCvJDFTj"]
    assert [r["result"] for r in results] == ["error", "success", "error", "success", "success"]
    usage = [e["data"] for e in events if e["event_type"] == "usage"]
    assert len(usage) == 1 and usage[0]["cost_usd"] == pytest.approx(0.1268215)
    assert usage[0]["output_tokens"] == 15013 and usage[0]["input_tokens"] == 70
    assert events[-1]["data"]["completion_status"] == "success"


def test_prompt_tokens_include_cached_ones_both_ways(tmp_path: Path) -> None:
    """ATIF's prompt_tokens counts cached tokens; agentlog's input_tokens (Anthropic's) does not."""
    doc = {
        "schema_version": "ATIF-v1.5",
        "session_id": "s1",
        "agent": {"name": "claude-code", "version": "2"},
        "steps": [
            {"step_id": 1, "timestamp": "2026-01-01T00:00:00Z", "source": "user", "message": "hi"},
            {
                "step_id": 2,
                "timestamp": "2026-01-01T00:00:05Z",
                "source": "agent",
                "message": "hello",
                "model_name": "claude-sonnet-4-5",
                "metrics": {"prompt_tokens": 1000, "completion_tokens": 50, "cached_tokens": 900, "cost_usd": 0.01},
            },
        ],
        "final_metrics": {"total_prompt_tokens": 1000, "total_completion_tokens": 50},
    }
    src = tmp_path / "trial" / "agent" / "trajectory.json"  # test-made, in Harbor's layout
    src.parent.mkdir(parents=True)
    src.write_text(json.dumps(doc))
    _import("atif", tmp_path / "trial", tmp_path / "logs")
    usage = [e for e in _stream(tmp_path / "logs") if e["event_type"] == "usage"]
    assert usage[0]["attempt_id"].startswith("trial-")
    assert {k: usage[0]["data"][k] for k in ("input_tokens", "cache_read_tokens", "output_tokens")} == {
        "input_tokens": 100,
        "cache_read_tokens": 900,
        "output_tokens": 50,
    }
    run_cli("export", "atif", "--out", str(tmp_path / "out"), "--log-dir", str(tmp_path / "logs"), check=True)
    [written] = (tmp_path / "out").glob("*/trajectory.json")
    metrics = [s["metrics"] for s in json.loads(written.read_text())["steps"] if "metrics" in s]
    assert metrics == [{"prompt_tokens": 1000, "completion_tokens": 50, "cached_tokens": 900, "cost_usd": 0.01}]


def test_other_versions_and_files_are_skipped_and_counted(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for name, body in {
        "a/trajectory.json": {"schema_version": "ATIF-v2.0", "steps": []},
        "b/trajectory.json": "[1]",
        "c/trajectory.json": "",
        "notes.json": "{}",
    }.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(body if isinstance(body, str) else json.dumps(body))
    out = _import("atif", src, tmp_path / "logs")
    assert "3 files" in out
    for reason in ("unsupported_schema_version 1", "not_a_trajectory 1", "empty_file 1"):
        assert reason in out, out


def test_export_filter_and_nothing_matched(tmp_path: Path) -> None:
    log = tmp_path / "logs"
    _import("swe-agent", FIXTURES / "swe-agent", log)
    done = run_cli("export", "atif", "marshmallow-*", "-o", str(tmp_path / "one"), "--log-dir", str(log), check=True)
    assert "1 sessions written" in done.stdout.decode()
    none = run_cli("export", "atif", "-e", "CODEX", "-o", str(tmp_path / "none"), "--log-dir", str(log))
    assert none.returncode == 1 and "0 sessions written" in none.stdout.decode()


def test_vibe_kanban_sessions_round_trip_too(tmp_path: Path) -> None:
    """A test-made store (vkkit): no filled Vibe Kanban store was published."""
    from vkkit import Store, claude_stream, console

    store = Store(tmp_path / "vk")
    _space, session = store.workspace("Fix login", "fix-login")
    store.process(session, reason="setupscript")
    sid = "11111111-2222-4333-8444-555555555555"
    store.process(session, prompt="fix it", agent_session_id=sid, log=console(claude_stream(sid)))
    store.close()
    native, back, out = tmp_path / "native", tmp_path / "back", tmp_path / "atif"
    _import("vibe-kanban", store.dir, native)
    run_cli("export", "atif", "--out", str(out), "--log-dir", str(native), check=True)
    _import("atif", out, back)
    before = sessions(native)
    assert sessions(back) == before and len(before) == 1
    assert sum(len(s["tool_calls"]) for s in before.values()) == 2
