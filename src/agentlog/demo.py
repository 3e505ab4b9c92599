"""A simulated fleet of agents writing real events, for `agentlog demo`.

Each agent is a generator that records events through a real `Session` and yields
how long to wait before its next step; `run_fleet` interleaves them in (scaled) real
time, so a watchdog running beside it sees a live, mixed stream.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from .capture.api import Session
from .recorder import Recorder
from .store import layout

EXECUTORS = {
    "CODEX": "gpt-5-codex",
    "CLAUDE_CODE": "claude-sonnet-4-5",
    "COPILOT": "gpt-4.1",
    "GEMINI": "gemini-2.5-pro",
}
TASKS = [
    "Implement user authentication [m]",
    "Fix flaky payment test [s]",
    "Add CSV export [s]",
    "Migrate settings to TOML [l]",
    "Upgrade React to v19 [xl]",
    "Document the REST API [xs]",
]

Agent = Callable[[Session, random.Random], Iterator[float]]


def _work(s: Session, rng: random.Random, steps: int) -> Iterator[float]:
    for _ in range(steps):
        tool = rng.choice(["read_file", "edit_file", "bash", "grep"])
        s.thinking(f"Next I will use {tool}.")
        s.tool_call(tool, {"path": f"src/module_{rng.randint(1, 40)}.py"})
        yield 0.05
        s.tool_result(tool, "success", "ok")
        s.usage(
            input_tokens=rng.randint(800, 3000),
            output_tokens=rng.randint(50, 400),
            cache_read_tokens=rng.randint(0, 2000),
            cost_usd=round(rng.uniform(0.002, 0.01), 4),
        )
        yield 0.05


def succeeds(s: Session, rng: random.Random) -> Iterator[float]:
    yield from _work(s, rng, rng.randint(3, 6))
    s.output("All tests pass. Opened a pull request.")
    s.end("success", {"status": "completed", "pr_created": True, "pr_number": rng.randint(100, 999)})


def error_loop(s: Session, rng: random.Random) -> Iterator[float]:
    yield from _work(s, rng, 2)
    for attempt in range(6):
        s.tool_call("bash", {"cmd": "git push origin HEAD"})
        s.tool_result("bash", "error", "fatal: not a git repository")
        s.error(f"fatal: not a git repository (or any of the parent directories): /work/tmp-{attempt}/.git")
        yield 0.1
    s.end("failed", {"status": "failed"})


def tool_loop(s: Session, rng: random.Random) -> Iterator[float]:
    for _ in range(14):
        s.tool_call("read_file", {"path": "src/auth/login.py"})
        s.tool_result("read_file", "success", "def login(user): ...")
        yield 0.03
    s.end("timeout")


def goes_idle(s: Session, rng: random.Random) -> Iterator[float]:
    yield from _work(s, rng, 2)
    s.output("Waiting for the dev server to start...")
    yield 0.0  # never ends: a stuck agent


def too_expensive(s: Session, rng: random.Random) -> Iterator[float]:
    for _ in range(8):
        s.tool_call("read_file", {"path": f"docs/spec-{rng.randint(1, 9)}.md"})
        s.tool_result("read_file", "success", "...")
        s.usage(input_tokens=150_000, output_tokens=4_000, cost_usd=0.32)
        yield 0.05
    s.end("success", {"status": "completed", "pr_created": True})


def rate_limited(s: Session, rng: random.Random) -> Iterator[float]:
    yield from _work(s, rng, 1)
    for _ in range(4):
        s.error("429 Too Many Requests: rate limit exceeded, retry after 20s")
        yield 0.1
    s.end("failed")


SCENARIOS: dict[str, Agent] = {
    "succeeds": succeeds,
    "error_loop": error_loop,
    "tool_loop": tool_loop,
    "goes_idle": goes_idle,
    "too_expensive": too_expensive,
    "rate_limited": rate_limited,
}
MIX = ["succeeds"] * 5 + ["error_loop", "tool_loop", "goes_idle", "too_expensive", "rate_limited"]


@dataclass
class FleetReport:
    log_dir: Path
    attempts: dict[str, str] = field(default_factory=dict)  # attempt -> scenario
    events: Counter = field(default_factory=Counter)
    files: dict[str, int] = field(default_factory=dict)


def run_fleet(
    recorder: Recorder, agents: int = 10, *, seed: int = 7, speed: float = 1.0, prefix: str = "demo"
) -> FleetReport:
    """Run `agents` simulated agents concurrently; `speed` > 1 plays faster."""
    rng = random.Random(seed)
    report = FleetReport(recorder.log_dir)
    queue: list[tuple[float, int, Iterator[float]]] = []
    run_id = f"{int(time.time()) % 100000:05d}"
    for i in range(agents):
        scenario = MIX[i % len(MIX)]
        executor = rng.choice(list(EXECUTORS))
        attempt = f"{prefix}-{run_id}-{i:02d}-{scenario.replace('_', '-')}"
        session = Session(
            attempt,
            executor=executor,
            model=EXECUTORS[executor],
            task_id=f"task-{i % len(TASKS)}",
            task_title=TASKS[i % len(TASKS)],
            branch=f"agent/{attempt}",
            recorder=recorder,
            prompt=f"Please work on: {TASKS[i % len(TASKS)]}",
        )
        session.start()
        report.attempts[attempt] = scenario
        heapq.heappush(
            queue,
            (time.monotonic() + rng.uniform(0, 0.2) / speed, i, SCENARIOS[scenario](session, random.Random(seed + i))),
        )
    while queue:
        due, i, agent = heapq.heappop(queue)
        time.sleep(max(0.0, due - time.monotonic()))
        delay = next(agent, None)
        if delay is not None:
            heapq.heappush(queue, (time.monotonic() + delay / speed, i, agent))
    _count(report)
    return report


def _count(report: FleetReport) -> None:
    from .store.reader import read_kind

    for event in read_kind(report.log_dir, "stream"):
        if event.get("attempt_id") in report.attempts:
            report.events[event["event_type"]] += 1
    for name in (layout.STREAM, layout.ERRORS, layout.METRICS, layout.ALERTS):
        path = report.log_dir / name
        if path.exists():
            report.files[name] = path.stat().st_size
    sessions = report.log_dir / layout.SESSIONS
    report.files[layout.SESSIONS + "/"] = sum(p.stat().st_size for p in sessions.glob("*.jsonl"))


class WatchBeside:
    """The real watchdog in a thread beside the fleet, printing its alerts as they happen.

    The stuck threshold is short (seconds, not minutes) so the idle agent is caught
    within the demo; everything else uses the configured thresholds.
    """

    def __init__(self, settings, stuck_threshold_ms: int = 3000):
        from .watch import WatchConfig, Watchdog, WatchOptions
        from .watch.sinks import make_sink

        config = WatchConfig.from_settings(settings, stuck_threshold_ms=stuck_threshold_ms)
        self.alerts: list = []
        self.dog = Watchdog(
            settings,
            WatchOptions(tick_s=0.1),
            sinks=[make_sink("stdout", None)],
            config=config,
            on_alert=self.alerts.append,
        )
        self.thread = threading.Thread(target=self.dog.run, name="demo-watchdog", daemon=True)

    def __enter__(self) -> "WatchBeside":
        self.thread.start()
        self.dog.ready.wait(10)
        return self

    def wait_for(self, alert_type: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not any(a.type == alert_type for a in self.alerts):
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.3)  # let the stdout sink print the last ones
        self.dog.stop.set()
        self.thread.join(10)
