"""Where `otel serve` records the events it maps: in its own process, or beside it.

Decoding and mapping a request is about half of its cost and recording the other half,
and the exporter waits for the answer, so on a machine with a second core the recorder
runs in a worker process: the receiver maps a request in chunks and hands each over as
soon as it is mapped, so the two halves overlap. A request is still answered only once
the worker has written every event of it (acknowledged end to end): a worker that fails
or dies fails the request (503), is replaced, and the exporter sends it again; what of it
was written before the failure is then written twice (at least once, never lost).

Both kinds take a request's events as chunks and return (recorded, rejected).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from typing import Any, Iterable

import msgspec

from ..events import EventError
from ..recorder import Recorder

CHUNK = 64  # events per hand-over: small enough to overlap, big enough to batch the writes
REPLY_TIMEOUT_S = 120.0  # a worker silent this long after a request's end is replaced
_END = b""  # a request's last frame

_encode = msgspec.msgpack.Encoder().encode
_decode_events = msgspec.msgpack.Decoder(list[dict[str, Any]]).decode


class Reply(msgspec.Struct):
    recorded: int = 0
    rejected: int = 0
    error: str | None = None


_decode_reply = msgspec.msgpack.Decoder(Reply).decode


class RecordingFailed(RuntimeError):
    """The events of a request could not all be written; the exporter should retry."""


class LocalRecording:
    """Record in this process (one core, or a caller that brings its own recorder)."""

    def __init__(self, recorder: Recorder):
        self.recorder = recorder

    def record(self, chunks: Iterable[list[dict[str, Any]]]) -> tuple[int, int]:
        reply = Reply()

        def record_all() -> None:
            for chunk in chunks:
                _record(self.recorder, chunk, reply)
            self.recorder.flush()

        error = _attempt(record_all)
        if error is not None:
            raise RecordingFailed(error)
        return reply.recorded, reply.rejected

    def close(self) -> None:
        self.recorder.close()


class WorkerRecording:
    """Record in a worker process fed over a pipe, one request at a time."""

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

    def record(self, chunks: Iterable[list[dict[str, Any]]]) -> tuple[int, int]:
        try:
            try:
                for chunk in chunks:
                    self.conn.send_bytes(_encode(chunk))
            finally:  # even when mapping failed: the worker must see where the request ends
                self.conn.send_bytes(_END)
            if not self.conn.poll(REPLY_TIMEOUT_S):
                raise TimeoutError(f"no answer from the recording worker in {REPLY_TIMEOUT_S:.0f} s")
            reply = _decode_reply(self.conn.recv_bytes())
        except (OSError, EOFError) as exc:  # TimeoutError is an OSError
            self._replace()
            raise RecordingFailed(f"recording worker lost ({exc}); replaced") from None
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
    """The worker: record every chunk of a request, answer at its end. After an error the
    rest of that request is skipped and the error is the answer."""
    recorder = Recorder(conn.recv())  # the settings come first
    reply = Reply()
    try:
        while True:
            try:
                frame = conn.recv_bytes()
            except (EOFError, OSError):
                return
            if frame == _END:
                if reply.error is None:
                    reply.error = _attempt(recorder.flush)
                conn.send_bytes(_encode(reply))
                reply = Reply()
            elif reply.error is None:
                reply.error = _attempt(lambda: _record(recorder, _decode_events(frame), reply))
    finally:
        recorder.close()


def _record(recorder: Recorder, events: list[dict[str, Any]], reply: Reply) -> None:
    reply.recorded += len(recorder.record_many(events, on_invalid=_counter(reply)))


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
