"""`agentlog otel serve`: an OTLP/HTTP receiver on 127.0.0.1 that records what it gets.

POST /v1/logs, /v1/traces, /v1/metrics with `application/x-protobuf` or
`application/json` bodies (gzip accepted), decoded with the official
`opentelemetry-proto` messages, mapped by mapping.py, recorded by the recorder into the
same store, so `agentlog watch` (and everything else) sees the sessions live. The answer
is the OTLP success response in the request's encoding.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import islice
from typing import Any, Iterator

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from ..recorder import Recorder
from .mapping import TelemetryMapper
from .recording import CHUNK, LocalRecording, RecordingFailed, WorkerRecording

SIGNALS = {
    "/v1/logs": ("logs", logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse),
    "/v1/traces": ("traces", trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse),
    "/v1/metrics": ("metrics", metrics_service_pb2.ExportMetricsServiceRequest,
                    metrics_service_pb2.ExportMetricsServiceResponse),
}
MAX_BODY = 64 * 1024 * 1024
_HEX_IDS = frozenset({"traceId", "spanId", "parentSpanId"})


class BadRequest(ValueError):
    pass


class Receiver:
    """Decode -> map -> record; thread-safe (one lock: mapping keeps per-session memory).

    Recording runs in a worker process when there is a core for it (`recording`), unless
    a recorder is given.
    """

    def __init__(self, settings: Any, recorder: Recorder | None = None, *, worker: bool | None = None):
        from ..capture.pricing import Pricing

        if worker is None:
            worker = recorder is None and (os.cpu_count() or 1) > 1
        self.recording = WorkerRecording(settings) if worker else LocalRecording(recorder or Recorder(settings))
        self.mapper = TelemetryMapper(Pricing.load(settings.section("pricing")))
        self.lock = threading.Lock()
        self.stats = {"requests": 0, "events": 0, "rejected_events": 0}

    def ingest(self, path: str, body: bytes, content_type: str) -> tuple[bytes, str]:
        """Record one export request; returns (response body, its content type)."""
        if path not in SIGNALS:
            raise LookupError(path)
        signal, request_type, response_type = SIGNALS[path]
        is_json = "json" in content_type
        request = decode(request_type, body, is_json)
        with self.lock:
            recorded, rejected = self.recording.record(_chunks(getattr(self.mapper, signal)(request)))
            self.stats["requests"] += 1
            self.stats["events"] += recorded
            self.stats["rejected_events"] += rejected
        if is_json:
            return b"{}", "application/json"
        return response_type().SerializeToString(), "application/x-protobuf"

    def close(self) -> None:
        self.recording.close()


def _chunks(events: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    while chunk := list(islice(events, CHUNK)):
        yield chunk


def decode(request_type: type, body: bytes, is_json: bool) -> Any:
    request = request_type()
    try:
        if is_json:
            json_format.ParseDict(_ids_to_base64(json.loads(body)), request, ignore_unknown_fields=True)
        else:
            request.ParseFromString(body)
    except Exception as exc:  # protobuf raises DecodeError, ParseError, ValueError...
        raise BadRequest(f"cannot decode {request_type.__name__}: {exc}") from None
    return request


def _ids_to_base64(node: Any) -> Any:
    """OTLP/JSON writes trace and span ids as hex; protobuf's JSON mapping expects base64."""
    if isinstance(node, dict):
        return {k: (base64.b64encode(bytes.fromhex(v)).decode() if k in _HEX_IDS and isinstance(v, str) and v
                    else _ids_to_base64(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_ids_to_base64(v) for v in node]
    return node


class _Handler(BaseHTTPRequestHandler):
    server: "OTLPServer"
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms wait between them

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return self._reply(413, b"request too large")
        body = self.rfile.read(length)
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError):
                return self._reply(400, b"bad gzip body")
        content_type = self.headers.get("Content-Type", "application/x-protobuf").lower()
        try:
            answer, answer_type = self.server.receiver.ingest(self.path.split("?")[0], body, content_type)
        except LookupError:
            return self._reply(404, b"unknown path: use /v1/logs, /v1/traces or /v1/metrics")
        except BadRequest as exc:
            return self._reply(400, str(exc).encode())
        except RecordingFailed as exc:  # OTLP: 503 is retryable, so the exporter sends it again
            return self._reply(503, f"not recorded: {exc}".encode())
        self._reply(200, answer, answer_type)

    def _reply(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per export request would drown the useful output


class OTLPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, receiver: Receiver, host: str = "127.0.0.1", port: int = 4318):
        super().__init__((host, port), _Handler)
        self.receiver = receiver

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def serve(settings: Any, host: str = "127.0.0.1", port: int = 4318, announce=None) -> None:
    """Run until interrupted; `announce(url)` is called once listening."""
    receiver = Receiver(settings)
    server = OTLPServer(receiver, host, port)
    if announce is not None:
        announce(server.url)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        receiver.close()
        sys.stderr.flush()
