"""OTLP ingest: log records/s through `agentlog otel serve`, and received-to-alert latency.

Throughput: batches of Claude Code `api_request`/`tool_result` log records (protobuf), as
its exporter sends them (a keep-alive `requests.Session`, like the OpenTelemetry
exporters), POSTed to a receiver subprocess; the receiver records every
event before it answers, so records / elapsed is the recorded rate. Baseline in the same
run: decoding the same bodies with opentelemetry-proto alone (no mapping, no recording).
Also shown: the receiver's native decode + map alone (`TelemetryMapper.logs`, no recording),
what its share of the cost is.
Latency: `agentlog watch` runs on the receiver's log dir; each sample POSTs one error
loop (4 identical api_error records of a fresh session) and waits for its error_loop
alert line in agent-alerts.jsonl.

    .venv/bin/python benchmarks/otel_ingest.py [RECORDS]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from agentlog.otel.mapping import TelemetryMapper

RECORDS = 100_000  # the command line's count (see the end)
BATCH = 512  # the OTel SDK's default max export batch size
AGENTLOG = str(Path(sys.executable).with_name("agentlog"))


def kv(key: str, value) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def batch(start: int, size: int, sessions: int = 50, error: str | None = None, session: str | None = None) -> bytes:
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.extend([kv("service.name", "claude-code"), kv("service.version", "2.1.0")])
    records = rl.scope_logs.add().log_records
    for i in range(start, start + size):
        record = records.add()
        record.time_unix_nano = time.time_ns()
        attrs = [
            kv("session.id", session or f"bench-{i % sessions}"),
            kv("user.account_uuid", "u-1"),
            kv("terminal.type", "vscode"),
            kv("app.version", "2.1.0"),
        ]
        if error:
            record.body.string_value = "claude_code.api_error"
            attrs += [
                kv("event.name", "api_error"),
                kv("error", error),
                kv("status_code", "529"),
                kv("model", "claude-sonnet-4-5"),
            ]
        elif i % 2:
            record.body.string_value = "claude_code.api_request"
            attrs += [
                kv("event.name", "api_request"),
                kv("model", "claude-sonnet-4-5"),
                kv("cost_usd", 0.0012),
                kv("duration_ms", 900),
                kv("input_tokens", 1200),
                kv("output_tokens", 300),
                kv("cache_read_tokens", 9000),
                kv("cache_creation_tokens", 0),
            ]
        else:
            record.body.string_value = "claude_code.tool_result"
            attrs += [
                kv("event.name", "tool_result"),
                kv("tool_name", "Bash"),
                kv("success", "true"),
                kv("duration_ms", 40),
                kv("tool_parameters", '{"bash_command": "pytest -q"}'),
            ]
        record.attributes.extend(attrs)
    return request.SerializeToString()


# The transport the OpenTelemetry exporters use: a requests.Session (keep-alive, and
# urllib3's TCP_NODELAY). urllib's default socket would let Nagle hold back the tail of
# every body for a delayed ACK (~20 ms a request here), which no real exporter does.
SESSION = requests.Session()


def post(url: str, body: bytes) -> None:
    response = SESSION.post(url + "/v1/logs", data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=60)
    response.raise_for_status()


def start(cmd: list[str], cwd: str) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=cwd)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> None:
    work = tempfile.mkdtemp(prefix="otelbench-")
    log_dir = os.path.join(work, "logs")
    server = start([AGENTLOG, "otel", "serve", "--port", "0", "--log-dir", log_dir], work)
    url = server.stdout.readline().split()[-1]
    bodies = [batch(i, min(BATCH, RECORDS - i)) for i in range(0, RECORDS, BATCH)]

    t = time.perf_counter()
    for body in bodies:
        ExportLogsServiceRequest.FromString(body)
    decode_rate = RECORDS / (time.perf_counter() - t)

    mapper = TelemetryMapper()
    t = time.perf_counter()
    for body in bodies:
        for _chunk in mapper.logs(body):
            pass
    map_rate = RECORDS / (time.perf_counter() - t)

    t = time.perf_counter()
    for body in bodies:
        post(url, body)
    ingest_rate = RECORDS / (time.perf_counter() - t)
    print(f"OTLP ingest, {RECORDS} Claude Code log records in batches of {BATCH} (protobuf):")
    print(f"  agentlog otel serve (decode + map + record): {ingest_rate:10,.0f} records/s")
    print(f"  baseline: opentelemetry-proto decode only:   {decode_rate:10,.0f} records/s")
    print(f"  native decode + map only (no recording):     {map_rate:10,.0f} records/s")
    print(
        f"  ratio to the baseline: serve {ingest_rate / decode_rate:.3f}x, decode + map {map_rate / decode_rate:.3f}x"
    )
    print(f"  load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")

    watch = start([AGENTLOG, "watch", "--log-dir", log_dir], work)
    alerts = Path(log_dir, "agent-alerts.jsonl")
    time.sleep(3)  # the watchdog positions itself at the end of the stream
    latencies = []
    for n in range(30):
        session = f"loop-{n}"
        before = alerts.stat().st_size if alerts.exists() else 0
        body = batch(0, 4, error="Overloaded: upstream 529 from api.anthropic.com", session=session)
        t = time.perf_counter()
        post(url, body)
        deadline = t + 10
        while time.perf_counter() < deadline:
            if alerts.exists() and alerts.stat().st_size > before:
                with alerts.open("rb") as handle:
                    handle.seek(before)
                    if session.encode() in handle.read():
                        latencies.append((time.perf_counter() - t) * 1000)
                        break
            time.sleep(0.001)
    watch.terminate()
    server.terminate()
    print(
        f"received-to-alert (POST sent -> error_loop line in agent-alerts.jsonl, `agentlog watch` running), "
        f"{len(latencies)}/30 alerts: p50 {pct(latencies, 50):.1f} ms  p99 {pct(latencies, 99):.1f} ms"
        if latencies
        else "received-to-alert: no alert arrived (is `agentlog watch` working?)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "records", nargs="?", type=int, default=RECORDS, help="log records to send (default %(default)s)"
    )
    RECORDS = parser.parse_args().records
    main()
