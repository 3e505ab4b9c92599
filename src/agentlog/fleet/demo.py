"""`agentlog demo --fleet`: a local 3-node cluster, simulated machines, two workers, the alerts.

Everything runs on 127.0.0.1 under LOG_DIR/fleet-demo/: machines m1..mN (each its own log
dir and `fleet forward` process), two `fleet watch` workers, then `fleet archive` writes
the whole fleet into fleet-demo/archive, where every other command works as usual: it
also compacts the stream into Parquet by day and machine (archive/parquet), which the
reports then read.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import analytics, config
from ..analytics import columnar
from ..demo import run_fleet
from ..recorder import Recorder
from .bus import NatsOptions
from .server import Cluster
from .status import fleet_status


@dataclass
class FleetDemo:
    root: Path
    machines: list[Path] = field(default_factory=list)
    archive: Path | None = None
    alerts: list = field(default_factory=list)  # Alert structs, from the archive
    events: int = 0
    parquet: list = field(default_factory=list)  # per day and machine: parts and events (`columnar.inventory`)
    summary: Any = None  # `analytics.Summary` of the archive, read from its Parquet


def _agentlog(*args: str, quiet: bool = True) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "agentlog", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL if quiet else None,
    )


def run_fleet_demo(
    log_dir: Path, machines: int = 3, agents: int = 10, *, seed: int = 7, speed: float = 1.0, say=print
) -> FleetDemo:
    from ..store.reader import read_kind
    from ..store.alerts import read_alerts

    root = Path(log_dir) / "fleet-demo"
    shutil.rmtree(root, ignore_errors=True)
    demo = FleetDemo(root, [root / f"m{i + 1}" for i in range(machines)], root / "archive")
    with Cluster(root / "nats", size=3) as cluster:
        say(f"3-node NATS JetStream cluster on {', '.join(cluster.urls)}")
        procs = [
            _agentlog("fleet", "forward", "--nats", cluster.url, "--host", m.name, "--log-dir", str(m))
            for m in demo.machines
        ]
        procs += [
            _agentlog(
                "fleet",
                "watch",
                "--quiet",
                "--nats",
                cluster.url,
                "--worker-id",
                f"worker-{i + 1}",
                "--log-dir",
                str(root / f"worker-{i + 1}"),
            )
            for i in range(2)
        ]
        nats = NatsOptions(servers=cluster.url)
        _wait(nats, lambda r: len(r["leases"]) >= 8 and len(r["workers"]) == 2, 60)
        say(f"{machines} machines forwarding, 2 watchdog workers; simulating {agents} agents per machine ...")
        threads = [
            threading.Thread(target=_machine, args=(m, agents, seed + i, speed)) for i, m in enumerate(demo.machines)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        _wait(
            nats,
            lambda r: (
                all(m["lag_bytes"] == 0 for m in r["machines"])
                and len(r["machines"]) == machines
                and all(c["pending"] == 0 for c in r["consumers"] if c["consumer"].startswith("watch-"))
            ),
            60,
        )
        time.sleep(1)  # the workers publish what the last events raised
        archive = subprocess.run(
            [
                sys.executable,
                "-m",
                "agentlog",
                "fleet",
                "archive",
                "--once",
                "--nats",
                cluster.url,
                "--out",
                str(demo.archive),
            ],
            capture_output=True,
            text=True,
        )
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(15)
        if archive.returncode != 0:
            say(archive.stderr)
    demo.events = sum(1 for _ in read_kind(demo.archive, "stream"))
    demo.alerts = list(read_alerts(demo.archive))
    demo.parquet = columnar.inventory(demo.archive)
    data = analytics.load(demo.archive)
    try:
        demo.summary = analytics.summary(data)
    finally:
        data.source.close()
    return demo


def _machine(log_dir: Path, agents: int, seed: int, speed: float) -> None:
    with Recorder(config.load({"log_dir": str(log_dir)})) as recorder:
        run_fleet(recorder, agents, seed=seed, speed=speed, prefix=log_dir.name)


def _wait(nats: NatsOptions, ready, timeout: float) -> bool:
    """Poll `fleet status` until `ready(report)` (the cluster elects leaders, workers take partitions)."""
    import asyncio

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready(asyncio.run(fleet_status(nats))):
                return True
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.5)
    return False
