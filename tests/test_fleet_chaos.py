"""Chaos: a 3-node cluster, 20 machines, servers/forwarders/workers/archiver killed with -9.

Afterwards every event is in the archive exactly once, and the alerts are exactly the ones
the single-machine `agentlog watch --replay --once` finds on the union of the local logs,
each published once and each given to the workers' notification sink (an --exec) once: a
worker killed mid-delivery may cause one repeat of the alert it held, never a loss.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
from collections import Counter

import pytest

from agentlog.fleet import bus
from agentlog.fleet.server import Cluster
from fleetkit import agentlog, event_ids, expected_alerts, published_alerts, stop, told, wait_for, write_machines

MACHINES = 20


def _create_streams(url: str) -> None:
    async def main():
        nc = await bus.connect(bus.NatsOptions(servers=url))
        try:
            js = nc.jetstream(timeout=5)
            for _ in range(40):
                try:
                    await bus.ensure(js, replicas=3)
                    return
                except Exception:  # noqa: BLE001 - the cluster is still forming
                    await asyncio.sleep(0.5)
            raise AssertionError("the cluster never accepted the streams")
        finally:
            await nc.close()

    asyncio.run(main())


@pytest.mark.slow
def test_every_event_and_alert_exactly_once_through_chaos(tmp_path):
    rng = random.Random(11)
    cluster = Cluster(tmp_path / "nats", size=3).start()
    procs: dict[str, object] = {}
    try:
        _create_streams(cluster.url)
        machines = [tmp_path / f"m{i:02d}" for i in range(MACHINES)]
        for d in machines:
            d.mkdir()

        def forwarder(i: int):
            return agentlog(
                "fleet", "forward", "--nats", cluster.url, "--host", f"m{i:02d}", "--log-dir", str(machines[i])
            )

        delivered = tmp_path / "delivered.txt"
        sink = f'*=printf "%s\\n" "$AGENTLOG_ALERT_ID" >> {delivered}'
        worker_kills = 0

        def worker(i: int):
            return agentlog(
                "fleet",
                "watch",
                "--quiet",
                "--nats",
                cluster.url,
                "--worker-id",
                f"w{i}",
                "--exec",
                sink,
                "--log-dir",
                str(tmp_path / f"w{i}"),
            )

        def archiver():
            return agentlog("fleet", "archive", "--nats", cluster.url, "--out", str(tmp_path / "archive"))

        writer = write_machines(tmp_path, MACHINES, sessions=8, pause=0.15)
        for i in range(MACHINES):
            procs[f"f{i}"] = forwarder(i)
        for i in range(2):
            procs[f"w{i}"] = worker(i)
        procs["archive"] = archiver()

        start, cut_off, down_server = time.monotonic(), None, None
        step = 0
        while writer.poll() is None or time.monotonic() - start < 20:
            time.sleep(1.0)
            step += 1
            if down_server is not None:
                cluster.start(down_server)
                down_server = None
            elif step % 4 == 0:
                down_server = rng.choice(cluster.alive())
                cluster.kill(down_server)
            if step == 2:  # cut one machine off: its forwarder freezes mid-flight for ~10 s
                cut_off = procs["f0"]
                os.kill(cut_off.pid, signal.SIGSTOP)
            if step == 12 and cut_off is not None:
                os.kill(cut_off.pid, signal.SIGCONT)
            if step % 3 == 0:
                i = rng.randrange(1, MACHINES)
                os.kill(procs[f"f{i}"].pid, signal.SIGKILL)
                procs[f"f{i}"].wait()
                procs[f"f{i}"] = forwarder(i)
            if step % 5 == 0:
                worker_kills += 1
                i = rng.randrange(2)
                os.kill(procs[f"w{i}"].pid, signal.SIGKILL)
                procs[f"w{i}"].wait()
                procs[f"w{i}"] = worker(i)
            if step == 7:
                os.kill(procs["archive"].pid, signal.SIGKILL)
                procs["archive"].wait()
                procs["archive"] = archiver()
        assert writer.wait(60) == 0
        if down_server is not None:
            cluster.start(down_server)

        union = [i for d in machines for i in event_ids(d / "agent-work-stream.jsonl")]
        archive = tmp_path / "archive"
        done = wait_for(lambda: len(event_ids(archive / "agent-work-stream.jsonl")) >= len(union), 90)
        if not done:
            have = set(event_ids(archive / "agent-work-stream.jsonl"))
            missing = {
                d.name: sum(1 for i in event_ids(d / "agent-work-stream.jsonl") if i not in have) for d in machines
            }
            missing = {k: v for k, v in missing.items() if v}
            raise AssertionError(f"archive lacks events: {missing}\n{told(procs)}")
        expected = expected_alerts(machines, tmp_path)
        got = wait_for(lambda: set(published_alerts(cluster.url)) >= expected, 60, step=1.0)
        assert got, f"missing alerts: {sorted(expected - set(published_alerts(cluster.url)))[:5]}\n{told(procs)}"

        def notified() -> list[str]:
            return delivered.read_text().split() if delivered.exists() else []

        assert wait_for(lambda: set(notified()) >= expected, 60, step=1.0), (
            f"an alert never reached the sink\n{told(procs)}"
        )
        time.sleep(2)  # anything late (a duplicate) would show now
        sent = notified()
    finally:
        stop(list(procs.values()))
        cluster_url = cluster.url
        ids = published_alerts(cluster_url) if cluster.alive() else []
        cluster.stop()

    archived = event_ids(archive / "agent-work-stream.jsonl")
    assert Counter(archived).most_common(1)[0][1] == 1, "an event was archived twice"
    assert set(archived) == set(union)
    for d in machines[:3]:
        for path in (d / "agent-sessions").glob("*.jsonl"):
            assert event_ids(archive / "agent-sessions" / path.name) == event_ids(path)
    assert Counter(ids).most_common(1)[0][1] == 1, "an alert was published twice"
    assert set(sent) == expected
    assert len(sent) - len(set(sent)) <= worker_kills, "a sink got an alert twice without a crash to explain it"
    assert set(ids) == expected
    alerts = [json.loads(line)["alert_id"] for line in (archive / "agent-alerts.jsonl").read_text().splitlines()]
    assert sorted(alerts) == sorted(expected)
