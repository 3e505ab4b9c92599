"""Disk full and read-only file systems: a clear error, and nothing half-written.

These mount a real tiny tmpfs (needs root, as on CI); elsewhere they are skipped.
"""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from agentlog import config
from agentlog.recorder import Recorder
from agentlog.store import layout
from agentlog.store.writer import StoreError


@pytest.fixture
def mount(tmp_path):
    mounted = []

    def make(options: str):
        point = tmp_path / f"mnt-{uuid.uuid4().hex[:6]}"
        point.mkdir()
        if (
            subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True).returncode
            != 0
        ):
            pytest.skip("cannot mount a tmpfs here (needs root)")
        mounted.append(point)
        return point

    yield make
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def test_disk_full_raises_and_leaves_only_complete_lines(mount):
    log_dir = mount("size=256k")
    recorder = Recorder(config.load(environ={}), log_dir=log_dir)
    with pytest.raises(StoreError, match="disk full"):
        for i in range(10_000):
            recorder.record(
                {
                    "attempt_id": f"a{i % 3}",
                    "event_type": "agent_output",
                    "data": {"output": f"{i} " + "y" * (500 + i * 37 % 3000)},
                }
            )
    for path in [log_dir / layout.STREAM, *(log_dir / layout.SESSIONS).iterdir()]:
        raw = path.read_bytes()
        assert raw == b"" or raw.endswith(b"\n"), f"{path.name} ends in a partial line"
        for line in raw.splitlines():
            json.loads(line)


def test_disk_full_from_the_cli_exits_1_with_a_message(mount, cli):
    log_dir = mount("size=64k")
    result = cli("emit", "output", "--log-dir", str(log_dir), "--attempt", "a", "--text", "z" * 100_000)
    assert result.returncode == 1
    assert "disk full" in result.stderr.decode() and "Traceback" not in result.stderr.decode()


def test_read_only_file_system(mount, cli):
    log_dir = mount("ro,size=64k")
    result = cli("emit", "start", "--log-dir", str(log_dir), "--attempt", "a")
    assert result.returncode == 1
    assert "read-only file system" in result.stderr.decode()
