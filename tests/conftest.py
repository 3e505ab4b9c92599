"""Shared fixtures: a fresh log dir per test and a way to run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
AGENTLOG = [sys.executable, "-m", "agentlog"]
# Runs a command and prints its peak memory last: a fresh parent, so no other child counts.
PEAK = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=300)\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024\n"
    "print(done.returncode, peak, done.stdout, done.stderr, sep='\\0', end='')\n"
)


def peak_of(*args: str, stdin=None) -> tuple[int, int, str, str]:
    """`agentlog ARGS` in a subprocess: exit code, peak RSS (MiB), stdout, stderr."""
    command = [sys.executable, "-c", PEAK, *AGENTLOG, *args]
    done = subprocess.run(command, stdin=stdin, capture_output=True, text=True, check=True)
    code, peak, out, err = done.stdout.split("\0")
    return int(code), int(peak), out, err


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path / "logs"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's own agentlog settings or .env."""
    for name in list(os.environ):
        if name.startswith(("AGENT_", "AGENTLOG_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AGENTLOG_GUARD_RESIDENT", "0")  # no resident guard left behind (its own tests start one)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.chdir(tmp_path)


def run_cli(
    *args: str, input: bytes | str | None = None, env: dict | None = None, cwd: Path | None = None, check: bool = False
) -> subprocess.CompletedProcess:
    """Run `agentlog ARGS` as a user would, in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    if isinstance(input, str):
        input = input.encode()
    result = subprocess.run([*AGENTLOG, *args], input=input, capture_output=True, env=full_env, cwd=cwd)
    if check and result.returncode != 0:
        raise AssertionError(f"agentlog {' '.join(args)} exited {result.returncode}:\n{result.stderr.decode()}")
    return result


def read_jsonl(path: Path) -> list[dict]:
    import json

    # "\n" only: str.splitlines() also cuts at U+0085 or U+2028, which a JSON string may hold raw
    return [json.loads(line) for line in path.read_text(encoding="utf-8-sig").split("\n") if line.strip()]


@pytest.fixture
def cli():
    """The real `agentlog` command, run in a subprocess."""
    return run_cli


def imported_attempt(log_dir: Path, name: str) -> str:
    """The attempt id an importer gave the transcript named `name`: the name itself when it
    holds the agent's session UUID, else `<name>-<hash of its path>`."""
    import re

    ids = {e["attempt_id"] for e in read_jsonl(log_dir / "agent-work-stream.jsonl")}
    found = sorted(a for a in ids if re.fullmatch(re.escape(name) + r"(-[0-9a-f]{8})?", a))
    assert len(found) == 1, f"{name}: {found or sorted(ids)}"
    return found[0]


def imported_events(log_dir: Path, name: str) -> list[dict]:
    """The transcript of the imported attempt named `name` (see imported_attempt)."""
    from agentlog.store import layout

    return read_jsonl(layout.session_path(log_dir, imported_attempt(log_dir, name)))
