"""`fleet archive`: write the fleet stream into the usual log layout, each event exactly once.

    OUT/agent-work-stream.jsonl, agent-sessions/<attempt>.jsonl, agent-errors.jsonl,
    agent-metrics.jsonl (recomputed per finished session), agent-alerts.jsonl,
    fleet-machines.jsonl (the machine of each attempt), parquet/ (`analytics.columnar`)

so every analytics command, report and the dashboard work on the whole fleet unchanged.
The machine of an attempt (the `<host>` of its subject) is written before its first event,
so whatever the stream holds has a known machine when it is compacted into Parquet.

Idempotent on event_id: the ids already in OUT are loaded at start and skipped, so a
resend of any age is written once. The position (stream sequences) and the sizes of
the shared files are checkpointed after each batch (temp, fsync, rename); after a
kill -9 the lines written after the checkpoint are completed (transcript, errors,
metrics) before consuming goes on from the checkpointed sequence.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from dataclasses import dataclass
from hashlib import blake2b
from pathlib import Path
from typing import Any

import duckdb
import msgspec

from .. import jsonline
from ..analytics import columnar
from ..store import layout, modes
from ..store.metrics import session_metrics
from ..store.reader import files_of, open_log, read_file
from ..store.tail import FileCheckpoints
from ..store.writer import LogWriter
from ..store.alerts import AlertJournal, decode_alert
from . import bus

CHECKPOINT = "fleet-archive"
LOCK = "fleet-archive.lock"


class _Ids(msgspec.Struct):
    event_id: Any = None
    attempt_id: Any = None
    event_type: Any = None


_ids = msgspec.json.Decoder(_Ids)


class ArchiveError(RuntimeError):
    """Another archiver holds OUT."""


@dataclass
class ArchiveOptions:
    once: bool = False  # write what the streams hold now, then exit
    fetch_batch: int = 64
    idle_s: float = 0.5
    parquet: bool = True  # compact the stream into OUT/parquet/ (`analytics.columnar`)
    compact_every_s: float = 60.0


@dataclass
class ArchiveResult:
    written: int = 0
    duplicates: int = 0
    malformed: int = 0
    alerts: int = 0
    repaired: int = 0
    compacted: int = 0  # events written to Parquet parts
    compact_error: str | None = None  # why the last compaction failed


def event_key(line: bytes, parsed: _Ids) -> str:
    """event_id, or a hash of the line for old events without one."""
    if isinstance(parsed.event_id, str) and parsed.event_id:
        return parsed.event_id
    return "line:" + blake2b(line, digest_size=12).hexdigest()


class Archiver:
    def __init__(self, out: Path | str, nats: bus.NatsOptions, options: ArchiveOptions | None = None):
        self.out = Path(out)
        self.nats, self.options = nats, options or ArchiveOptions()
        self.result = ArchiveResult()
        self.stop = asyncio.Event()
        self.checkpoints = FileCheckpoints(self.out / layout.STATE)
        self.writer = LogWriter(self.out)
        self.seen: set[str] = set()
        self.machines: set[str] = set()  # attempts (and events without one) whose machine is written
        self.compacted_at = 0.0
        self.compacting: asyncio.Task | None = None

    async def run(self) -> ArchiveResult:
        modes.make_dirs(self.out / layout.STATE)
        lock = modes.create(self.out / layout.STATE / LOCK, os.O_RDWR)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            raise ArchiveError(f"another `agentlog fleet archive` is writing {self.out}") from None
        try:
            self.saved = self.checkpoints.load(CHECKPOINT) or {"events_seq": 0, "alerts_seq": 0, "sizes": {}}
            self._recover()
            self._load_machines()
            self.journal = AlertJournal(self.out, self.writer)
            for _ in self.journal.load():
                pass
            await self._consume()
            if self.compacting is not None:
                await self.compacting
            await self._compact()  # what the last batches added
        finally:
            self.writer.close()
            os.close(lock)
        return self.result

    # -- recovery ------------------------------------------------------------------------

    def _recover(self) -> None:
        """Load the ids written; finish the files for events written after the checkpoint."""
        stream = self.out / layout.STREAM
        cut = self.saved["sizes"].get("stream", 0)
        tail: list[tuple[bytes, _Ids]] = []
        for path in files_of(self.out, layout.STREAM, archives=True):
            live = path == stream
            with open_log(path) as handle:
                offset = 0
                for line in handle:
                    body = line.rstrip(b"\n")
                    try:
                        parsed = jsonline.decode(body, _ids)
                    except (msgspec.DecodeError, msgspec.ValidationError):
                        offset += len(line)
                        continue
                    self.seen.add(event_key(body, parsed))
                    if live and offset >= cut and line.endswith(b"\n"):
                        tail.append((body, parsed))
                    offset += len(line)
        if live_size(stream) and not stream.read_bytes().endswith(b"\n"):
            with open(stream, "ab") as handle:  # a torn last line: end it so the next append is whole
                handle.write(b"\n")
        for name, key in ((layout.ERRORS, "errors"), (layout.METRICS, "metrics")):
            path = self.out / name
            if path.exists() and path.stat().st_size > self.saved["sizes"].get(key, 0):
                os.truncate(path, self.saved["sizes"].get(key, 0))
        transcripts: dict[str, set[str]] = {}
        for body, parsed in tail:
            attempt = parsed.attempt_id if isinstance(parsed.attempt_id, str) else None
            if attempt:
                known = transcripts.get(attempt)
                if known is None:
                    known = transcripts[attempt] = _keys_of(self._session(attempt))
                if event_key(body, parsed) not in known:
                    self.writer.append(self._relsession(attempt), body + b"\n")
            self._extras(body, parsed)
            self.result.repaired += 1
        self._checkpoint()

    # -- consuming ---------------------------------------------------------------------------

    async def _consume(self) -> None:
        nc = await bus.connect(self.nats)
        js = nc.jetstream(timeout=3)
        try:
            from .forward import await_replicas, retry

            replicas = await await_replicas(nc, None)
            await retry(lambda: bus.ensure(js, replicas=replicas))
            events = await retry(lambda: self._consumer(js, bus.EVENTS, "archive", self.saved["events_seq"]))
            alerts = await retry(lambda: self._consumer(js, bus.ALERTS, "archive-alerts", self.saved["alerts_seq"]))
            while not self.stop.is_set():
                got = await self._fetch(events, self._write_events)
                got += await self._fetch(alerts, self._write_alerts)
                if got:
                    self._checkpoint()
                elif self.options.once and await _drained(js, "archive", "archive-alerts"):
                    return
                self._compact_now_and_then()
        finally:
            await nc.close()

    async def _consumer(self, js, stream: str, name: str, seq: int) -> bus.OrderedPull:
        pull = bus.OrderedPull(js, stream, name)
        await pull.start(seq)
        return pull

    async def _fetch(self, pull: bus.OrderedPull, write) -> int:
        try:
            msgs = await pull.fetch(self.options.fetch_batch, self.options.idle_s)
        except Exception:  # noqa: BLE001 - the consumer could not be recreated yet: next round
            return 0
        for msg in msgs:
            write(msg)
        if msgs:
            try:
                await msgs[-1].ack()
            except Exception:  # noqa: BLE001 - the checkpointed sequence is what counts
                pass
        return len(msgs)

    def _write_events(self, msg) -> None:
        seq = msg.metadata.sequence.stream
        if seq <= self.saved["events_seq"]:
            return
        stream_chunk: list[bytes] = []
        machines: list[bytes] = []
        machine = msg.subject.split(".", 3)[-1]  # agentlog.events.p<k>.<host>
        sessions: dict[str, list[bytes]] = {}
        finished: list[tuple[bytes, _Ids]] = []
        for body in msg.data.split(b"\n"):
            if not body.strip():
                continue
            try:
                parsed = jsonline.decode(body, _ids)
            except (msgspec.DecodeError, msgspec.ValidationError):
                self.result.malformed += 1
                continue
            key = event_key(body, parsed)
            if key in self.seen:
                self.result.duplicates += 1
                continue
            self.seen.add(key)
            stream_chunk.append(body + b"\n")
            machines += self._machine_line(parsed, machine)
            if isinstance(parsed.attempt_id, str) and parsed.attempt_id:
                sessions.setdefault(parsed.attempt_id, []).append(body + b"\n")
            finished.append((body, parsed))
        if machines:  # before the events, so every event in the stream has its machine
            self.writer.append(columnar.MACHINES, b"".join(machines))
        if stream_chunk:
            self.writer.append(layout.STREAM, b"".join(stream_chunk))  # the stream first: it is the record
            for attempt, lines in sessions.items():
                self.writer.append(self._relsession(attempt), b"".join(lines))
            for body, parsed in finished:
                self._extras(body, parsed)
            self.result.written += len(stream_chunk)
        self.saved["events_seq"] = seq

    def _write_alerts(self, msg) -> None:
        seq = msg.metadata.sequence.stream
        if seq <= self.saved["alerts_seq"]:
            return
        alert = decode_alert(msg.data, whole=True)
        if alert is not None and self.journal.write(alert):
            self.result.alerts += 1
        self.saved["alerts_seq"] = seq

    # -- machines and Parquet ------------------------------------------------------------------

    def _load_machines(self) -> None:
        path = self.out / columnar.MACHINES
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        if data and not data.endswith(b"\n"):
            with open(path, "ab") as handle:  # a torn last line: end it so the next append is whole
                handle.write(b"\n")
        for line in data.splitlines():
            try:
                known = msgspec.json.decode(line, type=dict)
            except msgspec.DecodeError:
                continue
            key = known.get("attempt_id") or known.get("event_id")
            if isinstance(key, str):
                self.machines.add(key)

    def _machine_line(self, parsed: _Ids, machine: str) -> list[bytes]:
        """The line saying where this event's attempt (or, without one, the event) ran, if new."""
        if isinstance(parsed.attempt_id, str) and parsed.attempt_id:
            field, key = "attempt_id", parsed.attempt_id
        elif isinstance(parsed.event_id, str) and parsed.event_id:
            field, key = "event_id", parsed.event_id
        else:
            return []
        if key in self.machines:
            return []
        self.machines.add(key)
        return [msgspec.json.encode({field: key, "machine": machine}) + b"\n"]

    def _compact_now_and_then(self) -> None:
        """Start a compaction every `compact_every_s`, beside the consuming."""
        if self.compacting is not None and not self.compacting.done():
            return
        if time.monotonic() - self.compacted_at >= self.options.compact_every_s:
            self.compacting = asyncio.create_task(self._compact())

    async def _compact(self) -> None:
        """Compact the stream into Parquet, in a thread: it only reads lines already written."""
        self.compacted_at = time.monotonic()
        if not self.options.parquet:
            return
        try:
            done = await asyncio.to_thread(columnar.compact, self.out)
        except (columnar.ColumnarError, OSError, duckdb.Error) as exc:
            self.result.compact_error = str(exc)
            return
        self.result.compacted += done.rows
        self.result.compact_error = None

    # -- files ------------------------------------------------------------------------------

    def _extras(self, body: bytes, parsed: _Ids) -> None:
        """The errors line and, at a session's end, its metrics line."""
        if parsed.event_type == "error":
            self.writer.append(layout.ERRORS, body + b"\n")
        elif parsed.event_type == "session_end" and isinstance(parsed.attempt_id, str):
            metrics = session_metrics(read_file(self._session(parsed.attempt_id)))
            self.writer.append(layout.METRICS, msgspec.json.encode(metrics) + b"\n")

    def _relsession(self, attempt: str) -> str:
        return f"{layout.SESSIONS}/{layout.session_file_name(attempt)}"

    def _session(self, attempt: str) -> Path:
        return self.out / self._relsession(attempt)

    def _checkpoint(self) -> None:
        self.saved["sizes"] = {
            "stream": live_size(self.out / layout.STREAM),
            "errors": live_size(self.out / layout.ERRORS),
            "metrics": live_size(self.out / layout.METRICS),
        }
        self.checkpoints.save(CHECKPOINT, self.saved)


def live_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _keys_of(path: Path) -> set[str]:
    """The event keys already in a transcript."""
    keys = set()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return keys
    for line in data.splitlines():
        try:
            keys.add(event_key(line, jsonline.decode(line, _ids)))
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
    return keys


async def _drained(js, *names: str) -> bool:
    """True when the archive consumers have nothing pending (for --once)."""
    try:
        infos = [await js.consumer_info(stream, name) for stream, name in zip((bus.EVENTS, bus.ALERTS), names)]
    except Exception:  # noqa: BLE001
        return False
    return all(info.num_pending == 0 and info.num_ack_pending == 0 for info in infos)
