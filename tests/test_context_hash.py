"""context_sha256: hooks stamp what shaped the agent at SessionStart; an edit splits the runs."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli
from test_hooks import hook, payload, session_events

from agentlog.capture.context import context_parts, context_sha256


def _project(tmp_path: Path) -> tuple[Path, Path]:
    repo, home = tmp_path / "repo", tmp_path / "home"
    (repo / ".git").mkdir(parents=True)
    (repo / "pkg").mkdir()
    (repo / "AGENTS.md").write_text("Run the tests before you finish.\n")
    (repo / ".claude" / "skills" / "release").mkdir(parents=True)
    (repo / ".mcp.json").write_text('{"mcpServers": {}}')
    home.mkdir()
    return repo, home


def test_the_hash_follows_every_part_and_nothing_else(tmp_path: Path) -> None:
    repo, home = _project(tmp_path)
    base = context_sha256(repo / "pkg", "claude-sonnet-4-5", home)
    assert base == context_sha256(repo / "pkg", "claude-sonnet-4-5", home)
    assert {what for what, _ in context_parts(repo / "pkg", "m", home)} == {
        "project:AGENTS.md",
        "mcp:.mcp.json",
        "skills:project:.claude/skills",
        "model",
    }
    (repo / "unrelated.txt").write_text("x")
    assert context_sha256(repo / "pkg", "claude-sonnet-4-5", home) == base
    changes = [
        lambda: (repo / "AGENTS.md").write_text("Never run the tests.\n"),
        lambda: (repo / "pkg" / "CLAUDE.md").write_text("be brief"),
        lambda: (repo / ".claude" / "skills" / "deploy").mkdir(),
        lambda: (repo / ".mcp.json").write_text('{"mcpServers": {"x": {}}}'),
        lambda: (home / ".claude").mkdir() or (home / ".claude" / "CLAUDE.md").write_text("mine"),
    ]
    seen = {base}
    for change in changes:
        change()
        now = context_sha256(repo / "pkg", "claude-sonnet-4-5", home)
        assert now not in seen
        seen.add(now)
    assert context_sha256(repo / "pkg", "claude-opus-4-6", home) not in seen
    # above the repository root nothing counts
    (tmp_path / "AGENTS.md").write_text("outside")
    assert context_sha256(repo / "pkg", "claude-sonnet-4-5", home) in seen


def test_hooks_stamp_it_and_ab_report_splits_runs_by_it(tmp_path: Path, log_dir: Path) -> None:
    repo, home = _project(tmp_path)
    env = {"HOME": str(home)}
    stamps = []
    for i, text in enumerate(["v1", "v1", "v2"]):
        (repo / "AGENTS.md").write_text(text)
        session = f"5e55a0a1-0000-4000-8000-00000000010{i}"
        for event in ("SessionStart", "UserPromptSubmit", "SessionEnd"):
            body = payload("claude-code", event, session_id=session, cwd=str(repo))
            assert hook("claude-code", event, body, repo, log_dir, env).returncode == 0
        start = session_events(log_dir, session)[0]
        stamps.append(start["data"]["context_sha256"])
    assert stamps[0] == stamps[1] != stamps[2]
    assert stamps[2] == context_sha256(repo, payload("claude-code", "SessionStart").get("model"), home)  # AGENTS.md: v2
    listed = json.loads(
        run_cli("ab", "report", "--log-dir", str(log_dir), "--days", "0", "--format", "json", check=True).stdout
    )
    assert listed == [{"experiment": "context", "variants": {stamps[0]: 2, stamps[2]: 1}, "runs": 3}]
