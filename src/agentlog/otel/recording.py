"""Where `otel serve` maps and records the requests it gets: in its own process, or beside it.

Decoding, mapping (natively, for logs) and recording are the whole cost of a request, and the
exporter waits for the answer, so on a machine with a second core they run in a worker
process: the receiver hands over each request's body as it came (no events cross between
the processes) and is free meanwhile to read, time out and refuse the next ones. A request
is still answered only once every event of it is written (acknowledged end to end): a worker
that fails or dies fails the request (503), is replaced, and the exporter sends it again;
what of it was written before the failure is then written twice (at least once, never
lost). The mapping's memory of the sessions (those started, those whose logs carry usage)
is the worker's: a replaced worker starts without it, so a session it had seen may get a
second session_start.

Both kinds take (signal, body, is_json) and return (recorded, rejected); a body that does
not decode raises BadRequest, one whose events could not be written RecordingFailed.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from typing import Any

import msgspec

from ..events import EventError
from ..recorder import Recorder
from .decode import BadRequest
from .mapping import TelemetryMapper

CHUNK = 1024  # events mapped, then recorded at once (one write per file per chunk)
REPLY_TIMEOUT_S = 120.0  # a worker silent this long after a request is replaced


class Request(msgspec.Struct, array_like=True):
    signal: str
    is_json: bool
    body: bytes


class Reply(msgspec.Struct):
    recorded: int = 0
    rejected: int = 0
    error: str | None = None  # not (all) written: retryable
    bad_request: str | None = None  # not decodable: not recorded at all


_encode = msgspec.msgpack.Encoder().encode
_decode_request = msgspec.msgpack.Decoder(Request).decode
_decode_reply = msgspec.msgpack.Decoder(Reply).decode


class RecordingFailed(RuntimeError):
    """The events of a request could not all be written; the exporter should retry."""


def mapper(settings: Any) -> TelemetryMapper:
    from ..capture.pricing import Pricing

    return TelemetryMapper(Pricing.load(settings.section("pricing")))


class LocalRecording:
    """Map and record in this process (one core, or a caller that brings its own recorder)."""

    def __init__(self, recorder: Recorder, telemetry: TelemetryMapper):
        self.recorder = recorder
        recorder.prepare()
        self.mapper = telemetry

    def ingest(self, signal: str, body: bytes, is_json: bool) -> tuple[int, int]:
        reply = _ingest(self.recorder, self.mapper, Request(signal, is_json, body))
        if reply.bad_request is not None:
            raise BadRequest(reply.bad_request)
        if reply.error is not None:
            raise RecordingFailed(reply.error)
        return reply.recorded, reply.rejected

    def close(self) -> None:
        self.recorder.close()


class WorkerRecording:
    """Map and record in a worker process fed over a socket pair, one request at a time."""

    def __init__(self, settings: Any):
        self.settings = settings
        self._start()

    def _start(self) -> None:
        # A fresh interpreter on `python -m` (not fork: the caller may hold threads; not
        # multiprocessing's spawn: it re-imports the caller's main module), over a socket pair.
        ours, theirs = socket.socketpair()
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__, str(theirs.fileno())], pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL
        )
        theirs.close()
        self.conn = Connection(ours.detach())
        self.conn.send(self.settings)

    def ingest(self, signal: str, body: bytes, is_json: bool) -> tuple[int, int]:
        try:
            self.conn.send_bytes(_encode(Request(signal, is_json, body)))
            if not self.conn.poll(REPLY_TIMEOUT_S):
                raise TimeoutError(f"no answer from the recording worker in {REPLY_TIMEOUT_S:.0f} s")
            reply = _decode_reply(self.conn.recv_bytes())
        except (OSError, EOFError) as exc:  # TimeoutError is an OSError
            self._replace()
            raise RecordingFailed(f"recording worker lost ({exc}); replaced") from None
        if reply.bad_request is not None:
            raise BadRequest(reply.bad_request)
        if reply.error is not None:
            raise RecordingFailed(reply.error)
        return reply.recorded, reply.rejected

    def _replace(self) -> None:
        self.process.kill()
        self.process.wait(5)
        self.conn.close()
        self._start()

    def close(self) -> None:
        self.conn.close()  # the worker sees the end of its input, closes its recorder and exits
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _work(conn: Connection) -> None:
    """The worker: map and record each request, answer when it is written."""
    settings = conn.recv()  # the settings come first
    recorder, telemetry = Recorder(settings), mapper(settings)
    recorder.prepare()
    try:
        while True:
            try:
                frame = conn.recv_bytes()
            except (EOFError, OSError):
                return
            conn.send_bytes(_encode(_ingest(recorder, telemetry, _decode_request(frame))))
    finally:
        recorder.close()


def _ingest(recorder: Recorder, telemetry: TelemetryMapper, request: Request) -> Reply:
    """Decode, map and record a request: its chunks are recorded as they are mapped. After
    an error the rest of the request is skipped and the error is the answer."""
    reply = Reply()
    try:
        chunks = telemetry.map(request.signal, request.body, request.is_json, CHUNK)
    except BadRequest as exc:
        reply.bad_request = str(exc)
        return reply

    def record_all() -> None:
        for chunk in chunks:
            reply.recorded += len(recorder.record_many(chunk, on_invalid=_counter(reply)))
        recorder.flush()

    reply.error = _attempt(record_all)
    return reply


def _attempt(step) -> str | None:
    try:
        step()
    except Exception as exc:  # noqa: BLE001 - a store error (disk full, permissions): this request fails
        return f"{type(exc).__name__}: {exc}"
    return None


def _counter(reply: Reply):
    def rejected(index: int, error: EventError) -> None:
        reply.rejected += 1

    return rejected


if __name__ == "__main__":
    _work(Connection(int(sys.argv[1])))
