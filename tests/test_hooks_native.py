"""The native hook client (hook-client/, `agentlog-hook`) as agents run it: served by the
resident guard with the Python client's answers, the Python hook when no guard takes the
call, exactly once when the guard takes a call and goes silent, failing open on anything else."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from guardkit import hook_errors, kill_servers, payload, run_hook, server_pid, servers, session_events, wait_for

BIN = Path(sys.executable).parent
NATIVE = BIN / "agentlog-hook"
AGENTLOG = str(BIN / "agentlog")
ALLOW = '{"permission":"allow"}'


@pytest.fixture(autouse=True)
def _setting_and_no_stray_servers(tmp_path):
    assert NATIVE.is_file(), f"{NATIVE} is missing: scripts/setup installs it (pip install ./hook-client)"
    (tmp_path / "agentlog.toml").write_text("[guard]\nrepeat_threshold = 3\n")
    yield
    kill_servers(tmp_path)


def native(cwd: Path, log_dir: Path, body: bytes | None, *extra: str, program: Path = NATIVE, **env: str):
    return run_hook([str(program), "claude-code", "PreToolUse", "--log-dir", str(log_dir), *extra], cwd, body, **env)


def python_hook(cwd: Path, log_dir: Path, body: bytes) -> subprocess.CompletedProcess:
    """The Python client, each call in its own process (no guard)."""
    argv = [AGENTLOG, "hook", "claude-code", "PreToolUse", "--log-dir", str(log_dir)]
    return run_hook(argv, cwd, body, AGENTLOG_GUARD_RESIDENT="0")


def alone(tmp_path: Path) -> Path:
    """The native client copied where no `agentlog` lies beside it (nor on the PATH it gets):
    it can only be answered by the guard, or fail open."""
    folder = tmp_path / "alone"
    folder.mkdir(exist_ok=True)
    shutil.copy2(NATIVE, folder / NATIVE.name)
    return folder / NATIVE.name


def test_served_by_the_guard_with_the_python_clients_answers(tmp_path):
    served, reference = tmp_path / "served", tmp_path / "reference"
    first = native(tmp_path, served, payload(session_id="warm-up"))  # no guard yet: the Python hook starts one
    assert (first.returncode, first.stdout, first.stderr) == (0, b"", b"")
    wait_for(lambda: server_pid(served), "the guard")
    program = alone(tmp_path)  # from here every answer is the guard's: there is no Python hook to run
    results = [
        native(tmp_path, served, payload(tool_use_id=f"call_{i}"), program=program, PATH="/nonexistent")
        for i in range(5)
    ]
    expected = [python_hook(tmp_path, reference, payload(tool_use_id=f"call_{i}")) for i in range(5)]
    assert [(r.returncode, r.stderr) for r in results] == [(0, b"")] * 5
    assert [r.stdout for r in results] == [e.stdout for e in expected]
    assert [r.stdout for r in results][:2] == [b"", b""]  # allowed
    for out in [r.stdout for r in results][2:]:  # the third identical call on: denied
        decision = json.loads(out)["hookSpecificOutput"]
        assert (
            decision["permissionDecision"] == "deny" and "times in this session" in decision["permissionDecisionReason"]
        )
    assert [(e["event_type"], e["sequence_num"]) for e in session_events(served)] == [
        (e["event_type"], e["sequence_num"]) for e in session_events(reference)
    ]
    assert hook_errors(served) == []


def test_no_guard_runs_the_python_hook_which_records_and_starts_one(tmp_path, log_dir):
    result = native(tmp_path, log_dir, payload())
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    assert [e["event_type"] for e in session_events(log_dir)] == ["session_start", "tool_call"]
    wait_for(lambda: server_pid(log_dir), "the guard the Python hook starts")
    assert hook_errors(log_dir) == []


def test_with_the_guard_turned_off_every_call_runs_in_the_python_hook(tmp_path, log_dir):
    for i in range(3):
        result = native(tmp_path, log_dir, payload(tool_use_id=f"call_{i}"), AGENTLOG_GUARD_RESIDENT="0")
        assert result.returncode == 0
    assert json.loads(result.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert len(session_events(log_dir)) == 4 and not servers(tmp_path)


class FakeGuard:
    """A guard on the log dir's socket that answers every call with `script(conn)`, after
    reading the request (kept in `requests`, as the wire format's items)."""

    def __init__(self, log_dir: Path, script):
        from agentlog.guard import client

        self.client, self.script, self.requests = client, script, []
        (log_dir / "state").mkdir(parents=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(log_dir / "state" / client.SOCKET))
        self.sock.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.requests.append(self.client.unpack(self.client.read_message(conn)))
                self.script(conn)

    def close(self) -> None:
        self.sock.close()


def takes_the_call_and_goes_silent(conn: socket.socket) -> None:
    conn.sendall(b"A")
    assert conn.recv(1) == b"G"


@pytest.mark.parametrize("fail_open", [None, ALLOW])
@pytest.mark.parametrize("client", ["native", "python"])
def test_a_call_the_guard_took_and_left_unanswered_fails_open_and_never_runs_twice(
    tmp_path, log_dir, client, fail_open
):
    guard = FakeGuard(log_dir, takes_the_call_and_goes_silent)
    extra = ("--fail-open", fail_open) if fail_open else ()
    args = ["claude-code", "PreToolUse", "--log-dir", str(log_dir), *extra]
    argv = [str(NATIVE), *args] if client == "native" else [AGENTLOG, "hook", *args]
    try:
        result = run_hook(argv, tmp_path, payload(), FOR_THE_GUARD="x=y")
    finally:
        guard.close()
    assert (result.returncode, result.stdout) == (0, (fail_open or "").encode())
    assert session_events(log_dir) == []  # not run here too
    assert not servers(tmp_path)  # and no guard started over it
    [error] = hook_errors(log_dir)
    reason = "GuardNoReply" if client == "native" else "ConnectionError"
    assert error["error"].startswith(reason) and error["argv"] == args
    # the same request from both clients: what hook.run needs to run the call as in the client's process
    [items] = guard.requests
    assert items[:4] == [b"2", str(tmp_path).encode(), payload(), str(len(args)).encode()]
    assert items[4 : 4 + len(args)] == [arg.encode() for arg in args]
    assert b"FOR_THE_GUARD=x=y" in items[4 + len(args) :]


@pytest.mark.parametrize("answer", [b"F", b""], ids=["declined", "closed"])
def test_a_call_the_guard_did_not_take_runs_in_the_python_hook(tmp_path, log_dir, answer):
    guard = FakeGuard(log_dir, lambda conn: conn.sendall(answer))
    try:
        result = native(tmp_path, log_dir, payload())
    finally:
        guard.close()
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    assert [e["event_type"] for e in session_events(log_dir)] == ["session_start", "tool_call"]
    assert len(guard.requests) == 1  # asked once: the Python hook did not ask again
    assert hook_errors(log_dir) == [] and not servers(tmp_path)  # a guard listens: none started


def test_a_reply_cut_short_fails_open(tmp_path, log_dir):
    def cut_short(conn):
        conn.sendall(b"A")
        conn.recv(1)
        conn.sendall(guard.client.pack([b"0", b'{"decision": "block"}'])[:-3])

    guard = FakeGuard(log_dir, cut_short)
    try:
        result = native(tmp_path, log_dir, payload())
    finally:
        guard.close()
    assert (result.returncode, result.stdout) == (0, b"")
    assert session_events(log_dir) == [] and hook_errors(log_dir)[0]["error"].startswith("GuardNoReply")


@pytest.mark.parametrize("body", [b"", b"\x00\xffnot json", b"[1, 2]"], ids=["missing", "garbage", "not-an-object"])
@pytest.mark.parametrize("served", [False, True], ids=["python-hook", "guard"])
def test_a_missing_or_garbage_payload_fails_open(tmp_path, log_dir, body, served):
    if served:
        native(tmp_path, log_dir, payload(session_id="warm-up"))
        wait_for(lambda: server_pid(log_dir), "the guard")
    plain = native(tmp_path, log_dir, body)
    cursor = native(tmp_path, log_dir, body, f"--fail-open={ALLOW}")
    assert (plain.returncode, plain.stdout, plain.stderr) == (0, b"", b"")
    assert (cursor.returncode, cursor.stdout, cursor.stderr) == (0, ALLOW.encode(), b"")
    errors = hook_errors(log_dir)
    assert len(errors) == 2 and all("PayloadError" in e["error"] for e in errors)


def test_no_guard_and_no_python_hook_fails_open_logged(tmp_path, log_dir):
    result = native(tmp_path, log_dir, payload(), "--fail-open", ALLOW, program=alone(tmp_path), PATH="/nonexistent")
    assert (result.returncode, result.stdout) == (0, ALLOW.encode())
    [error] = hook_errors(log_dir)
    assert error["error"].startswith("FallbackFailed: cannot run agentlog")


@pytest.mark.slow
def test_a_payload_over_the_limit_is_cut_down_by_the_python_hook(tmp_path, log_dir):
    (tmp_path / "agentlog.toml").write_text("[guard]\ntimeout_ms = 60000\n")  # 17 MiB on a loaded machine
    big = json.loads(payload())
    big.update(hook_event_name="PostToolUse", tool_response={"stdout": "x" * (17 * 1024 * 1024), "stderr": ""})
    result = subprocess.run(
        [str(NATIVE), "claude-code", "PostToolUse", "--log-dir", str(log_dir)],
        input=json.dumps(big).encode(),
        capture_output=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert (result.returncode, result.stderr, hook_errors(log_dir)) == (0, b"", [])
    [*_, recorded] = session_events(log_dir)
    assert recorded["event_type"] == "tool_result" and recorded["data"]["result_data"].startswith("xxxx")
    assert hook_errors(log_dir) == []


def test_help_and_version():
    result = subprocess.run([str(NATIVE), "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "agentlog-hook AGENT EVENT" in result.stdout
    result = subprocess.run([str(NATIVE), "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.startswith("agentlog-hook ")


# -- hooks install ----------------------------------------------------------------------------


def hooks_cli(*args: str, project: Path, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(home), "XDG_STATE_HOME": str(home / "state")}
    return subprocess.run([AGENTLOG, "hooks", *args], capture_output=True, text=True, cwd=project, env=env, timeout=60)


def commands(path: Path) -> set[str]:
    hooks = json.loads(path.read_bytes())["hooks"]
    return {h["command"] for groups in hooks.values() for g in groups for h in g["hooks"]}


def test_install_points_at_the_native_client_and_status_says_so(tmp_path):
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    path = project / ".claude" / "settings.local.json"
    assert hooks_cli("install", "claude-code", project=project, home=home).returncode == 0
    assert f"{NATIVE} claude-code PreToolUse" in commands(path)
    assert all(c.startswith(f"{NATIVE} claude-code ") for c in commands(path))
    assert "installed (native client)" in hooks_cli("status", "claude-code", project=project, home=home).stdout
    # the other client: agentlog's commands rewritten in place, never one of each
    assert hooks_cli("install", "claude-code", "--client", "python", project=project, home=home).returncode == 0
    assert all(c.startswith(f"{AGENTLOG} hook claude-code ") for c in commands(path))
    assert "installed (python client)" in hooks_cli("status", "claude-code", project=project, home=home).stdout
    assert hooks_cli("install", "claude-code", project=project, home=home).returncode == 0
    assert all(c.startswith(f"{NATIVE} claude-code ") for c in commands(path))
    assert hooks_cli("uninstall", "claude-code", project=project, home=home).returncode == 0
    assert not path.exists()


def test_the_installed_command_carries_the_agents_fail_open_reply(tmp_path, log_dir):
    """An agent that blocks a call its hook leaves unanswered declares the reply that lets it
    through (agents.base.Hooks.fail_open); the installed command hands it to the client."""
    from types import SimpleNamespace

    from agentlog.guard.install import hook_base, hook_command

    base, is_native = hook_base("native")
    agent = SimpleNamespace(name="claude-code", hooks=SimpleNamespace(fail_open=ALLOW))
    line = hook_command(base, agent, "PreToolUse", is_native)
    assert line == f"{NATIVE} claude-code PreToolUse --fail-open '{ALLOW}'"
    result = subprocess.run(
        f"{line} --log-dir {log_dir}", shell=True, input=b"not json", capture_output=True, cwd=tmp_path, check=False
    )
    assert (result.returncode, result.stdout) == (0, ALLOW.encode())
    assert "PayloadError" in hook_errors(log_dir)[0]["error"]
