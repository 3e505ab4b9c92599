"""`agentlog import aider`: real chat histories (aider's own, Monochromatic's dotfile, a
custom --chat-history-file name): one attempt per run, prompts, replies, edits, usage and
cost as aider printed them, litellm errors and tracebacks, interrupted runs."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from agentlog.agents.aider import number
from agentlog.store import layout
from conftest import SHARED, read_jsonl, run_cli

FIXTURES = SHARED / "fixtures" / "aider"
MONO = FIXTURES / "monochromatic" / ".aider.chat.history.md"


def _import(path: Path, log_dir: Path) -> str:
    return run_cli("import", "aider", str(path), "--log-dir", str(log_dir), check=True).stdout.decode()


def _events(log_dir: Path) -> list[dict]:
    return read_jsonl(log_dir / layout.STREAM)


def test_the_dotfile_is_found_in_its_project_and_every_run_is_an_attempt(tmp_path: Path) -> None:
    project = tmp_path / "monochromatic"
    project.mkdir()
    shutil.copy(MONO, project / ".aider.chat.history.md")  # a dotfile: a bare `*` glob would miss it
    (project / "README.md").write_text("# not a chat history\n")
    out = _import(project, tmp_path / "logs")
    assert "1 files, 13 sessions" in out  # 19 runs; 6 only printed aider's own start-up lines
    events = _events(tmp_path / "logs")
    attempts = {e["attempt_id"] for e in events}
    assert len(attempts) == 13 and all(a.startswith("aider-monochromatic-") for a in attempts)
    first = next(e for e in events if e["event_type"] == "session_start" and e["data"].get("prompt"))
    assert first["data"]["prompt"] == "What can you say about this package?"
    assert first["timestamp"] == "2025-06-02T11:49:34Z"
    assert "0 sessions, 0 events" in _import(project, tmp_path / "logs")


def test_usage_and_cost_are_what_aider_printed(tmp_path: Path) -> None:
    _import(MONO, tmp_path / "logs")
    events = _events(tmp_path / "logs")
    usage = [e["data"] for e in events if e["event_type"] == "usage"]
    lines = [line for line in MONO.read_text().splitlines() if line.startswith("> Tokens:")]
    assert len(usage) == len(lines) == 39
    assert (usage[0]["input_tokens"], usage[0]["output_tokens"], usage[0]["cost_usd"]) == (9700, 85, 0.01)
    printed = sum(float(re.search(r"\$([\d.]+) message", line).group(1)) for line in lines)
    assert sum(u["cost_usd"] for u in usage) == pytest.approx(printed)
    assert {u["cost_source"] for u in usage} == {"transcript"}
    errors = [e["data"]["error_message"] for e in events if e["event_type"] == "error"]
    assert errors[0].startswith("litellm.BadRequestError: LLM Provider NOT provided")
    assert any(e.startswith("litellm.RateLimitError") for e in errors)
    ends = [e["data"]["completion_status"] for e in events if e["event_type"] == "session_end"]
    assert "interrupted" in ends and "success" in ends


def test_every_tokens_line_variant_of_aiders_own_history(tmp_path: Path) -> None:
    """sent / cache write / cache hit / cached / received; request or message; no Cost part."""
    path = FIXTURES / "aider" / "chat-history.md"
    out = _import(path, tmp_path / "logs")
    assert "before_first_run 90" in out  # the file starts mid-session, before any header
    usage = [e["data"] for e in _events(tmp_path / "logs") if e["event_type"] == "usage"]
    lines = [line for line in path.read_text().splitlines() if line.startswith("> Tokens:")]
    assert len(usage) == len(lines) == 839
    assert sum(1 for u in usage if u.get("cache_creation_tokens")) == sum("cache write" in line for line in lines)
    assert sum(1 for u in usage if u.get("cache_read_tokens")) == sum(
        "cache hit" in line or " cached" in line for line in lines
    )
    assert sum(1 for u in usage if u["cost_source"] == "transcript") == sum("Cost:" in line for line in lines)


def test_a_custom_history_name_with_lint_failures_and_thinking(tmp_path: Path) -> None:
    out = _import(FIXTURES / "agent_aider_worktree", tmp_path / "logs")
    assert "2 sessions" in out
    calls = [e["data"] for e in _events(tmp_path / "logs") if e["event_type"] == "tool_call"]
    assert calls and {c["tool_name"] for c in calls} <= {"edit", "shell"}


@pytest.mark.parametrize(
    ("text", "unit", "value"),
    [("2,347", "", 2347), ("2.3", "k", 2300), ("12", "k", 12000), ("1.5", "M", 1_500_000), ("839", "", 839)],
)
def test_numbers_as_aider_prints_them(text: str, unit: str, value: int) -> None:
    assert number(text, unit) == value


def test_a_run_is_read_as_aider_appends_to_it(tmp_path: Path) -> None:
    """Test-made: a history written in two parts, the second a follow-up and a new run."""
    history = tmp_path / "proj" / ".aider.chat.history.md"
    history.parent.mkdir()
    history.write_text(
        "# aider chat started at 2026-01-05 09:00:00\n\n> Model: gpt-4o with diff edit format  \n\n"
        "#### fix the bug  \n\nHere is the fix.\n\n> Applied edit to app.py  \n"
        "> Tokens: 1.2k sent, 300 received. Cost: $0.01 message, $0.01 session.  \n"
    )
    args = ("import", "aider", str(history.parent), "--log-dir", str(tmp_path / "logs"), "--open-after", "3600")
    first = run_cli(*args, check=True).stdout.decode()
    assert "1 still open" in first
    with open(history, "a") as handle:
        handle.write(
            "\n#### and add a test  \n\nDone.\n\n> Tokens: 2k sent, 100 received.  \n"
            "\n# aider chat started at 2026-01-05 10:00:00\n\n#### next task  \n"
        )
    run_cli(*args, check=True)  # the new run's message may go on: not read yet
    assert "0 sessions" in run_cli(*args, check=True).stdout.decode()
    run_cli(*args[:-1], "0", check=True)  # left alone: complete
    events = _events(tmp_path / "logs")
    runs = sorted({e["attempt_id"] for e in events})
    assert [r.rsplit("-", 1)[1] for r in runs] == ["20260105T090000", "20260105T100000"]
    first_run = [e for e in events if e["attempt_id"] == runs[0]]
    assert [e["event_type"] for e in first_run] == [
        "session_start",
        "agent_output",
        "tool_call",
        "tool_result",
        "usage",
        "followup_sent",
        "agent_output",
        "usage",
        "session_end",
    ]
    usage = [e["data"] for e in first_run if e["event_type"] == "usage"]
    assert usage[1]["model"] == "gpt-4o" and usage[1]["cost_source"] == "pricing_table"
    assert len({e["event_id"] for e in events}) == len(events)
