"""The resident guard's processes as the hook tests see them: payloads, the servers that
listen under a folder, waiting for them, what a session recorded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "data" / "hooks"
SESSION = "resident-session"


def payload(**changes) -> bytes:
    data = json.loads((FIXTURES / "claude-code" / "PreToolUse.json").read_text())
    data.update({"session_id": SESSION, **changes})
    return json.dumps(data).encode()


def run_hook(argv: list[str], cwd: Path, body: bytes | None, **env: str) -> subprocess.CompletedProcess:
    """One hook call as an agent makes it, the resident guard allowed (2 minutes idle)."""
    environ = {**os.environ, "AGENTLOG_GUARD_RESIDENT": "1", "AGENTLOG_GUARD_IDLE_S": "120", **env}
    return subprocess.run(argv, input=body, capture_output=True, cwd=cwd, env=environ, timeout=60, check=False)


def servers(under: Path) -> list[int]:
    """Pids of guard servers whose socket lies under `under`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "agentlog.guard.server" in cmdline and str(under) in cmdline:
                found.append(int(entry.name))
    return found


def kill_servers(under: Path) -> None:
    for pid in servers(under):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_for(lambda: not servers(under), "the test's servers to exit")


def wait_for(condition, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def server_pid(log_dir: Path) -> int | None:
    """The pid of the server that listens on the log dir's socket (None: none does)."""
    from agentlog.guard import client, server

    state = log_dir / "state"
    try:
        pid = int((state / server.PID).read_text())
    except (OSError, ValueError):
        return None
    return pid if (state / client.SOCKET).exists() and pid in servers(log_dir) else None


def session_events(log_dir: Path, session: str = SESSION) -> list[dict]:
    from agentlog.store.layout import session_path

    path = session_path(log_dir, session)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def hook_errors(log_dir: Path) -> list[dict]:
    path = log_dir / "state" / "hook-errors.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
