"""store/state.py: the one way state is kept (checkpoints, imports, the guard, the miner)."""

from __future__ import annotations

import stat
import subprocess
import sys

from agentlog.store.state import StateFile

COUNTER = """
import sys
from agentlog.store.state import StateFile
state = StateFile(sys.argv[1])
for _ in range(int(sys.argv[2])):
    with state.locked():
        state.save({"n": (state.load() or {"n": 0})["n"] + 1})
"""


def test_missing_or_damaged_reads_as_nothing_and_a_save_is_private_and_whole(tmp_path):
    state = StateFile(tmp_path / "deep" / "x.json")
    assert state.load() is None and state.version() is None
    state.save({"a": [1, 2]})
    assert state.load() == {"a": [1, 2]}
    assert stat.S_IMODE(state.path.stat().st_mode) == 0o600
    assert sorted(p.name for p in state.path.parent.iterdir()) == ["x.json"]  # no temp file left
    state.path.write_bytes(b'{"a": [1,')  # damaged by hand: start over, never crash
    assert state.load() is None
    packed = StateFile(tmp_path / "y.msgpack", "msgpack")
    packed.save({1: "integer keys survive"})
    assert packed.load() == {1: "integer keys survive"}


def test_the_lock_serialises_read_modify_write_across_processes(tmp_path):
    path = tmp_path / "counter.json"
    procs = [subprocess.Popen([sys.executable, "-c", COUNTER, str(path), "150"]) for _ in range(3)]
    assert all(p.wait(60) == 0 for p in procs)
    assert StateFile(path).load() == {"n": 450}
