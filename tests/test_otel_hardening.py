"""`agentlog otel serve` against hostile clients: web pages, malformed HTTP, bombs, slow and
idle connections, public binds. A real receiver subprocess (or uvicorn in a thread where a
bound must be small), raw sockets for what no HTTP client sends."""

from __future__ import annotations

import gzip
import http.client
import json
import select
import socket
import subprocess
import threading
import zlib
from pathlib import Path

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from test_otel import AGENTLOG, claude_code_logs, server, start_server, stream  # noqa: F401 - fixture

from agentlog import config

BODY = claude_code_logs("s1").SerializeToString()
TOKEN = "t0ken-0123456789abcdef"


def request(
    url: str, body: bytes | None = BODY, headers: dict | None = None, method: str = "POST", path: str = "/v1/logs"
) -> tuple[int, bytes]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/x-protobuf", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def raw(url: str, data: bytes, timeout: float = 30) -> bytes:
    """Send raw bytes (what no HTTP client sends), return the status line."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(data)
        return sock.makefile("rb").readline()


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None]
)
def test_only_otlp_content_types_are_accepted(server, content_type):
    """A web page's "simple" cross-site POST (no preflight) can only send these types."""
    url, dest = server
    headers = {"Content-Type": content_type} if content_type else {}
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest("POST", "/v1/logs")
    for name, value in {**headers, "Content-Length": str(len(BODY))}.items():
        conn.putheader(name, value)
    conn.endheaders(BODY)
    assert conn.getresponse().status == 415
    conn.close()
    assert request(url, headers={"Content-Type": "application/x-protobuf; charset=binary"})[0] == 200
    assert {e["attempt_id"] for e in stream(dest)} == {"s1"}  # only the OTLP request was recorded


@pytest.mark.parametrize(
    "headers, status",
    [
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Host": "evil.example:4318"}, 403),
        ({"Host": "localhost"}, 200),
    ],
)
def test_web_pages_and_rebound_host_names_are_refused(server, headers, status):
    url, dest = server
    assert request(url, headers=headers)[0] == status
    assert bool(stream(dest)) == (status == 200)


def test_browsers_get_no_preflight_answer(server):
    url, _ = server
    status, _ = request(
        url, None, {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}, method="OPTIONS"
    )
    assert status in (403, 405)


@pytest.mark.parametrize("length", ["-1", "abc", "1e3", "12, 13"])
def test_a_malformed_content_length_is_400(server, length):
    url, dest = server
    head = (
        f"POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
        f"Content-Length: {length}\r\n\r\n".encode()
    )
    assert raw(url, head + BODY).split()[1] == b"400"
    assert request(url)[0] == 200  # and the receiver is still there
    assert {e["attempt_id"] for e in stream(dest)} == {"s1"}


def test_an_announced_huge_body_is_refused_before_it_is_sent(server):
    url, _ = server
    head = (
        b"POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
        b"Content-Length: 300000000\r\n\r\n"
    )
    assert raw(url, head).split()[1] == b"413"


def test_a_chunked_body_is_received(server):
    url, dest = server
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(BODY[i : i + 100]), BODY[i : i + 100]) for i in range(0, len(BODY), 100))
    head = (
        b"POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    assert raw(url, head + chunks + b"0\r\n\r\n").split()[1] == b"200"
    assert {e["attempt_id"] for e in stream(dest)} == {"s1"}


def gzip_bomb(size: int) -> bytes:
    """`size` zero bytes, gzipped (about 1 KB per MB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1 << 20)
    return b"".join(packer.compress(block) for _ in range(size >> 20)) + packer.flush()


def test_gzip_is_inflated_within_the_limit(server):
    url, dest = server
    bomb = gzip_bomb(200 << 20)
    assert len(bomb) < 1 << 20
    status, text = request(url, bomb, {"Content-Encoding": "gzip"})
    assert status == 413 and b"decompressed" in text
    assert request(url, gzip.compress(BODY[:-3]), {"Content-Encoding": "gzip"})[0] == 400  # cut: not OTLP
    assert request(url, gzip.compress(BODY)[:-5], {"Content-Encoding": "gzip"})[0] == 400  # truncated gzip
    assert request(url, gzip.compress(BODY[:50]) + gzip.compress(BODY[50:]), {"Content-Encoding": "gzip"})[0] == 200
    assert request(url, BODY, {"Content-Encoding": "br"})[0] == 415
    assert {e["attempt_id"] for e in stream(dest)} == {"s1"}


def test_an_empty_body_is_not_a_silent_success(server):
    url, dest = server
    assert request(url, b"")[0] == 400
    assert request(url, gzip.compress(b""), {"Content-Encoding": "gzip"})[0] == 400
    assert stream(dest) == []


def test_rejected_events_are_reported_as_partial_success(server):
    url, _ = server
    logs = claude_code_logs("ok")
    bad = logs.resource_logs[0].scope_logs[0].log_records[1].attributes.add()
    bad.key, bad.value.string_value = "event.timestamp", "yesterday"  # not a time: the event fails validation
    status, body = request(url, logs.SerializeToString())
    answer = ExportLogsServiceResponse.FromString(body)
    assert status == 200 and answer.partial_success.rejected_log_records == 1
    status, body = request(url, json_format.MessageToJson(logs).encode(), {"Content-Type": "application/json"})
    assert status == 200 and json.loads(body)["partialSuccess"]["rejectedLogRecords"] == "1"


class InThread:
    """The receiver app on uvicorn in a thread, with bounds small enough for a test."""

    def __init__(self, log_dir: Path, read_timeout: float, max_connections: int, bodies_in_flight: int = 8):
        from agentlog.otel.receiver import Receiver, create_app
        from agentlog.web.server import listen, server, url

        self.sock = listen("127.0.0.1", 0)
        self.url = url(self.sock)
        app = create_app(
            Receiver(config.load({"log_dir": str(log_dir)}), worker=False),
            read_timeout=read_timeout,
            bodies_in_flight=bodies_in_flight,
        )
        self.server = server(app, max_connections=max_connections)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]})
        self.thread.start()

    def close(self):
        self.server.should_exit = True
        self.thread.join(10)


def stall(url: str) -> socket.socket:
    """A request whose body starts (the receiver took it: 100 Continue) and never ends."""
    sock = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=30)
    sock.sendall(
        b"POST /v1/logs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-protobuf\r\n"
        b"Expect: 100-continue\r\nContent-Length: 1000\r\n\r\n"
    )
    assert sock.recv(100).startswith(b"HTTP/1.1 100 ")
    sock.sendall(BODY[:10])
    return sock


def test_bodies_held_in_memory_at_once_are_bounded(tmp_path):
    """With room for one body, a second request waits until the first is done (here: timed
    out), rather than both being held in memory."""
    running = InThread(tmp_path / "logs", read_timeout=1, max_connections=10, bodies_in_flight=1)
    try:
        stalled = stall(running.url)
        assert request(running.url)[0] == 200  # answered only once the stalled body gave up its room
        assert select.select([stalled], [], [], 0)[0] == [stalled]  # ... whose 408 was sent before
        assert stalled.makefile("rb").readline().split()[1] == b"408"
        stalled.close()
    finally:
        running.close()


def test_slow_and_idle_clients_are_bounded(tmp_path):
    """A body that never completes is answered 408 and its connection closed; connections
    beyond the bound are answered 503 (retryable) rather than queued; both free up again."""
    running = InThread(tmp_path / "logs", read_timeout=1, max_connections=3)
    try:
        stalled = [stall(running.url) for _ in range(2)]  # with the request below, 3 connections: the bound
        assert request(running.url)[0] == 503
        for sock in stalled:
            answer = sock.makefile("rb").read()  # until the server closes it
            assert answer.split()[1] == b"408"
            sock.close()
        assert request(running.url)[0] == 200
    finally:
        running.close()
    assert {e["attempt_id"] for e in stream(tmp_path / "logs")} == {"s1"}


def test_a_public_bind_needs_a_long_token(tmp_path, cli):
    weak = cli("otel", "serve", "--host", "0.0.0.0", "--port", "0", "--log-dir", str(tmp_path))
    assert weak.returncode == 2 and b"token" in weak.stderr and b"Traceback" not in weak.stderr
    short = cli("otel", "serve", "--host", "0.0.0.0", "--port", "0", "--token", "abc", "--log-dir", str(tmp_path))
    assert short.returncode == 2 and b"at least 16" in short.stderr


def test_with_a_token_every_request_must_carry_it(tmp_path):
    proc = subprocess.Popen(
        [
            AGENTLOG,
            "otel",
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--token",
            TOKEN,
            "--log-dir",
            str(tmp_path / "logs"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().split()[-1].replace("0.0.0.0", "127.0.0.1")
        assert request(url)[0] == 401
        assert request(url, headers={"Authorization": "Bearer wrong-token-0123456789"})[0] == 401
        assert request(url, headers={"Authorization": f"Bearer {TOKEN}", "Host": "my-host.lan"})[0] == 200
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("command", [["otel", "serve"], ["serve"]])
def test_a_bad_or_busy_port_is_one_line_and_no_url(tmp_path, cli, command):
    bad = cli(*command, "--port", "70000", "--log-dir", str(tmp_path))
    assert bad.returncode == 2 and b"70000" in bad.stderr and b"Traceback" not in bad.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = cli(*command, "--port", str(port), "--log-dir", str(tmp_path))
    assert taken.returncode == 1 and b"Traceback" not in taken.stderr
    assert taken.stderr.decode().strip().splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]
    assert taken.stdout == b""
