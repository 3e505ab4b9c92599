"""`agentlog import cursor-agent | droid | amp`. Every fixture of these three is test-made by the
tool it comes from (codeburn, tokenuze: ../shared/fixtures/README.md); the longer cases
below are made here, in the shapes those fixtures and the agents' docs show."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import SHARED, read_jsonl, run_cli

FIXTURES = SHARED / "fixtures"


def _import(agent: str, log_dir: Path, path: Path, *extra: str) -> str:
    return run_cli("import", agent, str(path), "--log-dir", str(log_dir), *extra, check=True).stdout.decode()


def _events(log_dir: Path) -> list[dict]:
    return read_jsonl(log_dir / "agent-work-stream.jsonl")


def _lines(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in records)
    return path


# -- cursor agent: no times, no tokens ----------------------------------------------------------


def test_cursor_fixture_imports_with_the_prompt_unwrapped_and_no_usage(log_dir: Path) -> None:
    out = _import("cursor-agent", log_dir, FIXTURES / "cursor-agent")
    assert "1 sessions" in out and "0 sessions" in _import("cursor-agent", log_dir, FIXTURES / "cursor-agent")
    events = _events(log_dir)
    assert events[0]["data"]["prompt"] == "Run a quick smoke test"
    assert [e["event_type"] for e in events] == ["session_start", "agent_output", "session_end"]
    assert all(e["timestamp_quality"] == "approximate" for e in events[:-1])
    assert not [e for e in events if e["event_type"] == "usage"]  # absent, never zero


def test_cursor_tool_calls_pair_and_a_transcript_followed_while_it_grows_takes_each_read_time(tmp_path: Path) -> None:
    path = tmp_path / "projects" / "ws" / "agent-transcripts" / "c1" / "c1.jsonl"
    _lines(
        path,
        [
            {"role": "user", "message": {"content": [{"type": "text", "text": "<user_query>\nfix it\n</user_query>"}]}},
            {
                "role": "assistant",
                "message": {
                    "content": [{"type": "tool_use", "id": "t1", "name": "Shell", "input": {"command": "make"}}]
                },
            },
        ],
    )
    os.utime(path, (1_700_000_000, 1_700_000_000))
    _import("cursor-agent", tmp_path / "log", tmp_path / "projects", "--open-after", "1e12")
    _lines(
        path,
        [
            {
                "role": "user",
                "message": {
                    "content": [
                        {"type": "tool_result", "tool_use_id": "t1", "content": "make: *** Error 2", "is_error": True}
                    ]
                },
            },
            {"type": "turn_ended"},
        ],
    )
    os.utime(path, (1_700_000_100, 1_700_000_100))
    _import("cursor-agent", tmp_path / "log", tmp_path / "projects", "--open-after", "0")
    events = _events(tmp_path / "log")
    assert [e["event_type"] for e in events] == [
        "session_start",
        "tool_call",
        "tool_result",
        "error",
        "status_change",
        "session_end",
    ]
    assert events[1]["timestamp"].startswith("2023-11-14T22:13:20") and events[2]["timestamp"].startswith(
        "2023-11-14T22:15:00"
    )
    assert events[2]["data"]["tool_name"] == "Shell" and events[3]["data"]["error_message"] == "make: *** Error 2"


# -- droid: tokens only as the session's totals -----------------------------------------------------


def test_droid_fixtures_tokens_from_settings_and_reminders_are_not_prompts(log_dir: Path) -> None:
    assert "2 sessions" in _import("droid", log_dir, FIXTURES / "droid")
    events = _events(log_dir)
    one = [e for e in events if e["attempt_id"].startswith("sess-droid-")]
    assert one[0]["data"]["prompt"] == "add a feature" and one[0]["data"]["title"] == "parity"
    assert [e["data"]["tool_name"] for e in one if e["event_type"] == "tool_call"] == ["Execute", "Read", "Task"]
    usage = next(e["data"] for e in one if e["event_type"] == "usage")
    assert (
        usage["input_tokens"],
        usage["output_tokens"],
        usage["cache_creation_tokens"],
        usage["cache_read_tokens"],
        usage["reasoning_tokens"],
        usage["model"],
    ) == (101, 51, 7, 11, 5, "custom:gpt-5-[Proxy]-0")
    assert "0 sessions" in _import("droid", log_dir, FIXTURES / "droid")


def test_droid_session_that_goes_on_counts_only_the_growth_of_its_totals(tmp_path: Path) -> None:
    folder = tmp_path / "sessions" / "p"
    path = _lines(
        folder / "s.jsonl",
        [
            {"type": "session_start", "id": "s", "cwd": "/w"},
            {
                "type": "message",
                "id": "u1",
                "timestamp": "2026-05-01T10:00:00Z",
                "message": {"role": "user", "content": [{"type": "text", "text": "go"}]},
            },
        ],
    )
    settings = folder / "s.settings.json"
    settings.write_text(
        json.dumps({"model": "claude-sonnet-4-5", "tokenUsage": {"inputTokens": 100, "outputTokens": 10}})
    )
    _import("droid", tmp_path / "log", folder, "--open-after", "0")
    _lines(
        path,
        [
            {
                "type": "message",
                "id": "a1",
                "timestamp": "2026-05-01T11:00:00Z",
                "message": {"role": "assistant", "content": [{"type": "text", "text": "done"}]},
            }
        ],
    )
    settings.write_text(
        json.dumps({"model": "claude-sonnet-4-5", "tokenUsage": {"inputTokens": 150, "outputTokens": 30}})
    )
    _import("droid", tmp_path / "log", folder, "--open-after", "0")
    usage = [e["data"] for e in _events(tmp_path / "log") if e["event_type"] == "usage"]
    assert [(u["input_tokens"], u["output_tokens"]) for u in usage] == [(100, 10), (50, 20)]
    assert all(u["cost_source"] == "pricing_table" for u in usage)


# -- amp: a thread document with its ledger -------------------------------------------------------------


def test_amp_fixture_usage_with_credits_at_the_ledgers_time(log_dir: Path) -> None:
    assert "1 sessions" in _import("amp", log_dir, FIXTURES / "amp")
    usage = next(e for e in _events(log_dir) if e["event_type"] == "usage")
    assert usage["timestamp"] == "2025-12-03T02:18:38.333Z" and usage["data"]["amp_credits"] == 0.5
    assert (
        usage["data"]["input_tokens"],
        usage["data"]["cache_read_tokens"],
        usage["data"]["cache_creation_tokens"],
        usage["data"]["output_tokens"],
    ) == (9, 200, 100, 50)
    assert usage["data"]["cost_source"] == "pricing_table"


def test_amp_thread_rewritten_while_its_last_message_streams_records_each_part_once(tmp_path: Path) -> None:
    path = tmp_path / "threads" / "T-1.json"
    path.parent.mkdir()
    user = {
        "messageId": 0,
        "role": "user",
        "content": [{"type": "text", "text": "list files"}],
        "meta": {"sentAt": 1764728759706},
    }
    reply = {
        "messageId": 1,
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "tu1", "name": "Bash", "input": {"cmd": "ls"}}],
    }
    thread = {"v": 1, "id": "T-1", "created": 1764728759000, "messages": [user, reply]}
    path.write_text(json.dumps(thread))
    _import("amp", tmp_path / "log", path, "--open-after", "1e12")
    reply["content"].append({"type": "text", "text": "two files"})
    reply["usage"] = {"model": "claude-sonnet-4-5", "inputTokens": 10, "outputTokens": 5}
    result = {
        "messageId": 2,
        "role": "user",
        "content": [{"type": "tool_result", "toolUseID": "tu1", "content": "a b"}],
    }
    path.write_text(json.dumps({**thread, "messages": [user, reply, result]}))
    _import("amp", tmp_path / "log", path, "--open-after", "0")
    kinds = [e["event_type"] for e in _events(tmp_path / "log")]
    assert kinds == ["session_start", "tool_call", "agent_output", "usage", "tool_result", "session_end"]
