"""Helpers for the fleet tests: simulated machines, CLI processes, the expected alerts."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AGENTLOG = [sys.executable, "-m", "agentlog"]  # the agentlog of the Python running the tests
PY = sys.executable

# A simulated session's steps, shared by both scripts: it succeeds, loops on an error, loops
# on a tool or costs too much; `steps` yields after each step so machines can interleave.
SESSION = r"""
import random, sys, time
from agentlog import config
from agentlog.capture.api import Session
from agentlog.recorder import Recorder

def steps(s, kind, rng, results):
    s.start()
    for k in range(rng.randint(5, 15)):
        if kind == "error_loop":
            s.error(f"fatal: not a git repository: /tmp/x{k}/.git")
        elif kind == "tool_loop":
            s.tool_call("read_file", {"path": "a.py"})
        elif kind == "cost":
            s.usage(input_tokens=100000, output_tokens=1000, cost_usd=0.4)
        else:
            s.tool_call("bash", {"cmd": f"ls {k}"})
            if results:
                s.tool_result("bash", "success", "ok")
        yield
    s.end("success" if kind == "ok" else "failed")
"""

# One simulated machine, sessions one after another.
MACHINE = (
    SESSION
    + r"""
log_dir, name, sessions, pause = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
rng = random.Random(name)
with Recorder(config.load({"log_dir": log_dir})) as rec:
    for i in range(sessions):
        kind = rng.choice(["ok", "ok", "error_loop", "tool_loop", "cost"])
        s = Session(f"{name}-s{i:03d}-{kind}", executor=rng.choice(["CODEX", "CLAUDE_CODE"]), model="m",
                    task_id=f"task-{i % 5}", recorder=rec)
        for _ in steps(s, kind, rng, results=True):
            if pause:
                time.sleep(pause * rng.random())
"""
)


# Many machines in one process (each its own log dir and recorder), interleaved step by step.
MACHINES = (
    SESSION
    + r"""
root, count, sessions, pause = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
def machine(i):
    name = f"m{i:02d}"
    rng = random.Random(name)
    rec = Recorder(config.load({"log_dir": f"{root}/{name}"}))
    for n in range(sessions):
        kind = rng.choice(["ok", "ok", "error_loop", "tool_loop", "cost"])
        s = Session(f"{name}-s{n:03d}-{kind}", executor="CODEX", model="m", task_id=f"t{n % 5}", recorder=rec)
        yield from steps(s, kind, rng, results=False)
        yield
    rec.close()
live = [machine(i) for i in range(count)]
while live:
    for m in list(live):
        if next(m, StopIteration) is StopIteration:
            live.remove(m)
    time.sleep(pause)
"""
)


def write_machines(root: Path, count: int, sessions: int, pause: float) -> subprocess.Popen:
    return subprocess.Popen([PY, "-c", MACHINES, str(root), str(count), str(sessions), str(pause)])


def write_machine(log_dir: Path, name: str, sessions: int = 6, pause: float = 0.0) -> subprocess.Popen:
    return subprocess.Popen([PY, "-c", MACHINE, str(log_dir), name, str(sessions), str(pause)])


def agentlog(*args: str, **kwargs) -> subprocess.Popen:
    """A long-running agentlog command. Its stderr goes to a file (`told` reads it back): a
    pipe nobody reads fills at 64 KiB, and the process then blocks on its next message, a
    hang that looks like lost events."""
    env = {**os.environ, "AGENT_STUCK_THRESHOLD_MS": "600000"}
    stderr = tempfile.TemporaryFile()
    proc = subprocess.Popen([*AGENTLOG, *args], stdout=subprocess.DEVNULL, stderr=stderr, env=env, **kwargs)
    proc.told = stderr
    return proc


def told(procs: dict[str, subprocess.Popen], tail: int = 1500) -> str:
    """The end of what each process wrote to stderr, for a failure's message."""
    said = []
    for name, proc in procs.items():
        proc.told.seek(0)
        text = proc.told.read().decode(errors="replace")[-tail:].strip()
        if text:
            said.append(f"--- {name}:\n{text}")
    return "\n".join(said)


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "AGENT_STUCK_THRESHOLD_MS": "600000"}
    return subprocess.run([*AGENTLOG, *args], capture_output=True, text=True, timeout=timeout, env=env)


def event_ids(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(line)["event_id"] for line in path.read_bytes().splitlines() if line.strip()]


def expected_alerts(machine_dirs: list[Path], tmp: Path) -> set[str]:
    """What the single-machine watchdog finds on the union of the local logs."""
    union = tmp / "union"
    union.mkdir(exist_ok=True)
    with open(union / "agent-work-stream.jsonl", "wb") as out:
        for d in machine_dirs:
            out.write((d / "agent-work-stream.jsonl").read_bytes())
    result = run("watch", "--replay", "--once", "--quiet", "--log-dir", str(union))
    assert result.returncode == 0, result.stderr
    return {a["alert_id"] for a in map(json.loads, (union / "agent-alerts.jsonl").read_text().splitlines())}


def published_alerts(url: str, timeout: float = 60) -> list[str]:
    """Every alert_id in the AGENTLOG_ALERTS stream, duplicates included (read by sequence)."""

    async def main():
        from agentlog.fleet import bus
        from nats.js.errors import NotFoundError

        nc = await bus.connect(bus.NatsOptions(servers=url))
        js = nc.jetstream(timeout=2)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    state = (await js.stream_info(bus.ALERTS)).state
                    ids = []
                    for seq in range(state.first_seq, state.last_seq + 1) if state.messages else ():
                        try:
                            msg = await js.get_msg(bus.ALERTS, seq, direct=True)
                        except NotFoundError:
                            continue
                        ids.append(json.loads(msg.data)["alert_id"])
                    return ids
                except Exception:  # noqa: BLE001 - a leader election after a server was killed
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.5)
        finally:
            await nc.close()

    return asyncio.run(main())


def wait_for(check, timeout: float, step: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def stop(procs) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


__all__ = [
    "agentlog",
    "run",
    "write_machine",
    "write_machines",
    "event_ids",
    "expected_alerts",
    "published_alerts",
    "wait_for",
    "stop",
    "told",
    "random",
]
