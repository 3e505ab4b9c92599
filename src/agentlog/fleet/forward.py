"""`fleet forward`: tail the local stream and publish it to JetStream, exactly once, in order.

Each event gets a number per (host, partition), derived from the tailer's checkpoint
(saved with it), so re-reading the same lines after a crash gives the same numbers. A
message carries several consecutive events of one partition (that is what makes 50k
events/s possible from Python) with headers

    Nats-Msg-Id                          host.p<k>.<first>-<last>
    Agentlog-Seq                         <first>-<last>
    Nats-Expected-Last-Subject-Sequence  the stream sequence of our previous message there

The expected-last check makes the server refuse anything out of order; on any doubt
(timeout, refused, server died) the forwarder asks the stream for its last message on
the subject and resumes right after the last event stored. So nothing is lost or
stored twice however old the resend (the dedup window is only a second line), and the
tailer's checkpoint advances only after the server acknowledged (ack before advance).
"""

from __future__ import annotations

import asyncio
import os
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

import msgspec

from .. import _core, jsonline
from ..store import layout
from ..store.tail import FileCheckpoints, Tailer
from . import bus

CHECKPOINT = "fleet-forward"
Run = tuple[int, bytes, list[int]]  # a partition, its lines joined by newlines, where each ends (after its newline)


class _Envelope(msgspec.Struct):
    attempt_id: Any = None


_decode = msgspec.json.Decoder(_Envelope)


def _envelope(line: bytes) -> _Envelope | None:
    """A line's envelope, or None for a malformed line."""
    try:
        return jsonline.decode(line, _decode)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


@dataclass
class ForwardOptions:
    host: str | None = None  # default: hostname + hash of the log dir
    start: str = "beginning"  # a first start forwards the live file's history
    max_events: int = 1000  # per message
    max_bytes: int = 512 * 1024  # per message (the server's default max_payload is 1 MiB)
    read_bytes: int = 4 << 20  # per read of the log: split over the partitions, so fuller messages
    once: bool = False  # forward what is there, then exit
    commit_interval_s: float = 0.5
    status_interval_s: float = 2.0
    replicas: int | None = None  # for the streams, when this forwarder creates them
    publish_timeout_s: float = 2.0
    linger_s: float = 0.01  # after a wakeup, let a few more lines arrive: fewer, fuller messages


@dataclass
class ForwardResult:
    forwarded: int = 0
    messages: int = 0
    malformed: int = 0
    retries: int = 0
    lost: list[Any] = field(default_factory=list)


class Forwarder:
    def __init__(self, log_dir: Path | str, nats: bus.NatsOptions, options: ForwardOptions | None = None):
        self.log_dir = Path(log_dir)
        self.nats, self.options = nats, options or ForwardOptions()
        self.host = self.options.host or bus.default_host(self.log_dir)
        self.result = ForwardResult()
        self.stop = asyncio.Event()
        self.seq: list[int] = []  # last number given per partition
        self.stored: list[int] = []  # last number the stream holds per partition
        self.subject_seq: list[int] = []  # stream sequence of our last message per partition

    async def run(self) -> ForwardResult:
        opts = self.options
        self.nc = await bus.connect(self.nats)
        self.js = self.nc.jetstream(timeout=opts.publish_timeout_s)
        try:
            replicas = await await_replicas(self.nc, opts.replicas)
            self.partitions = await retry(lambda: bus.ensure(self.js, replicas=replicas))
            checkpoints = FileCheckpoints(self.log_dir / layout.STATE)
            self.tailer = Tailer(self.log_dir / layout.STREAM, checkpoints, CHECKPOINT, start=opts.start)
            saved = (self.tailer.extra or {}).get("seq") if self.tailer.restored else None
            self.seq = list(saved) if saved and len(saved) == self.partitions else [0] * self.partitions
            self.stored, self.subject_seq = [0] * self.partitions, [0] * self.partitions
            await asyncio.gather(*(self._resync(p) for p in range(self.partitions)))
            await self._loop()
        finally:
            if hasattr(self, "tailer"):
                self.result.lost = list(self.tailer.lost)
                await self._status(running=False)
                self.tailer.close()
            try:
                await asyncio.wait_for(self.nc.close(), 2)
            except Exception:  # noqa: BLE001 - closing a connection to dead servers
                pass
        return self.result

    async def _loop(self) -> None:
        opts = self.options
        position, committed, last_status = None, time.monotonic(), 0.0
        while not self.stop.is_set():
            for batch in self.tailer.batches(max_bytes=opts.read_bytes):
                await self._send(self._runs(batch.lines))
                position = batch.position
                if time.monotonic() - committed >= opts.commit_interval_s:
                    self.tailer.commit_background(position, extra={"seq": self.seq})
                    committed, position = time.monotonic(), None
                if self.stop.is_set():
                    break
            self.result.malformed += len(self.tailer.skipped)  # lines over MAX_LINE: left out
            self.tailer.skipped.clear()
            if position is not None:
                self.tailer.commit_background(position, extra={"seq": self.seq})
                committed, position = time.monotonic(), None
            if time.monotonic() - last_status >= opts.status_interval_s:
                await self._status(running=True)
                last_status = time.monotonic()
            if opts.once:
                return
            if await asyncio.to_thread(self.tailer.wait, 0.5):
                await asyncio.sleep(opts.linger_s)

    # -- sending -------------------------------------------------------------------

    def _runs(self, lines: list[bytes]) -> list[Run]:
        """Each partition's lines, joined, with the end of each (`_core.partition_runs`)."""
        runs = _core.partition_runs(lines, self.partitions)
        return self._runs_one_by_one(lines) if runs is None else runs

    async def _send(self, runs: list[Run]) -> None:
        """Number each partition's run and publish them all in parallel."""
        sends = []
        for p, payload, ends in runs:  # a run's events are numbered first, first + 1, ...
            sends.append(self._send_partition(p, self.seq[p] + 1, payload, ends))
            self.seq[p] += len(ends)
        await asyncio.gather(*sends)

    def _runs_one_by_one(self, lines: list[bytes]) -> list[Run]:
        """`_runs` for a batch with a line the native read is not sure of: each line decoded
        on its own, malformed ones counted and left out."""
        runs: dict[int, list[bytes]] = {}
        for line in filter(bytes.strip, lines):
            line = jsonline.after_padding(line)
            envelope = _envelope(line)
            if envelope is None:
                self.result.malformed += 1
                continue
            attempt = envelope.attempt_id
            runs.setdefault(bus.partition_of(attempt if type(attempt) is str else "", self.partitions), []).append(line)
        return [(p, b"\n".join(run), list(accumulate(len(line) + 1 for line in run))) for p, run in runs.items()]

    async def _send_partition(self, p: int, first: int, payload: bytes, ends: list[int]) -> None:
        """Publish what the stream does not hold yet of a run numbered from `first` (its lines
        joined in `payload`, line i ending at `ends[i]` with its newline), in messages of at
        most max_events events and max_bytes bytes (one larger event alone)."""
        opts = self.options
        while True:
            start = max(0, self.stored[p] + 1 - first)  # `stored` moves on with each publish
            if start >= len(ends):
                return
            begin = ends[start - 1] if start else 0
            stop = max(start + 1, min(start + opts.max_events, bisect_right(ends, begin + opts.max_bytes, lo=start)))
            await self._publish(p, first + start, stop - start, payload[begin : ends[stop - 1] - 1])

    async def _publish(self, p: int, first: int, count: int, payload: bytes) -> None:
        last = first + count - 1
        headers = {
            "Nats-Msg-Id": f"{self.host}.p{p}.{first}-{last}",
            bus.SEQ_HEADER: f"{first}-{last}",
            bus.HOST_HEADER: self.host,
            "Nats-Expected-Last-Subject-Sequence": str(self.subject_seq[p]),
        }
        try:
            ack = await self.js.publish(
                bus.event_subject(p, self.host), payload, headers=headers, timeout=self.options.publish_timeout_s
            )
        except Exception:  # noqa: BLE001 - refused (out of order), timeout, server gone: ask the stream
            self.result.retries += 1
            await asyncio.sleep(min(1.0, 0.05 * self.result.retries))
            await self._resync(p)
            return
        if ack.duplicate:  # stored by an earlier try whose ack we missed
            await self._resync(p)
            return
        self.subject_seq[p], self.stored[p] = ack.seq, last
        self.result.forwarded += count
        self.result.messages += 1

    async def _resync(self, p: int) -> None:
        """Learn from the stream which of our events of partition p it already holds."""
        from nats.js.errors import NotFoundError

        subject = bus.event_subject(p, self.host)
        while True:
            try:
                msg = await self.js.get_last_msg(bus.EVENTS, subject, direct=True)
            except NotFoundError:
                self.stored[p], self.subject_seq[p] = 0, 0
                return
            except Exception:  # noqa: BLE001 - no leader yet, reconnecting: wait and ask again
                if self.stop.is_set():
                    raise
                await asyncio.sleep(0.25)
                continue
            last = int((msg.headers or {}).get(bus.SEQ_HEADER, "0-0").rsplit("-", 1)[1])
            self.stored[p], self.subject_seq[p] = last, msg.seq
            return

    async def _status(self, running: bool) -> None:
        """What `fleet status` shows per machine: lag, counts, last update."""
        if not hasattr(self, "js") or not hasattr(self, "tailer"):
            return
        status = {
            "host": self.host,
            "log_dir": str(self.log_dir),
            "pid": os.getpid(),
            "running": running,
            "updated": time.time(),
            "lag_bytes": self.tailer.lag(),
            "forwarded": self.result.forwarded,
            "messages": self.result.messages,
            "retries": self.result.retries,
        }
        try:
            kv = await self.js.key_value(bus.FORWARDERS)
            await asyncio.wait_for(kv.put(self.host, msgspec.json.encode(status)), 2.0)
        except Exception:  # noqa: BLE001 - status is best effort; forwarding goes on
            pass


async def await_replicas(nc, wanted: int | None) -> int:
    """Stream replicas: as asked, else 3 when the server is in a cluster of 3+, else 1."""
    if wanted:
        return wanted
    for _ in range(20):
        known = 1 + len(getattr(nc, "discovered_servers", []) or [])
        if known >= 3 or not nc._server_info.get("cluster"):
            break
        await asyncio.sleep(0.1)
    return 3 if 1 + len(getattr(nc, "discovered_servers", []) or []) >= 3 else 1


async def retry(make, attempts: int = 60, delay: float = 0.5):
    """Call an async setup step until the cluster answers (leaders are being elected)."""
    for i in range(attempts):
        try:
            return await make()
        except Exception:  # noqa: BLE001
            if i == attempts - 1:
                raise
            await asyncio.sleep(delay)
