"""Many processes and threads append at once: no line torn or interleaved, none lost."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from collections import Counter

import pytest

from agentlog.store import layout

WRITER = textwrap.dedent("""
    import random, sys, threading
    from agentlog import config
    from agentlog.recorder import Recorder

    log_dir, writer, count, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    batched = sys.argv[5] == "batch"
    recorder = Recorder(config.load(environ={}), log_dir=log_dir)

    def work(part):
        rng = random.Random(writer * 100 + part)
        batch = []
        for i in range(part, count, threads):
            size = rng.choice([100, 400, 2_000, 16_000]) if i % 2000 else rng.randint(1 << 20, 4 << 20)
            event = {"attempt_id": f"w{writer}-{i % 7}", "event_type": "agent_output",
                     "data": {"output": f"w{writer}:{i}:" + "x" * size}}
            if not batched:
                recorder.record(event)
                continue
            batch.append(event)
            if len(batch) >= rng.randint(1, 300):
                recorder.record_many(batch)
                batch = []
        recorder.record_many(batch)

    pool = [threading.Thread(target=work, args=(p,)) for p in range(threads)]
    [t.start() for t in pool]
    [t.join() for t in pool]
    recorder.close()
""")


def _key(event: dict) -> str:
    return ":".join(event["data"]["output"].split(":", 2)[:2])


@pytest.mark.slow
def test_eight_processes_mixed_sizes_zero_torn_zero_lost(log_dir):
    """Half the writers record one event at a time, half in batches of 1-300 (one write
    per file per batch): neither may tear or interleave with the other."""
    writers, count = 8, 20_000
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                str(log_dir),
                str(w),
                str(count),
                str(1 + w % 3),
                "batch" if w % 2 else "single",
            ]
        )
        for w in range(writers)
    ]
    assert all(p.wait(timeout=600) == 0 for p in procs)

    seen: Counter[str] = Counter()
    with open(log_dir / layout.STREAM, "rb") as stream:
        for number, line in enumerate(stream, 1):
            assert line.endswith(b"\n"), f"line {number} has no end"
            seen[_key(json.loads(line))] += 1  # a torn or interleaved line fails to parse here
    expected = {f"w{w}:{i}" for w in range(writers) for i in range(count)}
    assert set(seen) == expected, f"lost: {len(expected - set(seen))}"
    assert max(seen.values()) == 1

    per_session = Counter()
    for path in (log_dir / layout.SESSIONS).iterdir():
        numbers = [json.loads(line)["sequence_num"] for line in path.read_bytes().splitlines()]
        assert sorted(numbers) == list(range(1, len(numbers) + 1))  # gap-free per attempt
        per_session[path.name] = len(numbers)
    assert sum(per_session.values()) == writers * count
    shutil.rmtree(log_dir)  # gigabytes: do not keep them in pytest's retained tmp dirs
