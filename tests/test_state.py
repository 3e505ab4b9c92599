"""store/state.py: the one way state is kept (checkpoints, imports, the guard, the miner)."""

from __future__ import annotations

import stat
import subprocess
import sys

import msgspec
import pytest

from agentlog.store import atomic
from agentlog.store.state import StateFile

COUNTER = """
import sys
from agentlog.store.state import StateFile
state = StateFile(sys.argv[1], durable=sys.argv[3] != "swap", swap=sys.argv[3] == "swap")
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


@pytest.mark.parametrize("how", ["replace", "swap"])
def test_the_lock_serialises_read_modify_write_across_processes(tmp_path, how):
    path = tmp_path / "counter.json"
    procs = [subprocess.Popen([sys.executable, "-c", COUNTER, str(path), "150", how]) for _ in range(3)]
    assert all(p.wait(60) == 0 for p in procs)
    assert StateFile(path).load() == {"n": 450}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter.json", "counter.json.lock"]


def test_a_swap_killed_half_way_leaves_the_old_value_or_the_new(tmp_path):
    state = StateFile(tmp_path / "g.msgpack", "msgpack", durable=False, swap=True)
    following = atomic.next_of(state.path)
    state.save({"n": 1})
    state.save({"n": 2})
    assert state.load() == {"n": 2} and stat.S_IMODE(state.path.stat().st_mode) == 0o600
    following.write_bytes(msgspec.msgpack.encode({"n": 3}))  # killed between unlink and rename:
    state.path.unlink()  # only the complete .next is left, and it is the new value
    assert state.load() == {"n": 3} and not following.exists()
    following.write_bytes(b"\x81\xa1")  # killed while writing .next: the file still holds the old value
    assert state.load() == {"n": 3}
    state.save({"n": 4})  # over the leftover
    assert state.load() == {"n": 4} and sorted(p.name for p in tmp_path.iterdir()) == ["g.msgpack"]
