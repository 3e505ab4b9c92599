"""`agentlog import gemini-cli`: the append-only JSONL (repeated message ids, `$set` lines) and
the legacy one-object `.json`, on real sessions (../shared/fixtures/gemini-cli)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import SHARED, imported_events, read_jsonl, run_cli

FIXTURES = SHARED / "fixtures" / "gemini-cli"
JSONL = next(FIXTURES.glob("vibecodingtracker/tmp/*/chats/*.jsonl"))
FLASH = next(FIXTURES.glob("aim/tmp/*/chats/session-2026-03-26T04-30-209f5a02.json"))
PRO = next(FIXTURES.glob("aim/tmp/*/chats/session-2026-03-26T04-33-84ae60e4.json"))


def _import(log_dir: Path, path: Path, *extra: str) -> str:
    return run_cli("import", "gemini-cli", str(path), "--log-dir", str(log_dir), *extra, check=True).stdout.decode()


def _unique_gemini_records(lines: list[dict]) -> dict[str, dict]:
    """What Gemini CLI means: the last record of each id."""
    return {r["id"]: r for r in lines if r.get("type") == "gemini"}


def test_all_fixtures_import_and_again_adds_nothing(log_dir: Path) -> None:
    assert "4 sessions" in _import(log_dir, FIXTURES)
    assert "0 sessions, 0 events" in _import(log_dir, FIXTURES)


def test_repeated_ids_count_each_model_call_and_each_tool_call_once(log_dir: Path) -> None:
    _import(log_dir, JSONL)
    events = imported_events(log_dir, JSONL.stem)
    records = _unique_gemini_records(read_jsonl(JSONL))
    usage = [e["data"] for e in events if e["event_type"] == "usage"]
    assert len(usage) == len(records) == 6
    tokens = [r["tokens"] for r in records.values()]
    assert sum(u["input_tokens"] + u["cache_read_tokens"] for u in usage) == sum(t["input"] for t in tokens)
    assert sum(u["cache_read_tokens"] for u in usage) == sum(t["cached"] for t in tokens)
    assert sum(u["reasoning_tokens"] for u in usage) == sum(t["thoughts"] for t in tokens)
    assert all(u["cost_source"] == "pricing_table" and u["cost_usd"] > 0 for u in usage)
    calls = [e for e in events if e["event_type"] == "tool_call"]
    results = [e for e in events if e["event_type"] == "tool_result"]
    expected = [c["id"] for r in records.values() for c in r.get("toolCalls", [])]
    assert [c["data"]["call_id"] for c in calls] == expected and len(results) == len(expected) == 12
    assert {c["data"]["tool_name"] for c in calls} >= {"read_file", "write_file", "replace"}
    assert events[0]["session_id"] == "0ab84937-9fe7-4284-986a-33c832af0b6a"
    assert events[0]["data"]["prompt"].lstrip().startswith("You are an AI agent")
    assert events[-1]["model"] == "gemini-3.1-pro-preview"
    assert events[-1]["data"]["completion_status"] == "interrupted"  # "Request cancelled." ended it


def test_a_chat_read_while_written_gives_what_it_gives_whole(tmp_path: Path) -> None:
    lines = JSONL.read_bytes().splitlines(keepends=True)
    first_copy = next(i for i, raw in enumerate(lines) if b'"toolCalls"' not in raw and b'"gemini"' in raw)
    grown = tmp_path / "src" / JSONL.name
    grown.parent.mkdir()
    grown.write_bytes(b"".join(lines[: first_copy + 1]))  # the message without its tool calls yet
    _import(tmp_path / "grown", grown, "--open-after", "1e9")
    grown.write_bytes(b"".join(lines))
    _import(tmp_path / "grown", grown, "--open-after", "0")
    _import(tmp_path / "once", grown, "--open-after", "0")
    ids = lambda log: sorted(e["event_id"] for e in read_jsonl(log / "agent-work-stream.jsonl"))  # noqa: E731
    assert ids(tmp_path / "grown") == ids(tmp_path / "once")


def test_legacy_json_api_errors_and_a_failed_tool_become_errors_with_fingerprints(log_dir: Path) -> None:
    _import(log_dir, FLASH.parent.parent.parent)
    flash = imported_events(log_dir, FLASH.stem)
    errors = [e["data"]["error_message"] for e in flash if e["event_type"] == "error"]
    assert errors == ["[API Error: Requested entity was not found.]"] * 3
    assert sum(e["event_type"] == "tool_call" for e in flash) == 44
    pro = imported_events(log_dir, PRO.stem)
    failed = [e["data"] for e in pro if e["event_type"] == "tool_result" and e["data"]["result"] == "error"]
    assert [f["tool_name"] for f in failed] == ["read_file"]
    stored = read_jsonl(log_dir / "agent-errors.jsonl")
    assert len(stored) == 4 and all(e["data"].get("error_fingerprint") for e in stored)


def test_a_legacy_document_rewritten_adds_only_what_is_new(tmp_path: Path) -> None:
    """The document is made by the test from a real one: cut, then saved again whole."""
    doc = json.loads(PRO.read_text())
    messages = doc["messages"]
    cut = next(i for i, m in enumerate(messages) if m.get("toolCalls"))
    path = tmp_path / "chats" / PRO.name
    path.parent.mkdir()
    last = dict(messages[cut], toolCalls=[])  # the message as first saved, before its tool ran
    path.write_text(json.dumps({**doc, "messages": [*messages[:cut], last]}))
    _import(tmp_path / "log", path, "--open-after", "1e9")
    path.write_text(json.dumps(doc))
    _import(tmp_path / "log", path, "--open-after", "0")
    _import(tmp_path / "once", PRO, "--open-after", "0")
    events = read_jsonl(tmp_path / "log" / "agent-work-stream.jsonl")
    once = read_jsonl(tmp_path / "once" / "agent-work-stream.jsonl")
    kinds = lambda evs: sorted(e["event_type"] for e in evs)  # noqa: E731
    assert kinds(events) == kinds(once)
    assert sum(e["event_type"] == "usage" for e in events) == sum(bool(m.get("tokens")) for m in messages)
