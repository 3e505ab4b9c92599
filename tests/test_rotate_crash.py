"""kill -9 of `agentlog rotate` at every step (and at random moments) while an agent writes:
the next rotation finishes the job, and every event is in the logs exactly once."""

from __future__ import annotations

import gzip
import json
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from agentlog.store import layout
from agentlog.store.reader import read_kind
from agentlog.store.rotate import FAILPOINT, MANIFEST, RETIRED

from conftest import AGENTLOG

# An agent: records events (every 10th an error, a session_end every 100) until told to
# stop, then reports the event ids it recorded.
WRITER = textwrap.dedent("""
    import json, os, sys, time
    from agentlog import config
    from agentlog.recorder import Recorder

    log_dir, me, stop, report = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    recorder = Recorder(config.load(environ={}), log_dir=log_dir)
    ids, errors, ended, i = [], [], [], 0
    while not os.path.exists(stop):
        attempt = f"w{me}-{i // 100}"
        if i % 10 == 9:
            event = recorder.record({"attempt_id": attempt, "event_type": "error",
                                     "data": {"error_message": f"w{me} failure number {i}"}})
            errors.append(event["event_id"])
        else:
            event = recorder.record({"attempt_id": attempt, "event_type": "agent_output",
                                     "data": {"output": f"w{me}:{i}:" + "x" * 300}})
        ids.append(event["event_id"])
        i += 1
        if i % 100 == 0:
            ids.append(recorder.record({"attempt_id": attempt, "event_type": "session_end",
                                        "data": {"completion_status": "success"}})["event_id"])
            ended.append(attempt)
        time.sleep(0.002)
    recorder.close()
    with open(report, "w") as out:
        json.dump({"ids": ids, "errors": errors, "ended": ended}, out)
""")


LIMIT_MB = 0.02


def start_writers(log_dir: Path, tmp: Path, count: int) -> list[subprocess.Popen]:
    log_dir.mkdir(parents=True, exist_ok=True)
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                str(log_dir),
                str(w),
                str(tmp / "stop-writers"),
                str(tmp / f"writer-{w}.json"),
            ]
        )
        for w in range(count)
    ]


def stop_writers(procs: list[subprocess.Popen], tmp: Path) -> dict[str, list[str]]:
    (tmp / "stop-writers").touch()
    assert all(p.wait(timeout=60) == 0 for p in procs)
    merged: dict[str, list[str]] = {"ids": [], "errors": [], "ended": []}
    for w in range(len(procs)):
        for key, values in json.loads((tmp / f"writer-{w}.json").read_text()).items():
            merged[key] += values
    return merged


def wait_for_size(path: Path, size: float, timeout: float = 20.0) -> None:
    """Until the writers have filled the live file past the limit (so a rotation has work)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size >= size:
            return
        time.sleep(0.02)


def assert_exactly_once(log_dir: Path, written: dict[str, list[str]]) -> None:
    """Every recorded event once in stream, errors and transcripts; one metrics line per session."""
    stream = Counter(e["event_id"] for e in read_kind(log_dir, "stream"))
    assert len(written["ids"]) == len(set(written["ids"])) > 0
    assert set(stream) == set(written["ids"]), f"lost {len(set(written['ids']) - set(stream))}"
    assert max(stream.values()) == 1, "duplicated in the stream"
    errors = Counter(e["event_id"] for e in read_kind(log_dir, "errors"))
    assert set(errors) == set(written["errors"]) and max(errors.values()) == 1
    metrics = Counter(e["attempt_id"] for e in read_kind(log_dir, "metrics"))
    assert set(metrics) == set(written["ended"]) and max(metrics.values()) == 1
    transcripts = Counter()
    for path in [
        *(log_dir / layout.SESSIONS).glob("*.jsonl"),
        *(log_dir / layout.ARCHIVE / layout.SESSIONS).glob("*.jsonl.gz"),
    ]:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        transcripts.update(json.loads(line)["event_id"] for line in raw.splitlines())
    assert set(transcripts) == set(written["ids"]) and max(transcripts.values()) == 1


def assert_no_leftovers(log_dir: Path) -> None:
    archive = log_dir / layout.ARCHIVE
    stray = [
        p
        for p in archive.rglob("*")
        if p.is_file() and p.name != MANIFEST and (not p.name.endswith(".gz") or p.parent.name == RETIRED)
    ]
    assert stray == []


def rotate_cli(log_dir: Path, env: dict | None = None) -> subprocess.Popen:
    import os

    full = {
        **os.environ,
        "AGENT_WORK_LOG_MAX_SIZE_MB": str(LIMIT_MB),
        "AGENT_SESSION_LOG_RETENTION": "2",
        **(env or {}),
    }
    return subprocess.Popen(
        [*AGENTLOG, "rotate", "--log-dir", str(log_dir), "--grace", "0.2"],
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_kill_9_between_any_two_steps_loses_and_doubles_nothing(log_dir, tmp_path):
    writers = start_writers(log_dir, tmp_path, 2)
    try:
        for step in ("noted", "renamed", "packed", "retired", "purged", "renamed", "packed"):
            wait_for_size(log_dir / layout.STREAM, LIMIT_MB * 1024 * 1024)
            proc = rotate_cli(log_dir, {FAILPOINT: step})
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == -signal.SIGKILL, (step, err.decode())
        rng = random.Random(9)
        for _ in range(6):  # and at moments no failpoint names: mid-pack, mid-rename...
            proc = rotate_cli(log_dir)
            time.sleep(rng.uniform(0.05, 0.8))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
    finally:
        written = stop_writers(writers, tmp_path)
    for _ in range(2):  # the first finishes what was interrupted; the second purges retired copies
        proc = rotate_cli(log_dir)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
        time.sleep(0.3)
    assert_exactly_once(log_dir, written)
    assert_no_leftovers(log_dir)
