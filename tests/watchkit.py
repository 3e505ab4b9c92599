"""Helpers for the watchdog tests: stream lines with chosen times, a local HTTP receiver."""

from __future__ import annotations

import http.server
import json
import threading
import time
from pathlib import Path

import msgspec

BASE = 1_767_225_600.0  # 2026-01-01T00:00:00Z: old enough that everything unfinished is stuck


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(round((t % 1) * 1000)) % 1000:03d}Z"


_seq = [0]


def ev(attempt: str | None, kind: str, t: float, executor: str = "CODEX", **data) -> dict:
    _seq[0] += 1
    event = {"timestamp": iso(t), "event_type": kind, "executor": executor, "event_id": f"e{_seq[0]:08d}", "data": data}
    if attempt is not None:
        event["attempt_id"] = attempt
    return event


def write(path: Path, *events, raw: bytes = b"") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as handle:
        for event in events:
            handle.write(msgspec.json.encode(event) + b"\n")
        handle.write(raw)


def alerts(log_dir: Path) -> list[dict]:
    path = log_dir / "agent-alerts.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Receiver:
    """A real HTTP server on 127.0.0.1 that records JSON bodies (or refuses with `status`)."""

    def __init__(self, port: int = 0, status: int = 200):
        received, self.status = [], status
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                code = outer.status
                if code == 200:
                    received.append(json.loads(body))
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.received = received
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
