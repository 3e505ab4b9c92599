"""Wall time of `agentlog hook claude-code PreToolUse` per call, beside a bare interpreter:
the Python client (`agentlog hook`) and the native one (`agentlog-hook`, hook-client/),
both answered by the same resident guard.

Each call is a fresh process, as when Claude Code or Codex runs the installed hook. The
session already holds HISTORY events (fed once, then kept in the guard state), so the
figure shows the per-call cost, not a first call. Baselines in the same run, interleaved
with the hook calls so machine noise hits all of them alike:
`python3 -c pass` (what the issue names; here a pyenv shim) and this venv's interpreter.

    .venv/bin/python benchmarks/hook_latency.py [CALLS]
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

CALLS = 60  # the command line's count (see the end)
HISTORY = 200
AGENTLOG = str(Path(sys.executable).with_name("agentlog"))
NATIVE = Path(sys.executable).with_name("agentlog-hook")  # scripts/setup installs it


def timed(cmd: list[str], stdin: bytes | None, cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, input=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd, check=False)
    return (time.perf_counter() - start) * 1000


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> None:
    # An installed package has its bytecode compiled (pip does it); this environment sets
    # PYTHONDONTWRITEBYTECODE, so compile once, as an install would, before timing.
    import agentlog

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(agentlog.__file__).parent)], check=False)
    work = tempfile.mkdtemp(prefix="hookbench-")
    log_dir = os.path.join(work, "logs")
    transcript = Path(work) / "transcript.jsonl"
    session = "bench-session"

    def payload(i: int | str) -> bytes:
        return json.dumps(
            {
                "session_id": session,
                "transcript_path": str(transcript),
                "cwd": work,
                "hook_event_name": "PreToolUse",
                "permission_mode": "default",
                "tool_name": "Bash",
                "tool_input": {"command": f"pytest -k case_{i}"},
                "tool_use_id": f"toolu_{i}",
            }
        ).encode()

    transcript.write_text("")
    args = ["claude-code", "PreToolUse", "--log-dir", log_dir]
    cmd = [AGENTLOG, "hook", *args]
    native = [str(NATIVE), *args] if NATIVE.exists() else None
    for i in range(HISTORY):  # history: fed once, kept in the guard state
        subprocess.run(cmd, input=payload(-i - 1), stdout=subprocess.DEVNULL, cwd=work)

    def grow(i: int) -> None:
        with transcript.open("a") as handle:  # the agent's transcript grows between calls
            handle.write(
                json.dumps(
                    {
                        "type": "assistant",
                        "sessionId": session,
                        "uuid": f"u{i}",
                        "timestamp": "2026-03-01T10:00:00.000Z",
                        "message": {
                            "id": f"m{i}",
                            "model": "claude-sonnet-4-5",
                            "stop_reason": "tool_use",
                            "content": [{"type": "text", "text": "x"}],
                            "usage": {"input_tokens": 1000, "output_tokens": 50},
                        },
                    }
                )
                + "\n"
            )

    hook, fast, py3, venv = [], [], [], []
    for i in range(CALLS):
        py3.append(timed(["python3", "-c", "pass"], None, work))
        venv.append(timed([sys.executable, "-c", "pass"], None, work))
        grow(i)
        hook.append(timed(cmd, payload(i), work))
        if native:
            grow(CALLS + i)
            fast.append(timed(native, payload(f"n{i}"), work))
    errors = Path(log_dir, "state", "hook-errors.log")
    print(f"hook latency, {CALLS} calls after {HISTORY} events of history (ms):")
    rows = [("agentlog hook PreToolUse (Python client)", hook)]
    rows += [("agentlog-hook PreToolUse (native client)", fast)] if native else []
    for name, values in (*rows, ("python3 -c pass", py3), (f"{sys.executable} -c pass", venv)):
        print(f"  {name:50} p50 {pct(values, 50):7.1f}  p99 {pct(values, 99):7.1f}")
    for name, values in rows:
        for base_name, base in (("python3 -c pass", py3), ("venv python -c pass", venv)):
            print(
                f"  ratio {name.split(' (')[1][:-1]}/{base_name}: "
                f"p50 {pct(values, 50) / pct(base, 50):.2f}x  p99 {pct(values, 99) / pct(base, 99):.2f}x"
            )
    if not native:
        print(f"  (no native client: {NATIVE} is missing; scripts/setup installs it)")
    print(f"  failed-open calls: {errors.read_text().count(chr(10)) if errors.exists() else 0}")
    stop_guard(log_dir)


def stop_guard(log_dir: str) -> None:
    """The resident guard the calls started: it would otherwise wait 10 minutes for more."""
    import signal

    try:
        from agentlog.guard import server

        os.kill(int(Path(log_dir, "state", server.PID).read_text()), signal.SIGTERM)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "calls", nargs="?", type=int, default=CALLS, help="hook calls per configuration (default %(default)s)"
    )
    CALLS = parser.parse_args().calls
    main()
