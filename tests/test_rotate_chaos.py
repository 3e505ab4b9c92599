"""Four agents write, a tailer and `agentlog watch` follow, `agentlog rotate` runs 50 times with a
tiny size limit: every event is in the logs exactly once, and each follower saw each one once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter

import pytest
from click.testing import CliRunner

from agentlog.cli import cli as agentlog_cli
from agentlog.store import layout

from conftest import AGENTLOG
from test_rotate_crash import assert_exactly_once, assert_no_leftovers, start_writers, stop_writers, wait_for_size

# A consumer of the stream through the tailer the watchdog uses: it writes the id of
# every line it is handed, checkpointing as it goes, until told to stop and drained.
FOLLOWER = textwrap.dedent("""
    import os, sys, time
    import msgspec
    from pathlib import Path
    from agentlog.store.tail import FileCheckpoints, Tailer

    log_dir, stop, out = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    tailer = Tailer(log_dir / "agent-work-stream.jsonl", FileCheckpoints(log_dir / "state"), "follower",
                    start="beginning")
    quiet_since = None
    with open(out, "w") as seen:
        while True:
            got = False
            for batch in tailer.batches():
                ids = [msgspec.json.decode(line)["event_id"] for line in batch.lines if line.strip()]
                seen.write("".join(i + "\\n" for i in ids))
                seen.flush()
                tailer.commit(batch.position)
                got = got or bool(ids)
            if os.path.exists(stop):
                quiet_since = None if got else (quiet_since or time.monotonic())
                if quiet_since and time.monotonic() - quiet_since > 2.0 and tailer.lag() == 0:
                    break
            tailer.wait(0.05)
    tailer.close()
""")

ROTATIONS = 50
LIMIT_MB = 0.02


@pytest.mark.slow
def test_fifty_rotations_under_four_writers_a_tailer_and_the_watchdog(log_dir, tmp_path):
    log_dir.mkdir(parents=True)
    env = {**os.environ, "AGENT_WORK_LOG_DIR": str(log_dir)}
    follower = subprocess.Popen(
        [sys.executable, "-c", FOLLOWER, str(log_dir), str(tmp_path / "stop-follower"), str(tmp_path / "followed.txt")]
    )
    watchdog = subprocess.Popen(
        [*AGENTLOG, "watch", "--replay", "--quiet"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        writers = start_writers(log_dir, tmp_path, 4)
        rotated = 0
        try:
            for _ in range(ROTATIONS):
                wait_for_size(log_dir / layout.STREAM, LIMIT_MB * 1024 * 1024)
                result = CliRunner().invoke(
                    agentlog_cli,
                    ["rotate", "--log-dir", str(log_dir), "--grace", "0.3"],
                    env={"AGENT_WORK_LOG_MAX_SIZE_MB": str(LIMIT_MB), "AGENT_SESSION_LOG_RETENTION": "3"},
                    catch_exceptions=False,
                )
                assert result.exit_code == 0, result.output
                rotated += result.output.count("rotate ")
        finally:
            written = stop_writers(writers, tmp_path)
        for _ in range(2):  # retire, then purge, what the last loop left
            time.sleep(0.3)
            CliRunner().invoke(
                agentlog_cli, ["rotate", "--log-dir", str(log_dir), "--grace", "0.3"], catch_exceptions=False
            )
        assert rotated >= ROTATIONS  # the stream (and more) rotated on every run
        assert_exactly_once(log_dir, written)
        assert_no_leftovers(log_dir)

        (tmp_path / "stop-follower").touch()
        assert follower.wait(timeout=60) == 0
        followed = Counter((tmp_path / "followed.txt").read_text().split())
        assert set(followed) == set(written["ids"]), f"tailer missed {len(set(written['ids']) - set(followed))}"
        assert max(followed.values()) == 1, "the tailer saw an event twice"

        beat = log_dir / layout.STATE / "watch-heartbeat.json"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and json.loads(beat.read_text()).get("events") != len(written["ids"]):
            time.sleep(0.2)
        watchdog.send_signal(signal.SIGTERM)
        watchdog.wait(timeout=30)
        assert json.loads(beat.read_text())["events"] == len(written["ids"]), watchdog.stderr.read().decode()
    finally:  # a failed assertion must not leave the readers running
        for proc in (follower, watchdog):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
