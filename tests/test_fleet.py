"""Fleet mode on a real nats-server (127.0.0.1, free ports): forward, archive, watch, status."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from agentlog.fleet.server import Cluster
from fleetkit import agentlog, event_ids, expected_alerts, published_alerts, run, stop, wait_for, write_machine


@pytest.fixture()
def server(tmp_path):
    with Cluster(tmp_path / "nats", size=1) as cluster:
        yield cluster


def test_forward_archive_watch_end_to_end(server, tmp_path):
    machines = [tmp_path / f"m{i}" for i in range(3)]
    for p in [write_machine(d, f"m{i}", sessions=8) for i, d in enumerate(machines)]:
        assert p.wait(60) == 0
    for i, d in enumerate(machines):
        result = run("fleet", "forward", "--once", "--nats", server.url, "--log-dir", str(d), "--host", f"m{i}")
        assert result.returncode == 0, result.stderr
    # forwarding again sends nothing: the checkpoint and the stream agree
    again = run("fleet", "forward", "--once", "--nats", server.url, "--log-dir", str(machines[0]), "--host", "m0")
    assert "0 events" in again.stderr

    out = tmp_path / "archive"
    result = run("fleet", "archive", "--once", "--nats", server.url, "--out", str(out))
    assert result.returncode == 0, result.stderr
    union = [i for d in machines for i in event_ids(d / "agent-work-stream.jsonl")]
    archived = event_ids(out / "agent-work-stream.jsonl")
    assert sorted(archived) == sorted(union)
    sessions = sorted(p.name for d in machines for p in (d / "agent-sessions").glob("*.jsonl"))
    assert sorted(p.name for p in (out / "agent-sessions").glob("*.jsonl")) == sessions
    local_errors = sum(len(event_ids(d / "agent-errors.jsonl")) for d in machines)
    assert len(event_ids(out / "agent-errors.jsonl")) == local_errors
    metrics = (out / "agent-metrics.jsonl").read_text().splitlines()
    assert len(metrics) == len(sessions)
    # analytics work on the archive unchanged
    summary = run("summary", "--log-dir", str(out), "--format", "json")
    assert summary.returncode == 0, summary.stderr

    expected = expected_alerts(machines, tmp_path)
    assert expected, "the input implies some alerts"
    workers = [
        agentlog("fleet", "watch", "--quiet", "--nats", server.url, "--log-dir", str(tmp_path / f"w{i}"))
        for i in range(2)
    ]
    try:
        got = wait_for(lambda: set(published_alerts(server.url)) >= expected, 60)
        assert got, f"missing alerts: {expected - set(published_alerts(server.url))}"
        status = run("fleet", "status", "--json", "--nats", server.url)
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert {m["host"] for m in report["machines"]} == {"m0", "m1", "m2"}
        assert len(report["workers"]) == 2
    finally:
        stop(workers)
    ids = published_alerts(server.url)
    assert set(ids) == expected
    assert max(Counter(ids).values()) == 1
    # each new alert went to one worker's usual journal exactly once
    journals = [tmp_path / f"w{i}" / "agent-alerts.jsonl" for i in range(2)]
    journaled = [
        json.loads(line)["alert_id"] for path in journals if path.exists() for line in path.read_text().splitlines()
    ]
    assert sorted(journaled) == sorted(expected)

    # the archive also collects the alerts; a second run writes nothing twice
    result = run("fleet", "archive", "--once", "--nats", server.url, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(event_ids(out / "agent-work-stream.jsonl")) == sorted(union)
    alerts = [json.loads(line)["alert_id"] for line in (out / "agent-alerts.jsonl").read_text().splitlines()]
    assert sorted(alerts) == sorted(expected)


def test_archive_completes_files_after_a_crash_mid_batch(server, tmp_path):
    machine = tmp_path / "m"
    assert write_machine(machine, "solo", sessions=5).wait(60) == 0
    assert run("fleet", "forward", "--once", "--nats", server.url, "--log-dir", str(machine)).returncode == 0
    out = tmp_path / "archive"
    assert run("fleet", "archive", "--once", "--nats", server.url, "--out", str(out)).returncode == 0
    # simulate kill -9 after the stream was written but before transcripts/errors/checkpoint:
    # roll the checkpoint back and cut the other files short
    state = out / "state" / "fleet-archive.checkpoint.json"
    saved = json.loads(state.read_text())
    saved["events_seq"], saved["sizes"] = 0, {"stream": 0, "errors": 0, "metrics": 0}
    state.write_text(json.dumps(saved))
    for path in (out / "agent-sessions").glob("*.jsonl"):
        lines = path.read_bytes().splitlines(keepends=True)
        path.write_bytes(b"".join(lines[: len(lines) // 2]))
    (out / "agent-errors.jsonl").write_bytes(b"")
    assert run("fleet", "archive", "--once", "--nats", server.url, "--out", str(out)).returncode == 0
    assert sorted(event_ids(out / "agent-work-stream.jsonl")) == sorted(event_ids(machine / "agent-work-stream.jsonl"))
    for path in (machine / "agent-sessions").glob("*.jsonl"):
        assert event_ids(out / "agent-sessions" / path.name) == event_ids(path)
    assert event_ids(out / "agent-errors.jsonl") == event_ids(machine / "agent-errors.jsonl")
    assert len((out / "agent-metrics.jsonl").read_text().splitlines()) == 5


def _publish_alerts(url: str, alerts: list[dict]) -> None:
    """Put alerts in the alerts stream the way a worker does, then vanish (as one killed
    right after the stream's ack, before it could notify anyone)."""
    import asyncio

    from agentlog.fleet import bus

    async def main():
        nc = await bus.connect(bus.NatsOptions(servers=url))
        try:
            js = nc.jetstream(timeout=5)
            await bus.ensure(js)
            for alert in alerts:
                await js.publish(
                    bus.alert_subject(alert["type"]),
                    json.dumps(alert).encode(),
                    headers={"Nats-Msg-Id": alert["alert_id"]},
                )
        finally:
            await nc.close()

    asyncio.run(main())


def _alert(i: int) -> dict:
    from agentlog.events import now_iso

    return {
        "timestamp": now_iso(),
        "event_time": now_iso(),
        "type": "error_loop",
        "attempt_id": f"a{i}",
        "severity": "high",
        "recommendation": "stop",
        "alert_id": f"orphan-{i}",
    }


def test_an_alert_whose_publisher_died_still_reaches_each_sink_once(server, tmp_path):
    _publish_alerts(server.url, [_alert(i) for i in range(5)])
    delivered = tmp_path / "delivered.txt"
    sink = f'*=printf "%s\\n" "$AGENTLOG_ALERT_ID" >> {delivered}'
    workers = [
        agentlog(
            "fleet", "watch", "--quiet", "--nats", server.url, "--exec", sink, "--log-dir", str(tmp_path / f"w{i}")
        )
        for i in range(2)
    ]
    try:
        assert wait_for(lambda: delivered.exists() and len(delivered.read_text().split()) >= 5, 60)
        _publish_alerts(server.url, [_alert(5)])  # and one while they run
        assert wait_for(lambda: len(delivered.read_text().split()) >= 6, 30)
        time.sleep(2)  # a second delivery would show now
    finally:
        stop(workers)
    for p in workers:
        p.wait(10)
    # a restart delivers nothing again: the sink's consumer and its marks remember
    again = agentlog(
        "fleet", "watch", "--quiet", "--nats", server.url, "--exec", sink, "--log-dir", str(tmp_path / "w9")
    )
    try:
        time.sleep(4)
    finally:
        stop([again])
    assert sorted(delivered.read_text().split()) == sorted(f"orphan-{i}" for i in range(6))


def _notify_consumer_of_an_older_agentlog(url: str, sink_spec: str) -> None:
    """The sink's consumer as agentlog made it before heartbeats: ack_wait 30 s."""
    import asyncio

    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    from agentlog.fleet import bus
    from agentlog.watch.sinks.exec import ExecSink

    async def main():
        nc = await bus.connect(bus.NatsOptions(servers=url))
        try:
            js = nc.jetstream(timeout=5)
            name = f"notify-{bus.token(ExecSink.from_spec(sink_spec).name)}"
            config = ConsumerConfig(
                durable_name=name,
                filter_subject=bus.ALERT_SUBJECTS,
                ack_policy=AckPolicy.EXPLICIT,
                max_ack_pending=1,
                ack_wait=30.0,
                max_deliver=1000,
                deliver_policy=DeliverPolicy.BY_START_TIME,
                opt_start_time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600)),
            )
            await js.add_consumer(bus.ALERTS, config)
        finally:
            await nc.close()

    asyncio.run(main())


@pytest.mark.slow
@pytest.mark.parametrize("upgraded", [False, True])
def test_an_alert_held_by_a_killed_worker_reaches_the_sink_seconds_after_not_at_ack_wait(server, tmp_path, upgraded):
    """A worker is killed (-9, its sink's command with it) while delivering the first alert;
    every later alert waits behind it. The next worker gets it within seconds: the server
    hands it on after a short silence, not the 30 s ack_wait a fleet had before (`upgraded`:
    a consumer made then is brought to the short one)."""
    import os
    import signal

    from agentlog.fleet import notify

    _publish_alerts(server.url, [_alert(i) for i in range(2)])
    started, block, delivered = tmp_path / "started.txt", tmp_path / "block", tmp_path / "delivered.txt"
    block.touch()
    sink = (  # tells its pid, waits while `block` exists, then delivers
        f"*=echo $$ >> {started}; while [ -e {block} ]; do sleep 0.1; done; "
        f'printf "%s\\n" "$AGENTLOG_ALERT_ID" >> {delivered}'
    )
    if upgraded:
        _notify_consumer_of_an_older_agentlog(server.url, sink)

    def worker(name: str):
        return agentlog(
            "fleet", "watch", "--quiet", "--nats", server.url, "--exec", sink, "--log-dir", str(tmp_path / name)
        )

    first = worker("w0")
    try:
        assert wait_for(started.exists, 60), "the first worker never started delivering"
        time.sleep(notify.HEARTBEAT_S * 3)  # it held the alert a while (a live holder keeps it)
        first.send_signal(signal.SIGKILL)
        first.wait()
        os.kill(int(started.read_text().split()[0]), signal.SIGKILL)
    finally:
        stop([first])
    block.unlink()
    second = worker("w1")
    begun = time.monotonic()
    try:
        assert wait_for(lambda: delivered.exists() and len(delivered.read_text().split()) >= 2, 60)
        took = time.monotonic() - begun
    finally:
        stop([second])
    assert delivered.read_text().split() == ["orphan-0", "orphan-1"]
    assert took < 15, f"{took:.1f} s after the next worker started"  # ack_wait 5 s + its start


def test_a_notifier_started_while_the_servers_are_down_delivers_once_they_are_back(server, tmp_path):
    """A worker can start its notifier while a server is down (the chaos test kills one every
    few seconds): its first lookups fail, and it keeps trying instead of ending, silently, for
    good."""
    import asyncio

    from agentlog.fleet import bus
    from agentlog.fleet.notify import Notifier
    from agentlog.watch.sinks import BaseSink

    class Collect(BaseSink):
        kind = "collect"

        def __init__(self):
            super().__init__("collect")
            self.got: list[str] = []

        def send(self, alert) -> None:
            self.got.append(alert.alert_id)

    _publish_alerts(server.url, [_alert(0)])  # the fleet's streams and buckets exist
    sink = Collect()

    async def main():
        nc = await bus.connect(bus.NatsOptions(servers=server.url))
        server.kill(0)
        notifier = Notifier(nc.jetstream(timeout=1), [sink], tmp_path / "w")
        running = asyncio.create_task(notifier.run())
        await asyncio.sleep(3)  # its first lookups time out meanwhile
        server.start(0)
        for _ in range(150):
            if sink.got or running.done():
                break
            await asyncio.sleep(0.2)
        assert not running.done(), f"the notifier ended: {running.exception()!r}"
        notifier.stop.set()
        await asyncio.wait_for(running, 10)
        await nc.close()

    asyncio.run(main())
    assert sink.got == ["orphan-0"]


def test_a_notifier_whose_connection_closed_waits_between_tries_never_spins(server, tmp_path):
    """A fetch on a closed connection fails at once, without waiting: taken as "nothing new",
    the notifier fetched again at once, forever, and its event loop ran nothing else (not
    even the task that would stop it)."""
    import asyncio
    import threading

    from agentlog.fleet import bus
    from agentlog.fleet.notify import Notifier
    from agentlog.watch.sinks import BaseSink

    class Collect(BaseSink):
        kind = "collect"

        def send(self, alert) -> None:
            pass

    _publish_alerts(server.url, [_alert(0)])  # the fleet's streams and buckets exist
    ticks = []

    async def main():
        nc = await bus.connect(bus.NatsOptions(servers=server.url))
        notifier = Notifier(nc.jetstream(timeout=1), [Collect("collect")], tmp_path / "w")
        running = asyncio.create_task(notifier.run())
        await asyncio.sleep(2)  # subscribed, waiting for alerts
        await nc.close()
        for _ in range(10):
            await asyncio.sleep(0.1)
            ticks.append(1)
        notifier.stop.set()
        await asyncio.wait_for(running, 10)

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive() and len(ticks) == 10, "the notifier's loop starved everything else"


def test_forward_skips_malformed_lines_and_splits_runs_into_bounded_messages(server, tmp_path):
    """A batch holding blank, broken, too-deep and non-UTF-8 lines: the good events all reach
    the stream once, in order, in messages of at most max_events events; the bad ones are
    counted. Then a fresh forwarder with the same checkpoint sends nothing again."""
    import asyncio

    from agentlog.fleet import bus
    from agentlog.fleet.forward import ForwardOptions, Forwarder

    machine = tmp_path / "m"
    machine.mkdir()
    good = [
        json.dumps(
            {
                "event_id": f"e{i}",
                "timestamp": "2026-12-01T10:00:00.000Z",
                "attempt_id": f"a{i % 3}",
                "event_type": "agent_output",
                "data": {"output": "x" * (i * 40)},
            }
        ).encode()
        for i in range(40)
    ]
    bad = [b"{not json", b"[" * 100 + b"]" * 100, b'{"attempt_id": "\xff\xfe"}']
    lines = good[:10] + [b""] + bad[:1] + good[10:25] + bad[1:] + good[25:]
    (machine / "agent-work-stream.jsonl").write_bytes(b"\n".join(lines) + b"\n")

    def forward() -> object:
        options = ForwardOptions(host="m", once=True, max_events=4, max_bytes=700)
        return asyncio.run(Forwarder(machine, bus.NatsOptions(servers=server.url), options).run())

    result = forward()
    assert (result.forwarded, result.malformed) == (40, 3)
    assert result.messages >= 40 // 4 + 3  # three partitions at most 4 events each, bytes cut more
    out = tmp_path / "archive"
    assert run("fleet", "archive", "--once", "--nats", server.url, "--out", str(out)).returncode == 0
    archived = event_ids(out / "agent-work-stream.jsonl")
    assert sorted(archived) == sorted(f"e{i}" for i in range(40))
    for attempt in range(3):  # each attempt's events in the order they were written
        mine = [e for e in archived if int(e[1:]) % 3 == attempt]
        assert mine == sorted(mine, key=lambda e: int(e[1:]))
    assert forward().forwarded == 0


async def _ordered_reader(url: str, stream: str):
    """A connection, its JetStream context, and an `OrderedPull` from the start of a new
    stream `stream` (subjects `<stream lowercased>.>`)."""
    from agentlog.fleet import bus

    nc = await bus.connect(bus.NatsOptions(servers=url))
    js = nc.jetstream(timeout=5)
    await js.add_stream(name=stream, subjects=[f"{stream.lower()}.>"])
    pull = bus.OrderedPull(js, stream, "reader")
    await pull.start(0)
    return nc, js, pull


def test_ordered_pull_takes_each_message_once_in_order_as_it_is_stored_across_expired_requests(server):
    """The reader keeps a pull request open (it expires after 2 s and is renewed): every
    message comes once, in order, pushed as soon as it is stored; a reader started again
    after a position goes on right after it."""
    import asyncio

    async def read(pull, count: int, sent: dict[int, float]) -> list[tuple[int, float]]:
        got: list[tuple[int, float]] = []
        deadline = time.monotonic() + 30
        while len(got) < count and time.monotonic() < deadline:
            for msg in await pull.fetch(16, 1.0):
                got.append((int(msg.data), time.monotonic() - sent[int(msg.data)]))
                await msg.ack()
        return got

    async def main():
        nc, js, pull = await _ordered_reader(server.url, "T")
        sent: dict[int, float] = {}
        got = []
        for i in range(8):  # 4.8 s: the first requests expire meanwhile
            sent[i] = time.monotonic()
            await js.publish("t.x", str(i).encode())
            got += await read(pull, 1, sent)
            await asyncio.sleep(0.6)
        await pull.start(5)  # taken over from a state saved after the 5th (stream seq 5)
        for i in range(8, 10):
            sent[i] = time.monotonic()
            await js.publish("t.x", str(i).encode())
        again = await read(pull, 5, sent)
        await pull.close()
        await nc.close()
        return got, again

    got, again = asyncio.run(main())
    assert [n for n, _ in got] == list(range(8))
    assert sorted(delay for _, delay in got)[4] < 0.5  # pushed on arrival, not found by a later fetch
    assert [n for n, _ in again] == [5, 6, 7, 8, 9]


def test_ordered_pull_makes_its_consumer_again_when_it_was_deleted(server):
    """A consumer deleted under a reader (by hand, or by the server) answered every pull
    request with 503 from then on: the reader stalled forever. It is made again right
    after the last message taken, so nothing is lost or taken twice."""
    import asyncio

    async def main():
        nc, js, pull = await _ordered_reader(server.url, "D")
        got = []
        for i in range(6):
            await js.publish("d.x", str(i).encode())
            if i == 2:
                while len(got) < 3:
                    got += [int(m.data) for m in await pull.fetch(16, 1.0)]
                await js.delete_consumer("D", "reader")
        deadline = time.monotonic() + 20
        while len(got) < 6 and time.monotonic() < deadline:
            got += [int(m.data) for m in await pull.fetch(16, 0.5)]
        await pull.close()
        await nc.close()
        return got

    assert asyncio.run(main()) == list(range(6))


@pytest.mark.parametrize("upgraded", [False, True])
def test_a_dead_workers_expired_leases_are_taken_when_they_expire_not_at_the_next_round(server, tmp_path, upgraded):
    """A worker died holding every lease. The survivor polls only once a minute here, so it
    can only take them in time because each lease's expiry marker wakes it, and it can only
    claim a key whose last word is such a marker by compare-and-set on the marker. A fleet
    whose leases bucket was made before markers (`upgraded`) gets them added."""
    import asyncio

    from nats.js.api import KeyValueConfig

    from agentlog import config
    from agentlog.fleet import bus
    from agentlog.fleet.watch import FleetWatcher, FleetWatchOptions

    async def main() -> list[int]:
        import nats

        nc = await nats.connect(server.url)
        js = nc.jetstream()
        if upgraded:
            await js.create_key_value(KeyValueConfig(bucket=bus.LEASES, ttl=bus.LEASE_TTL_S))
        partitions = await bus.ensure(js)
        leases = await js.key_value(bus.LEASES)
        for p in range(partitions):  # the dead worker's, never renewed
            await leases.create(f"p{p}", b"dead-worker")
        settings = config.load({"log_dir": str(tmp_path / "w")}, environ={}, cwd=tmp_path)
        watcher = FleetWatcher(
            settings, bus.NatsOptions(servers=server.url), FleetWatchOptions(worker_id="survivor", lease_every_s=60)
        )
        running = asyncio.create_task(watcher.run())
        try:
            for _ in range(int(6 * bus.LEASE_TTL_S / 0.25)):
                if len(watcher.owned) == partitions:
                    break
                await asyncio.sleep(0.25)
            return sorted(watcher.owned)
        finally:
            watcher.stop.set()
            await asyncio.wait_for(running, 30)
            await nc.close()

    assert asyncio.run(main()) == list(range(bus.DEFAULT_PARTITIONS))


# A worker whose setup step fails after its notifier started: the step named fails once (it
# is retried) or for good (the worker ends). Patched in the worker's own process.
FAILING_SETUP = r"""
import sys
from nats.js.client import JetStreamContext
from agentlog.cli import main
from agentlog.fleet import bus, watch

failing = sys.argv.pop(1)
lookup, lookups = JetStreamContext.key_value, []

async def flaky(self, bucket):
    lookups.append(bucket)
    if failing == "lookup" and lookups.count(bus.LEASES) == 2:  # the first is ensure's
        raise TimeoutError("the lookup timed out: a server was down")
    return await lookup(self, bucket)

def broken(*args):
    raise RuntimeError("setup failed")

JetStreamContext.key_value = flaky
if failing == "setup":
    watch.Heartbeats = broken
main()
"""


@pytest.mark.parametrize("failing", ["lookup", "setup"])
def test_a_worker_whose_setup_fails_after_its_notifier_started_goes_on_or_exits_never_hangs(server, tmp_path, failing):
    """A lease-bucket lookup that times out (a server down) is retried: the worker takes the
    partitions and stops on SIGTERM. A setup that fails for good ends the process. Before,
    either left the worker's notifier fetching over the closed connection without yielding:
    the process spun forever, holding nothing, deaf to SIGTERM."""
    import asyncio
    import subprocess
    import sys

    from agentlog.fleet import bus
    from agentlog.fleet.status import fleet_status

    args = ["fleet", "watch", "--quiet", "--nats", server.url, "--worker-id", "w", "--exec", "*=true"]
    proc = subprocess.Popen(
        [sys.executable, "-c", FAILING_SETUP, failing, *args, "--log-dir", str(tmp_path / "w")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        if failing == "setup":
            assert proc.wait(30) != 0
            return

        def leases() -> dict:
            return asyncio.run(fleet_status(bus.NatsOptions(servers=server.url)))["leases"]

        assert wait_for(lambda: len(leases()) == bus.DEFAULT_PARTITIONS, 30), "the worker took no partitions"
        proc.terminate()
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
