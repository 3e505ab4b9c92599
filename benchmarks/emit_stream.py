"""Throughput of `agentlog emit -`, the path non-Python orchestrators record through.

    python benchmarks/emit_stream.py [--events 100000] [--attempts 50]

Pipes the same JSONL (~400-byte tool_call events over N attempts) into, in one run:

- `agentlog emit -` as a user runs it (batches of what arrived, one lock round-trip per
  attempt and batch, one write per file per batch);
- the per-line path emit had before (a locked recorder's `record_line` per line: a lock,
  a read of the transcript's end and two writes per event), in a subprocess too, so both
  pay the same process start;
- the in-process unlocked `record_many` in batches of 1,000, for reference.

Prints events/s and the ratios. Machines differ: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PER_LINE = """
import sys
from agentlog import config
from agentlog.recorder import Recorder
recorder = Recorder(config.load(environ={"AGENT_WORK_LOG_DIR": sys.argv[1]}), locked=True)
for raw in sys.stdin.buffer:
    if raw.strip():
        recorder.record_line(raw)
recorder.close()
"""


def events(n: int, attempts: int) -> bytes:
    lines = []
    for i in range(n):
        event = {
            "attempt_id": f"bench-{i % attempts}",
            "event_type": "tool_call",
            "executor": "CODEX",
            "data": {"tool_name": "bash", "tool_params": {"command": f"pytest tests/test_{i % 97}.py -q -x"}},
            "custom": {"note": "x" * 240},
        }
        lines.append(json.dumps(event).encode())
    return b"\n".join(lines) + b"\n"


def run(argv: list[str], data: bytes, env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(argv, input=data, env=env, capture_output=True)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed: {proc.stderr.decode()[-500:]}")
    return time.perf_counter() - started


def in_process(data: bytes, log_dir: Path) -> float:
    from agentlog import config
    from agentlog.events import decode_line
    from agentlog.recorder import Recorder

    decoded = [decode_line(line) for line in data.splitlines()]
    started = time.perf_counter()
    with Recorder(config.load(environ={"AGENT_WORK_LOG_DIR": str(log_dir)})) as recorder:
        for i in range(0, len(decoded), 1000):
            recorder.record_many(decoded[i : i + 1000])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--attempts", type=int, default=50)
    args = parser.parse_args()
    data = events(args.events, args.attempts)
    agentlog = [sys.executable, "-m", "agentlog"]
    print(f"{args.events:,} events over {args.attempts} attempts ({len(data) / 2**20:.0f} MiB)")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (compare ratios within one run)")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "AGENT_WORK_LOG_DIR": f"{tmp}/emit"}
        emit_s = run([*agentlog, "emit", "-", "--log-dir", f"{tmp}/emit"], data, env)
        line_s = run([sys.executable, "-c", PER_LINE, f"{tmp}/per-line"], data, env)
        ref_s = in_process(data, Path(tmp) / "in-process")
    rates = {name: args.events / s for name, s in (("emit", emit_s), ("line", line_s), ("ref", ref_s))}
    print(f"agentlog emit - (batched)          : {rates['emit']:>10,.0f} events/s  {emit_s:6.2f} s")
    print(f"per-line locked record (old emit)  : {rates['line']:>10,.0f} events/s  {line_s:6.2f} s")
    print(f"in-process record_many, 1,000      : {rates['ref']:>10,.0f} events/s  {ref_s:6.2f} s")
    print(f"emit / old per-line path           : {rates['emit'] / rates['line']:.1f}x")
    print(f"emit / in-process record_many      : {rates['emit'] / rates['ref']:.2f}x")


if __name__ == "__main__":
    main()
