"""`agentlog import qwen-code`: chat JSONL of qwen-code 0.18.1 (../shared/fixtures/qwen-code/splitrail,
written by the agent against a mock model), codeburn's test-made sample, and the legacy
`tmp/<hash>/chats/*.json` (Gemini CLI's shape: made here from a Gemini CLI fixture)."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import SHARED, imported_events, read_jsonl, run_cli

FIXTURES = SHARED / "fixtures" / "qwen-code"
REAL = next(FIXTURES.glob("splitrail/projects/*/chats/*.jsonl"))
MADE = next(FIXTURES.glob("codeburn/projects/*/chats/*.jsonl"))
GEMINI_LEGACY = next((SHARED / "fixtures" / "gemini-cli").glob("aim/tmp/*/chats/session-2026-03-26T04-33-*.json"))


def _import(log_dir: Path, path: Path, *extra: str) -> str:
    return run_cli("import", "qwen-code", str(path), "--log-dir", str(log_dir), *extra, check=True).stdout.decode()


def test_all_fixtures_import_and_again_adds_nothing(log_dir: Path) -> None:
    assert "2 sessions" in _import(log_dir, FIXTURES)
    assert "0 sessions, 0 events" in _import(log_dir, FIXTURES)


def test_a_failed_tool_call_is_an_error_and_tokens_are_disjoint(log_dir: Path) -> None:
    _import(log_dir, REAL)
    events = imported_events(log_dir, REAL.stem)
    assert events[0]["attempt_id"] == REAL.stem and events[0]["data"]["prompt"] == "List the files here."
    assert events[0]["data"]["agent_version"] == "0.18.1" and events[0]["executor"] == "QWEN_CODE"
    result = next(e["data"] for e in events if e["event_type"] == "tool_result")
    assert result["result"] == "error" and result["tool_name"] == "list_directory" and result["call_id"] == "call_1"
    error = next(e["data"] for e in events if e["event_type"] == "error")
    assert error["error_message"] == "Path must be absolute: ." and error["error_category"] == "invalid_tool_params"
    usage = [e["data"] for e in events if e["event_type"] == "usage"]  # not again from ui_telemetry copies
    assert [(u["input_tokens"], u["cache_read_tokens"], u["output_tokens"]) for u in usage] == [
        (500, 0, 20),
        (550, 50, 5),
    ]
    assert [e["data"]["output"] for e in events if e["event_type"] == "agent_output"] == ["Done."]


def test_test_made_sample_a_repeated_uuid_and_zero_usage_count_nothing_twice(log_dir: Path) -> None:
    out = _import(log_dir, MADE)
    assert "repeated_record 1" in out
    events = imported_events(log_dir, MADE.stem)
    usage = [e["data"] for e in events if e["event_type"] == "usage"]
    assert [(u["input_tokens"], u["cache_read_tokens"], u["reasoning_tokens"]) for u in usage] == [
        (400, 800, 90),
        (500, 0, 0),
    ]
    assert events[0]["data"]["prompt"] == "please fix the parser\nand run the tests"  # not the thought part
    assert sum(e["event_type"] == "tool_call" for e in events) == 4


def test_legacy_json_chats_read_as_gemini_cli_documents(tmp_path: Path) -> None:
    chats = tmp_path / "qwen" / "tmp" / "0123abcd" / "chats"
    chats.mkdir(parents=True)
    shutil.copy(GEMINI_LEGACY, chats / GEMINI_LEGACY.name)
    (tmp_path / "qwen" / "settings.json").write_text("{}")  # not a chat: never read
    out = _import(tmp_path / "log", tmp_path / "qwen")
    assert "1 files, 1 sessions" in out
    events = read_jsonl(tmp_path / "log" / "agent-work-stream.jsonl")
    assert {e["executor"] for e in events} == {"QWEN_CODE"}
    assert sum(e["event_type"] == "tool_call" for e in events) == 33
