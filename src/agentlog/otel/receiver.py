"""`agentlog otel serve`: an OTLP/HTTP receiver on 127.0.0.1 that records what it gets.

POST /v1/logs, /v1/traces, /v1/metrics with `application/x-protobuf` or
`application/json` bodies (gzip accepted), decoded by decode.py, mapped by mapping.py (logs
natively), recorded by the recorder (recording.py: in a worker process, with a second core)
into the same store, so `agentlog watch` (and everything else) sees the sessions live. The answer
is the OTLP response in the request's encoding, with `partial_success` when some mapped
events failed validation.

It is served like the dashboard (web/server.py, web/security.py): loopback only unless a
token is given, Host and Origin checked and only OTLP's content types taken, so a web
page open in the user's browser cannot forge sessions (and the alerts they raise). Every
body is bounded: at most MAX_BODY bytes, also once decompressed, read within
READ_TIMEOUT_S. Failures are OTLP's: 400 (undecodable, empty), 408, 413, 415, and 503
(retryable) when the store could not record.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ..recorder import Recorder
from ..web.security import Guard
from .decode import BadRequest
from .recording import LocalRecording, RecordingFailed, WorkerRecording, mapper

# path: (signal, response, the response's count of rejected items)
SIGNALS = {
    "/v1/logs": ("logs", logs_service_pb2.ExportLogsServiceResponse, "rejected_log_records"),
    "/v1/traces": ("traces", trace_service_pb2.ExportTraceServiceResponse, "rejected_spans"),
    "/v1/metrics": ("metrics", metrics_service_pb2.ExportMetricsServiceResponse, "rejected_data_points"),
}
PROTOBUF, JSON = "application/x-protobuf", "application/json"
TOKEN_ENV = "AGENTLOG_OTEL_TOKEN"
MAX_BODY = 64 * 1024 * 1024
READ_TIMEOUT_S = 60.0  # a request's body arrives within this, or the connection is closed (408)
BODIES_IN_FLIGHT = 8  # request bodies held in memory at once (each up to MAX_BODY, again gunzipped)
_CLOSE = {"Connection": "close"}  # the rest of the body is not read: the connection cannot carry on


class Receiver:
    """Decode -> map -> record, a request at a time (one lock: the recording takes one at a time).

    Decoding, mapping and recording run in a worker process when there is a core for it
    (recording.py), unless a recorder is given.
    """

    def __init__(self, settings: Any, recorder: Recorder | None = None, *, worker: bool | None = None):
        if worker is None:
            worker = recorder is None and (os.cpu_count() or 1) > 1
        self.recording = (
            WorkerRecording(settings) if worker else LocalRecording(recorder or Recorder(settings), mapper(settings))
        )
        self.lock = threading.Lock()
        self.stats = {"requests": 0, "events": 0, "rejected_events": 0}

    def ingest(self, path: str, body: bytes, content_type: str) -> tuple[bytes, str]:
        """Record one export request; returns (response body, its content type)."""
        if path not in SIGNALS:
            raise LookupError(path)
        signal, response_type, rejected_field = SIGNALS[path]
        is_json = media_type(content_type) == JSON
        with self.lock:
            recorded, rejected = self.recording.ingest(signal, body, is_json)
            self.stats["requests"] += 1
            self.stats["events"] += recorded
            self.stats["rejected_events"] += rejected
        response = response_type()
        if rejected:
            setattr(response.partial_success, rejected_field, rejected)
            response.partial_success.error_message = f"{rejected} mapped events failed validation; not recorded"
        if is_json:
            return json_format.MessageToJson(response, indent=None).encode(), JSON
        return response.SerializeToString(), PROTOBUF

    def close(self) -> None:
        self.recording.close()


def media_type(content_type: str) -> str:
    """`application/json; charset=utf-8` -> `application/json`."""
    return content_type.split(";", 1)[0].strip().lower()


def gunzip(body: bytes, limit: int = MAX_BODY) -> bytes:
    """A gzip body inflated to at most `limit` bytes (a small bomb must not take the memory)."""
    out = bytearray()
    while body:  # one member after the other, as gzip.decompress reads them
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
        try:
            out += inflater.decompress(body, limit + 1 - len(out))
        except zlib.error as exc:
            raise HTTPException(400, f"bad gzip body: {exc}") from None
        if len(out) > limit or inflater.unconsumed_tail:
            raise HTTPException(413, f"request larger than {limit} bytes once decompressed")
        if not inflater.eof:
            raise HTTPException(400, "bad gzip body: truncated")
        body = inflater.unused_data
    return bytes(out)


async def read_body(request: Request, timeout: float = READ_TIMEOUT_S, limit: int = MAX_BODY) -> bytes:
    """The whole body, refused (413) as soon as it is known to pass `limit`, whether announced
    by Content-Length or sent in chunks; 408 when it does not arrive within `timeout`."""
    try:
        declared = int(request.headers.get("content-length") or 0)
    except ValueError:  # the HTTP parser refuses these already; a second line of defence
        raise HTTPException(400, "bad Content-Length") from None
    if declared > limit:
        raise HTTPException(413, f"request larger than {limit} bytes", headers=_CLOSE)
    chunks, size = [], 0
    try:
        with anyio.fail_after(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"request larger than {limit} bytes", headers=_CLOSE)
                chunks.append(chunk)
    except TimeoutError:
        raise HTTPException(408, f"the request body did not arrive within {timeout:g} s", headers=_CLOSE) from None
    return b"".join(chunks)


def create_app(
    receiver: Receiver,
    *,
    token: str | None = None,
    read_timeout: float = READ_TIMEOUT_S,
    bodies_in_flight: int = BODIES_IN_FLIGHT,
) -> Guard:
    """The receiver as an ASGI app; closing the app (its lifespan) closes the receiver."""
    # Recording is serial (the receiver's lock): one thread records the requests in turn, and
    # the event loop stays free to read the next ones, time them out and refuse. At most
    # `bodies_in_flight` bodies are held at once; the other clients wait (TCP holds their bytes).
    recorder_thread = ThreadPoolExecutor(1, thread_name_prefix="otlp-record")
    in_flight = asyncio.Semaphore(bodies_in_flight)

    async def export(request: Request) -> Response:
        media = media_type(request.headers.get("content-type", ""))
        if media not in (PROTOBUF, JSON):
            raise HTTPException(415, f"content type {media or '(none)'} is not OTLP: send {PROTOBUF} or {JSON}")
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip"):
            raise HTTPException(415, f"content encoding {encoding} is not supported: send gzip or none")
        async with in_flight:
            body = await read_body(request, read_timeout)
            if encoding == "gzip":
                body = gunzip(body)
            if not body:
                raise HTTPException(400, "empty body: an export request holds at least one resource")
            try:
                answer, answer_type = await asyncio.get_running_loop().run_in_executor(
                    recorder_thread, receiver.ingest, request.url.path, body, media
                )
            except BadRequest as exc:
                raise HTTPException(400, str(exc)) from None
            except RecordingFailed as exc:  # OTLP: 503 is retryable, so the exporter sends it again
                raise HTTPException(503, f"not recorded: {exc}", headers={"Retry-After": "1"}) from None
        return Response(answer, media_type=answer_type)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        try:
            yield
        finally:
            recorder_thread.shutdown()
            receiver.close()

    app = Starlette(
        routes=[Route(path, export, methods=["POST"]) for path in SIGNALS],
        exception_handlers={HTTPException: _error},
        lifespan=lifespan,
    )
    return Guard(app, token, methods=("POST",), browser=False)


async def _error(request: Request, exc: HTTPException) -> Response:
    detail = "unknown path: use /v1/logs, /v1/traces or /v1/metrics" if exc.status_code == 404 else exc.detail
    return PlainTextResponse(detail, exc.status_code, headers=exc.headers)


def serve(settings: Any, sock: socket.socket, token: str | None = None) -> None:
    """Receive on a listening socket until interrupted (the caller resolved the token)."""
    from ..web.server import run

    run(create_app(Receiver(settings), token=token), sock)
