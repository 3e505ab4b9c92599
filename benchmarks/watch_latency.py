"""Detection latency: from the write of the triggering event to the alert line on disk.

    .venv/bin/python benchmarks/watch_latency.py [--triggers 1000] [--busy-rate 5000]

Runs the real `agentlog watch` as a subprocess on a fresh log dir. Each trigger is one
`usage` line that pushes a new attempt over the cost threshold (one line -> one alert);
this process notes the time of its write and watches agent-alerts.jsonl (raw inotify)
for the alert's line. Two conditions: a quiet stream, and a busy one where another
process writes `--busy-rate` other events per second (some of them error loops, so
other alerts fire too). A trigger whose alert does not appear within 2 s counts as missing.

Baseline in the same run: the wakeup floor (a write seen through raw inotify by another
process, with no agentlog at all), so the figures can be read against this machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec
from inotify_simple import INotify, flags

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "AGENT_STUCK_THRESHOLD_MS": "86400000"}

BUSY = r"""
import sys, time, msgspec
from agentlog.events import now_iso
from agentlog.store.writer import LogWriter
root, rate = sys.argv[1], float(sys.argv[2])
w = LogWriter(root)
n, start = 0, time.monotonic()
while True:
    n += 1
    kind = n % 50
    a = f"busy-{n // 200}"
    if kind == 0:
        line = {"event_type": "error", "data": {"error_message": "boom", "error_fingerprint": f"f{n // 200}"}}
    else:
        line = {"event_type": "agent_output", "data": {"output": "compiling module %d" % n}}
    line.update(timestamp=now_iso(), attempt_id=a, executor="CODEX", event_id=f"busy-{n}")
    w.append("agent-work-stream.jsonl", msgspec.json.encode(line) + b"\n")
    delay = start + n / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
"""

FLOOR = r"""
import sys, time
from inotify_simple import INotify, flags
ino = INotify(); ino.add_watch(sys.argv[1], flags.MODIFY)
print("ready", flush=True)
for _ in range(int(sys.argv[2])):
    ino.read()
    print(time.monotonic(), flush=True)
"""


class AlertWatcher:
    """Finds new lines in agent-alerts.jsonl as soon as they land (raw inotify)."""

    def __init__(self, log_dir: Path):
        self.path = log_dir / "agent-alerts.jsonl"
        self.inotify = INotify()
        self.inotify.add_watch(str(log_dir), flags.MODIFY | flags.CREATE)
        self.offset = 0
        self.buf = b""

    def wait_for(self, needle: bytes, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while True:
            if self.path.exists():
                with open(self.path, "rb") as f:
                    f.seek(self.offset)
                    data = f.read()
                self.offset += len(data)
                self.buf += data
                if needle in self.buf:
                    seen = time.monotonic()
                    self.buf = self.buf[self.buf.rfind(b"\n") + 1 :]
                    return seen
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.inotify.read(timeout=int(left * 1000) + 1)


def measure(triggers: int, busy_rate: float) -> tuple[list[float], int]:
    with tempfile.TemporaryDirectory() as tmp:
        log_dir = Path(tmp) / "logs"
        log_dir.mkdir()
        stream = log_dir / "agent-work-stream.jsonl"
        stream.touch()
        watcher = AlertWatcher(log_dir)
        dog = subprocess.Popen(
            [sys.executable, "-m", "agentlog", "watch", "--log-dir", str(log_dir), "--quiet"],
            env=ENV,
            stderr=subprocess.DEVNULL,
        )
        busy = None
        if busy_rate:
            busy = subprocess.Popen([sys.executable, "-c", BUSY, str(log_dir), str(busy_rate)], env=ENV)
        time.sleep(2.0)  # imports, first position
        fd = os.open(stream, os.O_WRONLY | os.O_APPEND)
        latencies, missing = [], 0
        try:
            for i in range(triggers):
                attempt = f"lat-{i:05d}"
                line = (
                    msgspec.json.encode(
                        {
                            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                            "event_type": "usage",
                            "attempt_id": attempt,
                            "executor": "CODEX",
                            "event_id": f"lat-{i}",
                            "data": {"cost_usd": 2.5},
                        }
                    )
                    + b"\n"
                )
                t0 = time.monotonic()
                os.write(fd, line)
                seen = watcher.wait_for(f'"attempt_id":"{attempt}"'.encode(), 2.0)
                if seen is None:
                    missing += 1
                else:
                    latencies.append((seen - t0) * 1000)
                time.sleep(0.005)
        finally:
            os.close(fd)
            for proc in (busy, dog):
                if proc is not None:
                    proc.terminate()
                    proc.wait()
        return latencies, missing


def floor(samples: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f"
        path.touch()
        proc = subprocess.Popen(
            [sys.executable, "-c", FLOOR, tmp, str(samples)], env=ENV, stdout=subprocess.PIPE, text=True
        )
        proc.stdout.readline()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        out = []
        for _ in range(samples):
            t0 = time.monotonic()
            os.write(fd, b"x\n")
            out.append((float(proc.stdout.readline()) - t0) * 1000)
            time.sleep(0.002)
        os.close(fd)
        proc.wait()
        return out


def report(name: str, values: list[float], missing: int | None = None) -> None:
    values = sorted(values)
    p50 = statistics.median(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    extra = "" if missing is None else f"  missing {missing}"
    print(f"{name:44} n={len(values):5}  p50 {p50:7.3f} ms  p99 {p99:7.3f} ms  max {values[-1]:7.2f} ms{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triggers", type=int, default=1000)
    parser.add_argument("--busy-rate", type=float, default=5000)
    args = parser.parse_args()
    report("baseline: raw inotify wakeup floor", floor(args.triggers))
    quiet, missing = measure(args.triggers, 0)
    report("agentlog watch, quiet stream", quiet, missing)
    busy, missing = measure(args.triggers, args.busy_rate)
    report(f"agentlog watch, busy ({args.busy_rate:,.0f} other events/s)", busy, missing)
    print("targets: quiet p50 < 2 ms, p99 < 5 ms; busy p99 < 20 ms, none missing")


if __name__ == "__main__":
    main()
