"""`agentlog mcp` per-call latency on a 1,000,000-event log (target: p95 < 50 ms, <= 2 KB).

The log is the analytics benchmark's sessions (analytics_data.py), written as the recorder
lays it out: the stream, one transcript per session and the errors file. The real command is
started over stdio by the SDK's client from the calling session's working directory; the
calling session grows between calls (a tool call and, every few calls, an error), so each
answer reads what was appended. Printed: the server's start (process up, SDK handshake
done), the first answer of each tool right after it (am_i_looping and session_health do
not wait for the errors index, which is built in the background; seen_this_error does),
then per tool p50/p95/max of the round trip as the agent sees it beside the start, and the
largest answer. The baseline in the same run is `list_tools`, a call that reads nothing.

    .venv/bin/python benchmarks/mcp_latency.py [--events 1000000] [--calls 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import anyio
import msgspec

sys.path.insert(0, str(Path(__file__).parent))

from analytics_data import MESSAGES, sessions  # noqa: E402

from agentlog.store import layout  # noqa: E402

_encode = msgspec.json.Encoder().encode
ME = "bench-caller"


def build(log_dir: Path, events: int, cwd: Path) -> None:
    (log_dir / layout.SESSIONS).mkdir(parents=True)
    with open(log_dir / layout.STREAM, "wb") as stream, open(log_dir / layout.ERRORS, "wb") as errors:
        for session in sessions(events):
            lines = [_encode(e) + b"\n" for e in session]
            stream.write(b"".join(lines))
            errors.write(b"".join(line for e, line in zip(session, lines) if e["event_type"] == "error"))
            with open(layout.session_path(log_dir, session[0]["attempt_id"]), "wb") as out:
                out.write(b"".join(lines))
    _append(log_dir, {"event_type": "session_start", "data": {"working_dir": str(cwd)}})


def _append(log_dir: Path, event: dict) -> None:
    event = {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "attempt_id": ME,
        "executor": "CLAUDE_CODE",
        **event,
    }
    line = _encode(event) + b"\n"
    for path in (layout.session_path(log_dir, ME), log_dir / layout.STREAM):
        with open(path, "ab") as handle:
            handle.write(line)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def measure(log_dir: Path, cwd: Path, calls: int) -> None:
    from mcp import Client, StdioServerParameters

    script = Path(sys.executable).with_name("agentlog")
    params = StdioServerParameters(
        command=str(script), args=["mcp", "--log-dir", str(log_dir)], cwd=str(cwd), env=dict(os.environ)
    )
    start = time.perf_counter()
    async with Client(params) as client:
        await client.list_tools()
        started = time.perf_counter() - start
        print(f"server start (process up, SDK handshake, list_tools answered): {started:.2f} s")
        asks = {
            "list_tools (baseline)": None,
            "am_i_looping": {},
            "session_health": {},
            "seen_this_error": {"text": MESSAGES[2].format(n=7)},
            "similar_failures": {"k": 3},
        }
        for name, arguments in asks.items():
            if arguments is not None:
                t = time.perf_counter()
                result = await client.call_tool(name, arguments)
                assert not result.is_error, result.content
                print(f"first {name + ':':17} {(time.perf_counter() - t) * 1000:7.1f} ms after the start")
        times: dict[str, list[float]] = {name: [] for name in asks}
        largest: dict[str, int] = dict.fromkeys(asks, 0)
        for i in range(calls):
            _append(log_dir, {"event_type": "tool_call", "data": {"tool_name": "Bash", "tool_params": {"n": i}}})
            if i % 5 == 0:
                _append(log_dir, {"event_type": "error", "data": {"error_message": MESSAGES[i % len(MESSAGES)]}})
            for name, arguments in asks.items():
                t = time.perf_counter()
                if arguments is None:
                    await client.list_tools()
                    size = 0
                else:
                    result = await client.call_tool(name, arguments)
                    assert not result.is_error, result.content
                    size = len(result.content[0].text.encode())
                times[name].append((time.perf_counter() - t) * 1000)
                largest[name] = max(largest[name], size)
        print(f"{'call':24} {'start s':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'max bytes':>10}")
        for name, values in times.items():
            print(
                f"{name:24} {started:8.2f} {pct(values, 50):8.1f} {pct(values, 95):8.1f} {max(values):8.1f} "
                f"{largest[name]:10}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agentlog-mcp-bench-") as tmp:
        log_dir, cwd = Path(tmp) / "logs", Path(tmp) / "repo"
        cwd.mkdir()
        t = time.perf_counter()
        build(log_dir, args.events, cwd)
        print(
            f"{args.events:,} events in {len(os.listdir(log_dir / layout.SESSIONS)):,} sessions "
            f"written in {time.perf_counter() - t:.1f} s"
        )
        anyio.run(measure, log_dir, cwd, args.calls)


if __name__ == "__main__":
    main()
