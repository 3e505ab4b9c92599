"""Files are private by default: everything agentlog creates (logs, transcripts, state,
checkpoints, archives made by rotation, reports, guard state, hook backups, caches) is
0600 in 0700 folders, or 0640 in 0750 with `file_mode = "group"`; checked with os.stat on
the real files the real CLI wrote, under a permissive umask."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest


def agentlog(*args: str, env: dict, cwd: Path, input: bytes | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "agentlog", *args], input=input, capture_output=True, cwd=cwd,
                            env={**os.environ, **env}, preexec_fn=lambda: os.umask(0o022))
    assert result.returncode == 0, (args, result.stderr.decode())
    return result


def events(attempts: int = 3) -> bytes:
    lines = []
    for n in range(attempts):
        attempt = f"att-{n}"
        lines.append({"attempt_id": attempt, "event_type": "session_start", "executor": "CODEX",
                      "data": {"prompt": "fix it"}})
        lines += [{"attempt_id": attempt, "event_type": "error", "executor": "CODEX",
                   "data": {"error_message": "fatal: not a git repository"}}] * 5
        lines.append({"attempt_id": attempt, "event_type": "session_end", "executor": "CODEX",
                      "data": {"completion_status": "failed"}})
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def exercise(tmp_path: Path, env: dict, flags: tuple[str, ...] = ()) -> list[Path]:
    """Run every command that creates files; returns the roots it wrote under."""
    logs, home, project = tmp_path / "logs", tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    env = {**env, "HOME": str(home), "XDG_STATE_HOME": str(home / "state"), "XDG_CACHE_HOME": str(home / "cache")}
    log = ("--log-dir", str(logs), *flags)
    agentlog("emit", "-", *log, input=events(), env=env, cwd=tmp_path)
    agentlog("watch", "--once", "--replay", "--quiet", *log, env=env, cwd=tmp_path)
    agentlog("report", *log, env=env, cwd=tmp_path)
    agentlog("replay", "att-0", "--html", str(tmp_path / "replay" / "att-0.html"), *log, env=env, cwd=tmp_path)
    agentlog("rotate", *log, env={**env, "AGENT_WORK_LOG_MAX_SIZE_MB": "0.0001"}, cwd=tmp_path)
    agentlog("emit", "-", *log, input=events(1), env=env, cwd=tmp_path)  # live files again, after rotation
    payload = {"session_id": "hook-1", "hook_event_name": "PreToolUse", "tool_name": "Bash",
               "tool_input": {"command": "ls"}, "cwd": str(project)}
    agentlog("hook", "claude-code", "PreToolUse", *log, input=json.dumps(payload).encode(), env=env, cwd=project)
    agentlog("hooks", "install", "claude-code", env=env, cwd=project)
    return [logs, home / "state", home / "cache", project / ".claude", tmp_path / "replay"]


def modes_under(roots: list[Path]) -> dict[Path, int]:
    found = {}
    for root in roots:
        found[root] = stat.S_IMODE(root.stat().st_mode)
        for path in root.rglob("*"):
            found[path] = stat.S_IMODE(path.lstat().st_mode)
    return found


@pytest.mark.parametrize("policy, file_mode, dir_mode", [(None, 0o600, 0o700), ("group", 0o640, 0o750)])
def test_everything_agentlog_creates_has_the_policy_mode(tmp_path, policy, file_mode, dir_mode):
    env = {"AGENT_WORK_FILE_MODE": policy} if policy else {}
    found = modes_under(exercise(tmp_path, env))
    agent_settings = tmp_path / "project" / ".claude" / "settings.local.json"  # the agent's: may hold keys
    wrong = {str(p.relative_to(tmp_path)): oct(m) for p, m in found.items()
             if m != (dir_mode if p.is_dir() else 0o600 if p == agent_settings else file_mode)}
    assert wrong == {}
    names = {p.relative_to(tmp_path).as_posix() for p in found}
    for expected in ("logs/agent-work-stream.jsonl", "logs/agent-errors.jsonl", "logs/agent-metrics.jsonl",
                     "logs/agent-sessions/att-0.jsonl", "logs/state/watch.checkpoint.json",
                     "logs/state/guard/hook-1.msgpack", "logs/reports", "replay/att-0.html",
                     "project/.claude/settings.local.json"):
        assert expected in names
    for kind in ("agent-work-stream", "agent-alerts"):
        assert any(n.startswith(f"logs/archive/{kind}-") and n.endswith(".gz") for n in names)
    assert any(n.startswith("logs/reports/agentlog-report-") for n in names)
    assert any(n.startswith("home/state/agentlog/hooks/") and n.endswith(".json") for n in names)  # the backup
    assert any(n.startswith("logs/state/analytics-cache/part-") for n in names)


def test_the_toml_setting_chooses_group(tmp_path):
    config = tmp_path / "agentlog.toml"
    config.write_text('file_mode = "group"\n')
    agentlog("emit", "-", "--log-dir", str(tmp_path / "logs"), "--config", str(config), input=events(1), env={},
             cwd=tmp_path)
    assert stat.S_IMODE((tmp_path / "logs" / "agent-work-stream.jsonl").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "logs" / "agent-sessions").stat().st_mode) == 0o750


def test_an_unknown_policy_is_a_usage_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "agentlog", "emit", "-", "--log-dir", str(tmp_path / "logs")],
                            input=events(1), capture_output=True, env={**os.environ, "AGENT_WORK_FILE_MODE": "world"})
    assert result.returncode == 2 and b"file_mode" in result.stderr and b"private, group" in result.stderr
    assert not (tmp_path / "logs").exists()


def test_the_python_api_writes_private_files(tmp_path):
    from agentlog.recorder import Recorder

    old = os.umask(0o022)
    try:
        with Recorder(log_dir=tmp_path / "deep" / "logs") as recorder:
            recorder.record({"attempt_id": "py-1", "event_type": "error", "data": {"error_message": "boom"}})
    finally:
        os.umask(old)
    found = modes_under([tmp_path / "deep"])
    assert {oct(m) for p, m in found.items() if p.is_dir()} == {"0o700"}
    assert {oct(m) for p, m in found.items() if p.is_file()} == {"0o600"}


def test_existing_files_keep_their_mode(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o755)
    (logs / "agent-work-stream.jsonl").touch(mode=0o644)
    os.chmod(logs / "agent-work-stream.jsonl", 0o644)
    agentlog("emit", "-", "--log-dir", str(logs), input=events(1), env={}, cwd=tmp_path)
    assert stat.S_IMODE((logs / "agent-work-stream.jsonl").stat().st_mode) == 0o644  # the user's choice
    assert stat.S_IMODE((logs / "agent-errors.jsonl").stat().st_mode) == 0o600  # new


def test_the_readme_claims_the_modes_agentlog_applies(tmp_path):
    """The README's Security model table is what a real run produces, policy by policy."""
    import re

    from agentlog.store.modes import POLICIES

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Security model", 1)[1].split("\n## ", 1)[0]
    claimed = {m[1]: (int(m[2], 8), int(m[3], 8))
               for m in re.finditer(r"^\| (\w+)[^|]*\| `(0\d{3})` \| `(0\d{3})` \|$", section, re.M)}
    assert claimed == POLICIES and "private (default)" in section
    for policy, (file_mode, dir_mode) in claimed.items():
        logs = tmp_path / policy / "logs"
        agentlog("emit", "-", "--log-dir", str(logs), input=events(1), env={"AGENT_WORK_FILE_MODE": policy},
                 cwd=tmp_path)
        assert stat.S_IMODE((logs / "agent-work-stream.jsonl").stat().st_mode) == file_mode
        assert stat.S_IMODE((logs / "agent-sessions").stat().st_mode) == dir_mode
