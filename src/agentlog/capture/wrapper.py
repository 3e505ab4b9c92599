"""`agentlog run -- COMMAND`: record any agent process from the outside.

session_start before the process starts; every stdout / stderr line as agent_output,
except lines that are the agent's own JSON events (`codex exec --json`,
`claude -p --output-format stream-json`), which go through the importers' mappers and
become tool calls, results, errors and usage; session_end after it exits (exit code ->
completion status, duration). Lines are passed through to our own stdout / stderr.

The child runs in its own process group and the signals a user or supervisor sends us
(INT, TERM, HUP, QUIT, USR1, USR2) are forwarded to it, so Ctrl-C reaches it once; we
exit with its exit code (128 + N when a signal N ended it).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import IO, Any, Sequence

from ..events import now_iso
from ..recorder import Recorder
from .importers import Context, Importer, Mapper
from .importers.base import decode_record
from .pricing import Pricing

FORWARDED = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
    if hasattr(signal, name)
)
_INTERRUPTS = {signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", signal.SIGTERM)}


@dataclass
class RunResult:
    exit_code: int
    completion_status: str
    duration_ms: int
    error: str | None = None  # why the command could not start (then exit_code is 127 or 126)


class _Recording:
    """Turns the child's output lines into events; one lock, since two threads feed it."""

    def __init__(self, recorder: Recorder, envelope: dict[str, Any], pricing: Pricing, importers: Sequence[Importer]):
        self.recorder = recorder
        self.importers = importers
        self.envelope = envelope
        self.ctx = Context(pricing)
        self.mapper: Mapper | None = None
        self.lock = threading.Lock()

    def record(self, event_type: str, data: dict[str, Any]) -> None:
        self.recorder.record(
            {
                **self.envelope,
                "event_type": event_type,
                "timestamp": now_iso(),
                "data": {k: v for k, v in data.items() if v is not None},
            }
        )

    def line(self, raw: bytes, stream_type: str) -> None:
        with self.lock:
            for event in self._events(raw, stream_type):
                self.recorder.record(event)

    def _events(self, raw: bytes, stream_type: str) -> list[dict[str, Any]]:
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        if stream_type == "stdout" and text.startswith("{"):
            record, _ = decode_record(raw)
            mapper = self._mapper(record) if record else None
            if mapper is not None:
                return [self._stamp(event) for event in mapper.feed(record, "")]
        if not text.strip():
            return []
        return [
            self._stamp(
                {
                    "attempt_id": self.envelope["attempt_id"],
                    "event_type": "agent_output",
                    "data": {"output": text, "stream_type": stream_type},
                }
            )
        ]

    def _mapper(self, record: dict[str, Any]) -> Mapper | None:
        """The first agent whose live format this record matches keeps the stream."""
        if self.mapper is None:
            for importer in self.importers:
                self.mapper = importer.stream_mapper(record, self.envelope["attempt_id"], self.ctx)
                if self.mapper is not None:
                    if self.envelope.get("model"):  # --model prices usage until the agent names one
                        self.mapper.state["model"] = self.envelope["model"]
                    break
        return self.mapper

    def _stamp(self, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("timestamp", now_iso())
        for key, value in self.envelope.items():
            if key == "executor" or event.get(key) is None:
                event[key] = value
        return event

    def pending(self) -> None:
        with self.lock:
            for event in self.mapper.flush() if self.mapper else []:
                self.recorder.record(self._stamp(event))

    def reported(self) -> dict[str, Any]:
        return dict(self.mapper.state.get("end_data") or {}) if self.mapper else {}


def run(
    command: Sequence[str],
    recorder: Recorder,
    *,
    attempt_id: str,
    executor: str,
    task_id: str | None = None,
    task_title: str | None = None,
    model: str | None = None,
    prompt: str | None = None,
    pricing: Pricing | None = None,
    importers: Sequence[Importer] = (),
    stdout: IO[bytes] | None = None,
    stderr: IO[bytes] | None = None,
) -> RunResult:
    """Run `command`, recording it as one attempt; returns its exit code and status.
    A line of its stdout in the live JSON format of one of `importers` (agents.importers())
    is mapped as that agent's events; any other line is recorded as agent_output."""
    envelope = {
        k: v
        for k, v in {
            "attempt_id": attempt_id,
            "executor": executor,
            "task_id": task_id,
            "task_title": task_title,
            "model": model,
        }.items()
        if v is not None
    }
    recording = _Recording(recorder, envelope, pricing or Pricing.load(recorder.settings.section("pricing")), importers)
    recording.record("session_start", {"prompt": prompt, "prompt_type": "initial", "command": list(command)})
    started = time.monotonic()
    try:
        child = subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE, process_group=0)
    except OSError as exc:
        # the shell's codes: 127 command not found, 126 found but cannot be run
        code = 127 if isinstance(exc, FileNotFoundError) else 126
        reason = f"cannot start {command[0]}: {exc.strerror or exc}"
        recording.record("error", {"error_message": reason})
        recording.record("session_end", {"completion_status": "failed", "duration_ms": 0, "exit_code": code})
        recorder.flush()
        return RunResult(code, "failed", 0, error=reason)
    received: list[int] = []
    previous = _forward_signals(child, received)
    pumps = [
        threading.Thread(target=_pump, args=(child.stdout, stdout or sys.stdout.buffer, recording, "stdout")),
        threading.Thread(target=_pump, args=(child.stderr, stderr or sys.stderr.buffer, recording, "stderr")),
    ]
    for pump in pumps:
        pump.start()
    try:
        code = child.wait()
        for pump in pumps:
            pump.join()
    finally:
        _restore_signals(previous)
    duration_ms = round((time.monotonic() - started) * 1000)
    exit_code = 128 - code if code < 0 else code
    status = _status(code, received)
    recording.pending()
    end = {"completion_status": status, "duration_ms": duration_ms, "exit_code": exit_code, **recording.reported()}
    if code < 0:
        end["signal"] = signal.Signals(-code).name
    recording.record("session_end", end)
    recorder.flush()
    return RunResult(exit_code, status, duration_ms)


def _status(code: int, received: list[int]) -> str:
    if code == 0:
        return "success"
    if -code in _INTERRUPTS or any(sig in _INTERRUPTS for sig in received):
        return "interrupted"
    return "failed"


def _pump(source: IO[bytes], sink: IO[bytes], recording: _Recording, stream_type: str) -> None:
    for raw in iter(source.readline, b""):
        try:
            sink.write(raw)
            sink.flush()
        except (BrokenPipeError, ValueError):
            pass  # nobody reads our output any more; keep recording
        recording.line(raw, stream_type)
    source.close()


def _forward_signals(child: subprocess.Popen, received: list[int]) -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}

    def forward(signum: int, frame: Any) -> None:
        received.append(signum)
        try:
            child.send_signal(signum)
        except ProcessLookupError:
            pass

    return {sig: signal.signal(sig, forward) for sig in FORWARDED}


def _restore_signals(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
