"""A log dir for the view tests (report, replay, dashboard), written through the real
Recorder and Session, with alerts raised by the real watch engine.

Two weeks relative to `now`: the week before (4 sessions, 3 succeeded) and this week
(9 sessions: CODEX 3 succeeded, CLAUDE_CODE 3 failed looping on a git error, GEMINI 1
succeeded, one open, and one whose prompt, title and output carry an XSS payload).
"""

from __future__ import annotations

import time
from pathlib import Path

from agentlog import config
from agentlog.capture.api import Session
from agentlog.events import encode, now_iso
from agentlog.recorder import Recorder
from agentlog.store import layout
from agentlog.watch import Engine

XSS = "<img src=x onerror=window.__xss=1>"
XSS_SCRIPT = "<script>window.__xss=2</script>"
GIT_ERROR = "fatal: not a git repository (or any of the parent directories): /work/repo-{}/.git"
DAY = 86400


class Clock:
    """Event times: each call moves `step` seconds on from the session's start."""

    def __init__(self, start: float, step: float = 2.0):
        self.t, self.step = start, step

    def __call__(self) -> str:
        self.t += self.step
        return now_iso(self.t)


def _session(
    recorder,
    attempt,
    start,
    *,
    executor,
    model,
    task,
    title,
    prompt="Please do the task",
    status="success",
    errors=0,
    cost=0.02,
    output="All tests pass.",
    tools=2,
    end=True,
):
    clock = Clock(start)
    s = Session(attempt, executor=executor, model=model, task_id=task, task_title=title, recorder=recorder)
    s.emit("session_start", {"prompt": prompt, "prompt_type": "initial"}, timestamp=clock())
    for i in range(tools):
        s.emit("tool_call", {"tool_name": "bash", "tool_params": {"cmd": f"pytest -k t{i}"}}, timestamp=clock())
        s.emit("tool_result", {"tool_name": "bash", "result": "success", "result_data": "1 passed"}, timestamp=clock())
    for i in range(errors):
        s.emit("tool_call", {"tool_name": "bash", "tool_params": {"cmd": "git push"}}, timestamp=clock())
        s.emit("tool_result", {"tool_name": "bash", "result": "error", "result_data": "fatal"}, timestamp=clock())
        s.emit("error", {"error_message": GIT_ERROR.format(i)}, timestamp=clock())
    s.emit("agent_output", {"output": output, "stream_type": "stdout"}, timestamp=clock())
    s.emit("usage", {"input_tokens": 1000, "output_tokens": 200, "cost_usd": cost}, timestamp=clock())
    if end:
        s.emit("session_end", {"completion_status": status}, timestamp=clock())


def build(log_dir: Path, now: float | None = None) -> dict[str, str]:
    """Write the two weeks into `log_dir`; returns the notable attempt ids by role."""
    now = time.time() if now is None else now
    settings = config.load({"log_dir": str(log_dir)}, environ={}, cwd=log_dir.parent)
    with Recorder(settings) as rec:
        for i in range(3):
            _session(
                rec,
                f"prev-codex-{i}",
                now - 10 * DAY + i * 3600,
                executor="CODEX",
                model="gpt-5-codex",
                task=f"task-p{i}",
                title=f"Old task {i} [s]",
            )
        _session(
            rec,
            "prev-claude-0",
            now - 9 * DAY,
            executor="CLAUDE_CODE",
            model="claude-sonnet-4-5",
            task="task-p9",
            title="Old failing task [m]",
            status="failed",
            errors=1,
        )
        for i in range(3):
            _session(
                rec,
                f"codex-ok-{i}",
                now - 5 * DAY + i * 3600,
                executor="CODEX",
                model="gpt-5-codex",
                task=f"task-{i}",
                title=f"Add CSV export part {i} [s]",
            )
        for i in range(3):
            _session(
                rec,
                f"claude-loop-{i}",
                now - 3 * DAY + i * 3600,
                executor="CLAUDE_CODE",
                model="claude-sonnet-4-5",
                task="task-git",
                title="Push the release branch [m]",
                status="failed",
                errors=5,
                cost=0.30,
            )
        _session(
            rec,
            "gemini-ok-0",
            now - 2 * DAY,
            executor="GEMINI",
            model="gemini-2.5-pro",
            task="task-doc",
            title="Document the API [xs]",
            cost=0.05,
        )
        _session(
            rec,
            "xss-0",
            now - 1 * DAY,
            executor="COPILOT",
            model="gpt-4.1",
            task="task-xss",
            title=f"Render {XSS} safely",
            prompt=f"Fix this: {XSS} and {XSS_SCRIPT}",
            output=f"Output with {XSS_SCRIPT}",
            status="failed",
            errors=1,
            cost=0.04,
        )
        _session(
            rec,
            "open-0",
            now - 3600,
            executor="CODEX",
            model="gpt-5-codex",
            task="task-open",
            title="Still running [l]",
            end=False,
        )
    raise_alerts(log_dir)
    return {"loop": "claude-loop-0", "xss": "xss-0", "ok": "codex-ok-0", "open": "open-0"}


def raise_alerts(log_dir: Path) -> int:
    """Run the watch engine over the stream and append its alerts, as `agentlog watch` does."""
    engine = Engine()
    lines = (log_dir / layout.STREAM).read_bytes().splitlines(keepends=True)
    alerts = engine.feed(lines)
    with open(log_dir / layout.ALERTS, "ab") as handle:
        for alert in alerts:
            handle.write(encode(alert) + b"\n")
    return len(alerts)
