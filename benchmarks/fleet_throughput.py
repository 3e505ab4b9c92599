"""Fleet mode figures on this machine, each beside a baseline measured in the same run.

1. throughput: raw core-NATS publish (one event per message, `nats bench`-style, no acks)
   and JetStream publish one event per message with async acks (what a naive forwarder
   does), then `fleet forward` (several events per message, server acks before the
   checkpoint advances) + a pull consumer that decodes every event and acks, end to end.
2. publish-to-alert latency at --rate events/s (20,000 by default): a writer appends events to a log dir,
   `fleet forward` and `fleet watch` run as processes; latency = alert received on
   agentlog.alerts.> minus the triggering event's own timestamp.
3. failover: two workers; kill -9 the owner of a partition, then an error loop starts in
   that partition; time from the kill to its alert (from the other worker).

    .venv/bin/python benchmarks/fleet_throughput.py [--events 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from agentlog.events import new_event_id, now_iso, parse_time  # noqa: E402
from agentlog.fleet import bus  # noqa: E402
from agentlog.fleet.server import Cluster  # noqa: E402

AGENTLOG = str(Path(sys.executable).with_name("agentlog"))  # beside the Python running this


def event(attempt: str, kind: str, seq: int, **data) -> dict:
    data = data or {"tool_name": "bash", "tool_params": {"cmd": "pytest -q tests/test_auth.py", "timeout": 120}}
    return {
        "timestamp": now_iso(),
        "attempt_id": attempt,
        "event_id": new_event_id(),
        "event_type": kind,
        "task_id": "task-123",
        "task_title": "Implement user authentication",
        "executor": "CODEX",
        "model": "gpt-5-codex",
        "branch": "agent/implement-auth",
        "elapsed_ms": seq * 37,
        "sequence_num": seq,
        "data": data,
    }


def make_log(log_dir: Path, n: int) -> list[bytes]:
    log_dir.mkdir(parents=True)
    lines = [msgspec.json.encode(event(f"bench-{i % 500:03d}", "tool_call", i)) for i in range(n)]
    (log_dir / "agent-work-stream.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return lines


async def raw_publish(url: str, lines: list[bytes]) -> float:
    import nats

    nc = await nats.connect(url)
    t = time.perf_counter()
    for line in lines:
        await nc.publish("bench.raw", line)
    await nc.flush()
    elapsed = time.perf_counter() - t
    await nc.close()
    return len(lines) / elapsed


async def js_publish_each(url: str, lines: list[bytes]) -> float:
    import nats

    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(name="BENCH", subjects=["bench.js"])
    t = time.perf_counter()
    futures = []
    for line in lines:
        futures.append(await js.publish_async("bench.js", line))
        if len(futures) >= 500:
            await asyncio.gather(*futures)
            futures.clear()
    await asyncio.gather(*futures)
    elapsed = time.perf_counter() - t
    await js.delete_stream("BENCH")
    await nc.close()
    return len(lines) / elapsed


async def forward_and_consume(url: str, log_dir: Path, total: int) -> tuple[float, float]:
    """Events/s from the start of a `fleet forward --once` process until this consumer decoded the last."""
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig

    proc_t = time.perf_counter()
    # the forwarder runs as its own process (like on a real machine); this process consumes
    proc = subprocess.Popen(
        [AGENTLOG, "fleet", "forward", "--once", "--host", "bench", "--nats", url, "--log-dir", str(log_dir)],
        stderr=subprocess.DEVNULL,
    )
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=10)
    while True:
        try:
            await js.stream_info(bus.EVENTS)
            break
        except Exception:  # noqa: BLE001 - the forwarder creates it
            await asyncio.sleep(0.05)
    await js.add_consumer(
        bus.EVENTS, ConsumerConfig(durable_name="bench", ack_policy=AckPolicy.ALL, max_ack_pending=-1)
    )
    sub = await js.pull_subscribe_bind(durable="bench", stream=bus.EVENTS)
    decoder = msgspec.json.Decoder()
    seen = 0
    while seen < total:
        try:
            msgs = await sub.fetch(64, timeout=1)
        except Exception:  # noqa: BLE001
            continue
        for msg in msgs:
            for line in msg.data.split(b"\n"):
                decoder.decode(line)
                seen += 1
        await msgs[-1].ack()
    end_to_end = total / (time.perf_counter() - proc_t)
    proc.wait()
    await nc.close()
    return end_to_end, seen


async def latency(url: str, tmp: Path, rate: int = 5000, seconds: float = 12.0) -> list[float]:
    import nats

    log_dir = tmp / "lat"
    log_dir.mkdir()
    stream = log_dir / "agent-work-stream.jsonl"
    stream.touch()
    env = {**os.environ, "AGENT_ERROR_LOOP_THRESHOLD": "4"}
    procs = [
        subprocess.Popen(
            [AGENTLOG, "fleet", "forward", "--host", "lat", "--nats", url, "--log-dir", str(log_dir)],
            stderr=subprocess.DEVNULL,
            env=env,
        ),
        subprocess.Popen(
            [AGENTLOG, "fleet", "watch", "-q", "--nats", url, "--log-dir", str(tmp / "lw")],
            stderr=subprocess.DEVNULL,
            env=env,
        ),
    ]
    nc = await nats.connect(url)
    delays: list[float] = []

    async def on_alert(msg):
        alert = msgspec.json.decode(msg.data)
        if alert["attempt_id"].startswith("lat-loop"):
            delays.append(time.time() - parse_time(alert["event_time"]))

    await nc.subscribe("agentlog.alerts.>", cb=on_alert)
    await asyncio.sleep(4)  # workers take their partitions
    fd = os.open(stream, os.O_WRONLY | os.O_APPEND)
    start, sent, loops = time.monotonic(), 0, 0
    while time.monotonic() - start < seconds:
        due = int((time.monotonic() - start) * rate)
        chunk = []
        while sent < due:
            if sent % 50 == 0:  # every 50th event belongs to an error loop: its 4th error alerts
                attempt = f"lat-loop-{loops // 4}"
                chunk.append(
                    msgspec.json.encode(
                        event(
                            attempt,
                            "error",
                            loops,
                            error_message="fatal: not a git repo",
                            error_fingerprint="git_not_repo",
                            error_category="git",
                        )
                    )
                )
                loops += 1
            else:
                chunk.append(msgspec.json.encode(event(f"lat-{sent % 200}", "tool_call", sent)))
            sent += 1
        if chunk:
            os.write(fd, b"\n".join(chunk) + b"\n")
        await asyncio.sleep(0.002)
    os.close(fd)
    await asyncio.sleep(3)
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(20)
    await nc.close()
    return sorted(delays)


async def failover(url: str, tmp: Path) -> float:
    import nats

    log_dir = tmp / "fo"
    log_dir.mkdir()
    stream = log_dir / "agent-work-stream.jsonl"
    stream.touch()
    fwd = subprocess.Popen(
        [AGENTLOG, "fleet", "forward", "--host", "fo", "--nats", url, "--log-dir", str(log_dir)],
        stderr=subprocess.DEVNULL,
    )
    workers = {
        f"fo-w{i}": subprocess.Popen(
            [
                AGENTLOG,
                "fleet",
                "watch",
                "-q",
                "--worker-id",
                f"fo-w{i}",
                "--nats",
                url,
                "--log-dir",
                str(tmp / f"fw{i}"),
            ],
            stderr=subprocess.DEVNULL,
        )
        for i in range(2)
    }
    nc = await nats.connect(url)
    js = nc.jetstream()
    got = asyncio.Event()

    async def mark(msg):
        if msgspec.json.decode(msg.data)["attempt_id"].startswith("fo-loop"):
            got.set()

    await nc.subscribe("agentlog.alerts.>", cb=mark)
    await asyncio.sleep(6)  # both workers hold their share
    leases = await js.key_value(bus.LEASES)
    owner = (await leases.get("p0")).value.decode()
    partitions = int((await (await js.key_value(bus.CONFIG_BUCKET)).get("partitions")).value)
    attempt = next(f"fo-loop-{i}" for i in range(10_000) if bus.partition_of(f"fo-loop-{i}", partitions) == 0)
    killed = time.monotonic()
    os.kill(workers[owner].pid, signal.SIGKILL)
    with open(stream, "ab") as handle:
        for i in range(4):
            handle.write(
                msgspec.json.encode(
                    event(
                        attempt,
                        "error",
                        i,
                        error_message="fatal: not a git repo",
                        error_fingerprint="git_not_repo",
                        error_category="git",
                    )
                )
                + b"\n"
            )
    await asyncio.wait_for(got.wait(), 60)
    elapsed = time.monotonic() - killed
    for p in [fwd, *workers.values()]:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            p.wait(20)
    await nc.close()
    return elapsed


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--only", choices=["throughput", "latency", "failover"], help="Run one part.")
    parser.add_argument("--rate", type=int, default=20_000, help="Events/s of the latency part [20,000].")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        lines = make_log(tmp / "machine", args.events)
        size = sum(map(len, lines)) / len(lines)

        def fresh(name: str) -> Cluster:  # each part on its own server: no backlog from the one before
            return Cluster(tmp / name, size=1)

        with fresh("nats-t") as server:
            from agentlog.fleet.server import version

            print(
                f"nats-server {'.'.join(map(str, version(server.binary)))}, 1 node, {os.cpu_count()} cores; "
                f"{args.events:,} events of ~{size:.0f} bytes"
            )
            if args.only in (None, "throughput"):
                raw = asyncio.run(raw_publish(server.url, lines))
                print(f"  baseline: core NATS publish, 1 event/msg, no acks      {raw:>10,.0f} events/s")
                each = asyncio.run(js_publish_each(server.url, lines[:50_000]))
                print(f"  baseline: JetStream publish_async, 1 event/msg, acked  {each:>10,.0f} events/s")
                e2e, seen = asyncio.run(forward_and_consume(server.url, tmp / "machine", args.events))
                print(
                    f"  fleet forward (process) + pull consumer, acked, e2e   {e2e:>10,.0f} events/s "
                    f"({seen:,} consumed): {e2e / raw:.2f}x core NATS publish (target >= 0.5x)"
                )
        if args.only in (None, "latency"):
            with fresh("nats-l") as server:
                delays = asyncio.run(latency(server.url, tmp, rate=args.rate))
            print(
                f"  publish-to-alert at {args.rate:,} events/s: {len(delays)} alerts, p50 {pct(delays, 0.5):.0f} ms, "
                f"p99 {pct(delays, 0.99):.0f} ms, max {pct(delays, 1.0):.0f} ms (target p99 < 100 ms)"
            )
        if args.only in (None, "failover"):
            with fresh("nats-f") as server:
                took = asyncio.run(failover(server.url, tmp))
            print(
                f"  failover: kill -9 a partition's owner -> its next alert from the other worker in "
                f"{took:.1f} s (lease TTL {bus.LEASE_TTL_S:.0f} s; target < 5 s)"
            )


if __name__ == "__main__":
    main()
