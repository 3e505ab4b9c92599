"""Helpers for testing your own instrumentation without touching files.

    from agentlog.testing import capture_events

    def test_my_orchestrator_records_errors():
        with capture_events() as log:
            run_my_orchestrator()          # uses agentlog.Session / log_error ...
        assert log.of_type("error")[0]["data"]["error_category"] == "git"
        assert log.metrics[0]["metrics"]["success"] is False

Events go through the real recorder (validation, fingerprints, redaction), only the
destination is memory.
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from . import config
from .events import decode_line
from .store import layout


class MemoryWriter:
    """A `Writer` that keeps lines in memory, per file, in order."""

    def __init__(self) -> None:
        self.files: dict[str, list[bytes]] = defaultdict(list)

    def append_many(self, relpaths: tuple[str, ...], line: bytes) -> None:
        for relpath in relpaths:
            self.files[relpath].append(line)

    def write_batch(self, batch: dict[str, list[bytes]]) -> None:
        for relpath, lines in batch.items():
            self.files[relpath].extend(lines)

    def read(self, relpath: str) -> Iterator[dict[str, Any]]:
        return (decode_line(line) for line in list(self.files.get(relpath, ())))

    def ends(self, relpath: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        lines = self.files.get(relpath)
        if not lines:
            return None, None
        return decode_line(lines[0]), decode_line(lines[-1])

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class CapturedLog:
    """What was recorded: `events` (the stream), `errors`, `metrics`, `sessions`."""

    def __init__(self, writer: MemoryWriter):
        self._writer = writer

    def _kind(self, name: str) -> list[dict[str, Any]]:
        return list(self._writer.read(name))

    @property
    def events(self) -> list[dict[str, Any]]:
        return self._kind(layout.STREAM)

    @property
    def errors(self) -> list[dict[str, Any]]:
        return self._kind(layout.ERRORS)

    @property
    def metrics(self) -> list[dict[str, Any]]:
        return self._kind(layout.METRICS)

    def session(self, attempt_id: str) -> list[dict[str, Any]]:
        return self._kind(f"{layout.SESSIONS}/{layout.session_file_name(attempt_id)}")

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event_type"] == event_type]

    def raw_lines(self) -> list[bytes]:
        """Every line exactly as it would have reached the disk (for secret checks)."""
        return [line for lines in self._writer.files.values() for line in lines]


@contextmanager
def capture_events(**settings: Any) -> Iterator[CapturedLog]:
    """Route the module-level API (agentlog.Session, log_error, ...) to memory."""
    from .capture import api
    from .recorder import Recorder

    writer = MemoryWriter()
    recorder = Recorder(config.load(settings, environ={}, cwd=Path("/nonexistent")), writer=writer)
    previous = api._default
    api.set_default_recorder(recorder)
    try:
        yield CapturedLog(writer)
    finally:
        api.set_default_recorder(previous)
