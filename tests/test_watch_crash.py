"""kill -9 at random moments, restart, repeat: every alert exactly once (real subprocesses)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import AGENTLOG
from watchkit import alerts

WRITER = r"""
import random, sys, time
from pathlib import Path
import msgspec
from agentlog.events import now_iso
from agentlog.store.writer import LogWriter
root, seconds = Path(sys.argv[1]), float(sys.argv[2])
rng = random.Random(11)
w = LogWriter(root)
n = 0
def emit(attempt, kind, **data):
    global n
    n += 1
    line = {"timestamp": now_iso(), "event_type": kind, "attempt_id": attempt, "executor": "CODEX",
            "event_id": f"ev-{n:07d}", "data": data}
    w.append("agent-work-stream.jsonl", msgspec.json.encode(line) + b"\n")
end = time.time() + seconds
i = 0
while time.time() < end:
    a = f"att-{i:04d}"
    i += 1
    emit(a, "session_start", prompt_type=rng.choice(["initial", "retry", "followup"]))
    for _ in range(rng.randint(2, 12)):
        pick = rng.random()
        if pick < 0.35:
            emit(a, "error", error_message=rng.choice(["fatal: not a git repository", "429 rate limit", "boom %d" % rng.randint(1, 3)]))
        elif pick < 0.8:
            emit(a, "tool_call", tool_name=rng.choice(["bash", "read_file"]), tool_params={"p": rng.randint(1, 2)})
        else:
            emit(a, "usage", cost_usd=round(rng.uniform(0.05, 0.6), 3))
        time.sleep(0.002)
    emit(a, "session_end", completion_status=rng.choice(["success", "failed"]))
w.close()
"""


def _watch(log_dir, *args, env) -> subprocess.Popen:
    return subprocess.Popen(
        [*AGENTLOG, "watch", "--log-dir", str(log_dir), "--quiet", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_kill_9_at_random_points_every_alert_exactly_once(tmp_path):
    env = {**os.environ, "AGENT_STUCK_THRESHOLD_MS": "3600000"}  # no wall-clock alerts in this test
    log_dir = tmp_path / "live"
    log_dir.mkdir()
    rng = random.Random(5)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(log_dir), "14"])
    kills = 0
    while writer.poll() is None or kills < 22:
        watcher = _watch(log_dir, "--replay", env=env)
        time.sleep(rng.uniform(0.3, 0.9))
        watcher.send_signal(signal.SIGKILL)
        watcher.wait()
        kills += 1
    assert writer.wait() == 0
    final = _watch(log_dir, "--once", "--replay", env=env)  # the same command line, to finish: under load
    # every watcher may have been killed before its first commit, and a first start without
    # --replay would begin at the end
    assert final.wait(60) == 0

    reference = tmp_path / "reference"
    reference.mkdir()
    shutil.copy(log_dir / "agent-work-stream.jsonl", reference)
    assert _watch(reference, "--once", "--replay", env=env).wait(60) == 0

    got = [a["alert_id"] for a in alerts(log_dir)]
    expected = [a["alert_id"] for a in alerts(reference)]
    assert kills >= 22 and len(expected) > 50
    assert len(got) == len(set(got)), "an alert was written twice"
    assert sorted(got) == sorted(expected)


def _loop(attempt: str, start: float) -> list[dict]:
    from watchkit import ev

    events = [ev(attempt, "session_start", start)]
    events += [ev(attempt, "error", start + 1 + i, error_message="fatal: not a git repository") for i in range(4)]
    return events + [ev(attempt, "session_end", start + 9, completion_status="failed")]


def test_a_first_replay_killed_before_its_first_commit_is_resumed_not_skipped(tmp_path):
    """`watch --replay` killed -9 right after it caught up (before its commit interval): the
    next `watch` goes on from where the first one began, so what came meanwhile is watched."""
    from watchkit import BASE, wait_for, write

    env = {**os.environ, "AGENT_STUCK_THRESHOLD_MS": "3600000"}
    log_dir = tmp_path / "logs"
    write(log_dir / "agent-work-stream.jsonl", *_loop("before", BASE))
    first = _watch(log_dir, "--replay", env=env)
    beat = log_dir / "state" / "watch-heartbeat.json"
    try:
        assert wait_for(lambda: beat.exists() and len(alerts(log_dir)) == 2, timeout=60)  # error_loop, failed_session
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    write(log_dir / "agent-work-stream.jsonl", *_loop("while-down", BASE + 100))
    assert _watch(log_dir, "--once", env=env).wait(60) == 0
    assert sorted(a["attempt_id"] for a in alerts(log_dir)) == ["before"] * 2 + ["while-down"] * 2


def test_a_checkpoint_of_the_python_engine_sends_no_alert_twice_after_the_upgrade(tmp_path):
    """A checkpoint the Python engine wrote (snapshot version 2: msgpack-packed parked
    attempts), behind the journal as after a kill -9: the native engine leaves that state out,
    takes the journal's alerts into its cooldowns and reads on; no alert is written twice."""
    import json

    from watchkit import BASE, write

    env = {**os.environ, "AGENT_STUCK_THRESHOLD_MS": "3600000"}
    log_dir = tmp_path / "logs"
    write(log_dir / "agent-work-stream.jsonl", *_loop("a", BASE), *_loop("b", BASE + 20))
    assert _watch(log_dir, "--replay", "--once", env=env).wait(60) == 0
    before = sorted(a["alert_id"] for a in alerts(log_dir))
    assert len(before) == 4  # error_loop and failed_session, twice
    path = log_dir / "state" / "watch.checkpoint.json"
    saved = json.loads(path.read_bytes())
    saved["files"][0][2] = 0  # the old position: every event is read again
    saved["extra"] = {
        "version": 2,
        "clock": BASE + 29,
        "active": [["a", {"last_time": BASE + 3, "last_id": "e1", "slots": {"error_loop": [{"f": [BASE + 1]}]}}]],
        "parked": [["b", "haZleGVjdXRvcsA="]],  # msgpack, base64 in JSON
        "unjudged": ["b"],
        "ended": [],
        "remembered": [],
    }
    path.write_text(json.dumps(saved))
    assert _watch(log_dir, "--once", env=env).wait(60) == 0
    assert sorted(a["alert_id"] for a in alerts(log_dir)) == before
