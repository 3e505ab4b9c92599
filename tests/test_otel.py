"""OTLP in and out: `agentlog otel serve` as a subprocess, real OTLP requests and exporters."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

AGENTLOG = str(Path(sys.executable).with_name("agentlog"))


def start_server(tmp_path: Path, dest: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [AGENTLOG, "otel", "serve", "--port", "0", "--log-dir", str(dest)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    line = proc.stdout.readline()
    assert "listening on" in line, proc.stderr.read()
    return proc, line.split()[-1]


@pytest.fixture
def server(tmp_path):
    dest = tmp_path / "received"
    proc, url = start_server(tmp_path, dest)
    yield url, dest
    proc.terminate()
    proc.wait(10)


def stream(log_dir: Path) -> list[dict]:
    path = log_dir / "agent-work-stream.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_for(log_dir: Path, count: int, timeout: float = 20) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = stream(log_dir)
        if len(events) >= count:
            return events
        time.sleep(0.1)
    return stream(log_dir)


def make_source(log_dir: Path) -> None:
    from agentlog.recorder import Recorder

    with Recorder(log_dir=log_dir) as recorder:
        for n, (attempt, executor) in enumerate([("cc-1", "CLAUDE_CODE"), ("cx-2", "CODEX")]):

            def rec(kind, **data):
                recorder.record(
                    {
                        "attempt_id": attempt,
                        "executor": executor,
                        "event_type": kind,
                        "model": "claude-sonnet-4-5",
                        "data": data,
                    }
                )

            rec("session_start", prompt="fix the bug", prompt_type="initial")
            for i in range(5):
                rec("tool_call", tool_name="Bash", tool_params={"command": f"pytest -k t{i}"}, call_id=f"c{i}")
                rec(
                    "tool_result",
                    tool_name="Bash",
                    call_id=f"c{i}",
                    result="error" if i % 2 else "success",
                    result_data="1 failed" if i % 2 else "ok",
                )
                if i % 2:
                    rec("error", error_message="AssertionError: expected 2, got 3", call_id=f"c{i}", tool_name="Bash")
                rec(
                    "usage",
                    input_tokens=1000 + i,
                    output_tokens=200 + n,
                    cache_read_tokens=5000,
                    cache_creation_tokens=10,
                    cost_usd=0.01,
                )
            rec("agent_output", output="done")
            rec("session_end", completion_status="failed")


def test_export_then_receive_loses_nothing(tmp_path, server):
    url, dest = server
    source = tmp_path / "source"
    make_source(source)
    sent = stream(source)
    result = subprocess.run(
        [AGENTLOG, "otel", "export", "--endpoint", url, "--log-dir", str(source)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "exported 2 sessions" in result.stdout and "semconv 1.44.0" in result.stdout
    received = wait_for(dest, len(sent))
    assert Counter((e["attempt_id"], e["event_type"]) for e in received) == Counter(
        (e["attempt_id"], e["event_type"]) for e in sent
    )
    for field in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens"):
        assert sum(e["data"].get(field, 0) for e in received if e["event_type"] == "usage") == sum(
            e["data"].get(field, 0) for e in sent if e["event_type"] == "usage"
        )
    assert {e["event_id"] for e in received} == {e["event_id"] for e in sent}


def _kv(**attrs) -> list[KeyValue]:
    out = []
    for key, value in attrs.items():
        key = key.replace("__", ".")
        if isinstance(value, bool):
            out.append(KeyValue(key=key, value=AnyValue(bool_value=value)))
        elif isinstance(value, int):
            out.append(KeyValue(key=key, value=AnyValue(int_value=value)))
        elif isinstance(value, float):
            out.append(KeyValue(key=key, value=AnyValue(double_value=value)))
        else:
            out.append(KeyValue(key=key, value=AnyValue(string_value=str(value))))
    return out


def claude_code_logs(session: str) -> ExportLogsServiceRequest:
    """What Claude Code sends with OTEL_LOGS_EXPORTER=otlp (events per its monitoring docs)."""
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.extend(_kv(service__name="claude-code", service__version="2.1.0"))
    records = rl.scope_logs.add().log_records
    common = {"session__id": session, "user__account_uuid": "u-1", "terminal__type": "vscode"}
    events = [
        ("claude_code.user_prompt", {"prompt_length": 31, "prompt": "make the failing test pass"}),
        (
            "claude_code.api_request",
            {
                "model": "claude-sonnet-4-5",
                "cost_usd": 0.25,
                "duration_ms": 2100,
                "input_tokens": 1200,
                "output_tokens": 300,
                "cache_read_tokens": 9000,
                "cache_creation_tokens": 50,
            },
        ),
        (
            "claude_code.tool_result",
            {
                "tool_name": "Bash",
                "success": "false",
                "duration_ms": 900,
                "error": "Exit code 1: ModuleNotFoundError: No module named 'jwt'",
                "tool_parameters": '{"bash_command": "pytest"}',
            },
        ),
        ("claude_code.tool_result", {"tool_name": "Read", "success": "true", "duration_ms": 3}),
        (
            "claude_code.api_error",
            {"model": "claude-sonnet-4-5", "error": "Overloaded", "status_code": "529", "attempt": 1},
        ),
        ("claude_code.tool_decision", {"tool_name": "Bash", "decision": "accept", "source": "config"}),
    ]
    for i, (name, attrs) in enumerate(events):
        record = records.add()
        record.time_unix_nano = 1_767_000_000_000_000_000 + i * 1_000_000
        record.body.string_value = name
        record.attributes.extend(_kv(**common, event__name=name.split(".", 1)[1], **attrs))
    return request


def post(url: str, path: str, body: bytes, content_type: str) -> int:
    request = urllib.request.Request(url + path, data=body, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_claude_code_telemetry_becomes_events(encoding, server):
    url, dest = server
    request = claude_code_logs("sess-otel")
    if encoding == "json":
        status = post(url, "/v1/logs", json_format.MessageToJson(request).encode(), "application/json")
    else:
        status = post(url, "/v1/logs", request.SerializeToString(), "application/x-protobuf")
    assert status == 200
    events = wait_for(dest, 7)
    kinds = [e["event_type"] for e in events]
    assert kinds == ["session_start", "usage", "tool_call", "tool_result", "error", "tool_call", "tool_result", "error"]
    assert events[0]["data"]["prompt"] == "make the failing test pass"
    usage = events[1]
    assert usage["data"]["cost_usd"] == 0.25 and usage["data"]["cache_read_tokens"] == 9000
    assert all(e["attempt_id"] == "sess-otel" and e["executor"] == "CLAUDE_CODE" for e in events)
    assert "jwt" in events[4]["data"]["error_message"] and events[7]["data"]["error_message"] == "Overloaded"


def test_codex_telemetry_and_metrics(server):
    url, dest = server
    request = ExportLogsServiceRequest()
    records = request.resource_logs.add().scope_logs.add().log_records
    for name, attrs in [
        ("codex.conversation_starts", {"model": "gpt-5-codex"}),
        ("codex.user_prompt", {"prompt_length": 5, "prompt": "hello"}),
        (
            "codex.tool_result",
            {
                "tool_name": "shell",
                "call_id": "c1",
                "success": "true",
                "arguments": '{"command": ["ls"]}',
                "output": "a b",
            },
        ),
        (
            "codex.sse_event",
            {
                "event__kind": "response.completed",
                "model": "gpt-5-codex",
                "input_token_count": 1000,
                "cached_token_count": 400,
                "output_token_count": 300,
                "reasoning_token_count": 100,
            },
        ),
    ]:
        record = records.add()
        record.event_name = name
        record.attributes.extend(_kv(conversation__id="cx-otel", **attrs))
    assert post(url, "/v1/logs", request.SerializeToString(), "application/x-protobuf") == 200
    metrics = ExportMetricsServiceRequest()
    metric = metrics.resource_metrics.add().scope_metrics.add().metrics.add()
    metric.name = "claude_code.token.usage"
    metric.sum.aggregation_temporality = 2  # cumulative: the receiver records differences
    for value in (100, 250):
        point = metric.sum.data_points.add()
        point.as_double = value
        point.attributes.extend(_kv(session__id="cc-metrics", type="input", model="claude-sonnet-4-5"))
    assert post(url, "/v1/metrics", metrics.SerializeToString(), "application/x-protobuf") == 200
    events = wait_for(dest, 8)
    codex = [e for e in events if e["attempt_id"] == "cx-otel"]
    assert [e["event_type"] for e in codex] == ["session_start", "followup_sent", "tool_call", "tool_result", "usage"]
    usage = codex[-1]["data"]
    assert (usage["input_tokens"], usage["cache_read_tokens"], usage["output_tokens"], usage["reasoning_tokens"]) == (
        600,
        400,
        200,
        100,
    )
    metric_usage = [
        e["data"]["input_tokens"] for e in events if e["attempt_id"] == "cc-metrics" and e["event_type"] == "usage"
    ]
    assert metric_usage == [100, 150]


def test_bad_requests_are_refused(server):
    url, _ = server
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as bad:
        post(url, "/v1/logs", b"\xff\x00garbage", "application/x-protobuf")
    assert bad.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as missing:
        post(url, "/v1/nothing", b"", "application/x-protobuf")
    assert missing.value.code == 404


def recording_worker(server_pid: int) -> int:
    """The pid of `otel serve`'s recording worker (its one spawned child, by whichever thread)."""
    children = [
        c for task in Path(f"/proc/{server_pid}/task").iterdir() for c in (task / "children").read_text().split()
    ]
    workers = [int(c) for c in children if b"agentlog.otel.recording" in Path(f"/proc/{c}/cmdline").read_bytes()]
    assert len(workers) == 1, children
    return workers[0]


def http_status(url: str, body: bytes) -> int:
    import urllib.error

    try:
        return post(url, "/v1/logs", body, "application/x-protobuf")
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_lost_recording_worker_fails_its_request_which_the_exporter_retries(tmp_path):
    """Recording runs in a worker process; a request is answered 200 only once its events
    are written. A worker killed between requests fails the next one with a retryable
    503 (nothing of it written, nothing acknowledged lost) and is replaced."""
    import os
    import signal

    dest = tmp_path / "received"
    proc, url = start_server(tmp_path, dest)
    try:
        assert http_status(url, claude_code_logs("before").SerializeToString()) == 200
        per_request = len(stream(dest))
        worker = recording_worker(proc.pid)
        os.kill(worker, signal.SIGKILL)
        time.sleep(0.5)  # gone (a zombie until the server reaps it)
        assert http_status(url, claude_code_logs("lost").SerializeToString()) == 503
        assert http_status(url, claude_code_logs("lost").SerializeToString()) == 200  # the retry
        assert recording_worker(proc.pid) != worker
        events = stream(dest)
        assert Counter(e["attempt_id"] for e in events) == {"before": per_request, "lost": per_request}
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_store_that_cannot_be_written_fails_the_request_with_503(tmp_path):
    dest = tmp_path / "received"
    dest.mkdir()
    (dest / "agent-work-stream.jsonl").mkdir()  # not a file: every append fails
    proc, url = start_server(tmp_path, dest)
    try:
        assert http_status(url, claude_code_logs("s1").SerializeToString()) == 503
        (dest / "agent-work-stream.jsonl").rmdir()
        assert http_status(url, claude_code_logs("s1").SerializeToString()) == 200  # same worker, recovered
        assert {e["attempt_id"] for e in stream(dest)} == {"s1"}
    finally:
        proc.terminate()
        proc.wait(10)


def test_on_one_core_the_receiver_records_in_process_the_same(tmp_path, server):
    from agentlog import config
    from agentlog.otel.receiver import Receiver

    url, dest = server
    body = claude_code_logs("same").SerializeToString()
    assert http_status(url, body) == 200
    receiver = Receiver(config.load({"log_dir": str(tmp_path / "local")}), worker=False)
    receiver.ingest("/v1/logs", body, "application/x-protobuf")
    receiver.close()

    def shape(events):
        return [(e["event_type"], e["sequence_num"], e["data"]) for e in events]

    assert shape(stream(tmp_path / "local")) == shape(wait_for(dest, 1)) != []
    assert receiver.stats == {"requests": 1, "events": len(stream(dest)), "rejected_events": 0}


# Prints whether the masking pattern and the error taxonomy are compiled once a recording is set up.
RECORDING_COMPILED = """
import sys
from agentlog import config
from agentlog.intel import mask, taxonomy
from agentlog.otel.recording import LocalRecording, mapper
from agentlog.recorder import Recorder
settings = config.load({"log_dir": sys.argv[1]})
recording = LocalRecording(Recorder(settings), mapper(settings))
print(mask._PATTERN is not None, taxonomy._default is not None)
recording.close()
"""


def test_the_receivers_recording_compiles_the_error_taxonomy_at_start(tmp_path):
    """Claude Code's api_error records become error events the recorder classifies: the
    first one compiled the taxonomy (~30 ms) while its request waited, and its alert was late."""
    done = subprocess.run([sys.executable, "-c", RECORDING_COMPILED, str(tmp_path)], capture_output=True, text=True)
    assert done.stdout.split() == ["True", "True"], done.stderr
