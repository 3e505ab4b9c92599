"""`fleet watch`: the single-machine detectors over the fleet stream, shared by several workers.

Work is split into the fleet's partitions (a session always hashes to the same one).
Each partition has one durable pull consumer `watch-p<k>`, owned by one worker at a
time through a lease key in KV (`agentlog-leases`, expiring after LEASE_TTL_S unless
renewed). A worker takes free partitions up to its fair share, and hands extras back when
more workers join. An orphan (a free partition seen in two rounds) is taken even at a fair
share; a lease that expired is an orphan at once: its expiry marker wakes every worker
(`_hear_leases`), so a dead worker's partitions move on when its leases run out, not up to a
round later.

Per partition, in order:
    fetch -> engine.feed (same Engine and detectors as `agentlog watch`) -> publish alerts
    (Nats-Msg-Id = alert_id) -> ... -> once a second: wait for those alerts' acks -> save
    {stream seq, engine state and cooldowns} to KV (fenced by revision) -> ack
The alerts' acks are not waited for one by one (a round trip per alert held back every
event behind it), only before a save: no state is saved past an alert not stored.
A new owner loads the saved state and recreates the consumer at the next sequence, so
nothing is skipped or counted twice; alerts it derives again carry the same alert_id
and the alerts stream drops them. New alerts (not duplicates) also go to this worker's
agent-alerts.jsonl and stdout; notification sinks read the alerts stream itself (notify.py),
so an alert reaches them even when the worker that published it died right after.
"""

from __future__ import annotations

import asyncio
import math
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import msgspec

from .. import intel, jsonline
from ..config import Settings
from ..events import Alert, encode, now_iso
from ..watch.config import WatchConfig, for_log
from ..watch.engine import Engine
from ..watch.outbox import Outbox
from ..watch.sinks import BaseSink
from ..store.alerts import AlertJournal
from . import bus
from .forward import await_replicas, retry
from .kvstore import Fenced, FencedState, Heartbeats
from .notify import Notifier

PUBLISHER_HEADER = "Agentlog-Publisher"
MAX_UNACKED_ALERTS = 1000  # per partition; more waits for the acks before reading on


class _Seen(msgspec.Struct):
    """What the heartbeats tell of an event (the engine reads the lines on its own)."""

    attempt_id: Any = None
    event_type: Any = None
    executor: Any = None
    timestamp: Any = None


_seen_one = msgspec.json.Decoder(_Seen)
_seen_all = msgspec.json.Decoder(list[_Seen])


def _activity(lines: list[bytes]) -> tuple[dict[str, _Seen], list[str]]:
    """The latest event of each attempt still running, and the attempts that ended."""
    seen_all = jsonline.decode_all(lines, _seen_all)
    if seen_all is None:  # a blank, malformed or unreadable line among them: one by one
        seen_all = [_seen(line) for line in lines if line.strip()]
    touched: dict[str, _Seen] = {}
    ended: list[str] = []
    for seen in seen_all:
        if seen is None or type(seen.attempt_id) is not str:
            continue
        if seen.event_type == "session_end":
            ended.append(seen.attempt_id)
            touched.pop(seen.attempt_id, None)
        else:
            touched[seen.attempt_id] = seen
    return touched, ended


def _seen(line: bytes) -> _Seen | None:
    try:
        return jsonline.decode(line, _seen_one)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


@dataclass
class FleetWatchOptions:
    worker_id: str | None = None
    fetch_batch: int = 64  # messages per fetch (each holds up to ~1000 events)
    commit_interval_s: float = 1.0
    tick_s: float = 0.5  # clock-driven checks (stuck) and fetch wait when idle
    lease_every_s: float = bus.LEASE_TTL_S / 4
    notify_since_s: float = 3600.0
    replicas: int | None = None


@dataclass
class FleetWatchResult:
    events: int = 0
    alerts: int = 0  # new alerts this worker published
    duplicates: int = 0  # alerts another run had already published
    partitions: list[int] = field(default_factory=list)


class _Partition:
    def __init__(self, p: int, engine: Engine, applied: int, revision: int):
        self.p, self.engine, self.applied, self.revision = p, engine, applied, revision
        self.lease_rev = 0
        self.sub = None
        self.task: asyncio.Task | None = None
        self.stopping = False
        self.last_msg = None
        self.dirty = False
        self.unacked: list[tuple[Alert, asyncio.Task]] = []  # alerts published, their acks not waited for
        self.committed = time.monotonic()


class FleetWatcher:
    def __init__(
        self,
        settings: Settings,
        nats: bus.NatsOptions,
        options: FleetWatchOptions | None = None,
        sinks: list[BaseSink] = (),
        config: WatchConfig | None = None,
        on_alert: Callable[[Alert], None] | None = None,
    ):
        self.settings, self.nats = settings, nats
        self.options = options or FleetWatchOptions()
        self.worker_id = (
            self.options.worker_id or f"{bus.token(socket.gethostname())}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        )
        self.config = for_log(config or WatchConfig.from_settings(settings), settings)
        self.sinks, self.on_alert = list(sinks), on_alert
        self.log_dir = Path(settings.log_dir)
        self.stop = asyncio.Event()
        self.result = FleetWatchResult()
        self.owned: dict[int, _Partition] = {}
        self._free_before: set[int] = set()
        self._expired: set[str] = set()  # lease keys whose last word is an expiry marker
        self._lease_news = asyncio.Event()  # a lease ended: coordinate now

    async def run(self) -> FleetWatchResult:
        self.nc = await bus.connect(self.nats)
        self.js = self.nc.jetstream(timeout=3)
        self.journal = AlertJournal(self.log_dir)
        for _ in self.journal.load():
            pass
        intel.prepare()  # else the first error without a fingerprint compiles its regexes (~20 ms)
        local = [sink for sink in self.sinks if not sink.notification]
        self.outbox = Outbox(self.log_dir, local)
        self.outbox.start()
        notifying = hearing = None
        try:
            replicas = await await_replicas(self.nc, self.options.replicas)
            stuck_s = self.config.stuck_threshold_ms / 1000
            self.partitions = await retry(lambda: bus.ensure(self.js, replicas=replicas, stuck_ttl_s=stuck_s))
            notifier = Notifier(
                self.js,
                [s for s in self.sinks if s.notification],
                self.log_dir,
                self.options.notify_since_s,
                stop=self.stop,
            )
            notifying = asyncio.create_task(notifier.run())
            self.leases = await self._bucket(bus.LEASES)
            self.workers = await self._bucket(bus.WORKERS)
            self.state = FencedState(await self._bucket(bus.STATE))
            self.heartbeats = Heartbeats(self.nc, stuck_s)
            hearing = asyncio.create_task(self._hear_leases())
            while not self.stop.is_set():
                try:
                    await self._coordinate()
                except Exception:  # noqa: BLE001 - the cluster is electing or a server died: next round
                    pass
                await self._nap(self.options.lease_every_s)
        finally:
            # Whatever ended the run, a stop or an error, our tasks wind down: the notifier
            # would go on over the closed connection, where its fetch fails without yielding
            # (the event loop spun forever, ignoring SIGTERM, and the process never exited).
            self.stop.set()
            if hearing is not None:
                hearing.cancel()
            try:  # hand the partitions back at once; bounded, as the servers may be gone
                await asyncio.wait_for(self._shutdown(), 5)
            except Exception:  # noqa: BLE001 - the leases expire by themselves
                pass
            self.outbox.stop(0.0)
            if notifying is not None:  # stopped by self.stop: the alert in hand stays unacknowledged
                await asyncio.wait({notifying}, timeout=5)
            await _close(self.nc)
        return self.result

    async def _bucket(self, name: str):
        """A KV bucket, looked up until the cluster answers (as the streams are): one lookup
        that timed out while a server was down or slow ended the worker before it took a partition."""
        return await retry(lambda: self.js.key_value(name))

    async def _nap(self, seconds: float) -> None:
        """Until the next round: `seconds`, or less if a lease ends or we are stopped."""
        waits = [asyncio.ensure_future(e.wait()) for e in (self.stop, self._lease_news)]
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()
        self._lease_news.clear()

    async def _hear_leases(self) -> None:
        """Wake the coordinator when a lease is handed back or expires (a marker: its owner
        stopped renewing it), instead of leaving it to the next round."""
        while not self.stop.is_set():
            try:
                watcher = await self.leases.watchall(meta_only=True)
                async for entry in watcher:
                    if entry is None:
                        continue  # the end of what was there before
                    if entry.operation == "PURGE":  # nats-py's word for an expiry marker
                        self._expired.add(entry.key)
                    else:
                        self._expired.discard(entry.key)
                    if entry.operation is not None:
                        self._lease_news.set()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a server died: polling goes on, watch again soon
                await asyncio.sleep(1.0)

    async def _shutdown(self) -> None:
        for part in list(self.owned.values()):
            await self._release(part, graceful=True)
        await self.workers.delete(self.worker_id)

    # -- leases --------------------------------------------------------------------------

    async def _coordinate(self) -> None:
        """Renew our leases, announce ourselves, take free partitions up to a fair share."""
        info = {
            "worker": self.worker_id,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "partitions": sorted(self.owned),
            "updated": time.time(),
            "events": self.result.events,
            "alerts": self.result.alerts,
        }
        await self.workers.put(self.worker_id, msgspec.json.encode(info))
        for part in list(self.owned.values()):
            if part.task is not None and part.task.done():
                self.owned.pop(part.p, None)  # it stopped itself (fenced)
                continue
            try:
                part.lease_rev = await self.leases.update(f"p{part.p}", self.worker_id.encode(), last=part.lease_rev)
            except Exception as exc:  # noqa: BLE001
                if _wrong_revision(exc):
                    await self._release(part, graceful=False)  # someone else owns it now
        alive = max(1, len(await _keys(self.workers)))
        fair = math.ceil(self.partitions / alive)
        held = set(await _keys(self.leases))
        free = [p for p in range(self.partitions) if f"p{p}" not in held]
        for p in free:
            orphan = p in self._free_before or f"p{p}" in self._expired
            if len(self.owned) >= fair and not orphan:
                continue  # leave it to a worker below its share; an orphan is taken
            await self._acquire(p)
        self._free_before = set(free) - set(self.owned)
        if len(self.owned) > fair:
            await self._release(self.owned[max(self.owned)], graceful=True)

    async def _acquire(self, p: int) -> None:
        try:
            lease_rev = await self._claim(f"p{p}")
        except Exception:  # noqa: BLE001 - taken by another worker first
            return
        saved, revision = await self.state.load(f"p{p}")
        engine = Engine(self.config)
        applied = 0
        if saved:
            engine.restore(saved.get("engine") or {})  # older saves kept cooldowns beside it: the engine's own copy
            applied = int(saved.get("seq", 0))
        part = _Partition(p, engine, applied, revision)
        part.lease_rev = lease_rev
        part.sub = await self._consumer(p, applied)
        self.owned[p] = part
        part.task = asyncio.create_task(self._consume(part))

    async def _claim(self, key: str) -> int:
        """Create the lease `key`, also over its expiry marker (nats-py's `create` takes the
        place of a delete, not of a marker: compare-and-set on the marker's sequence instead)."""
        try:
            return await self.leases.create(key, self.worker_id.encode())
        except Exception as exc:  # noqa: BLE001
            if not _wrong_revision(exc):
                raise
            last = await self.js.get_last_msg(f"KV_{bus.LEASES}", f"$KV.{bus.LEASES}.{key}")
            if "Nats-Marker-Reason" not in (last.headers or {}):
                raise
            return await self.leases.update(key, self.worker_id.encode(), last=last.seq)

    async def _consumer(self, p: int, applied: int) -> bus.OrderedPull:
        """The partition's durable consumer, recreated to start right after the saved state."""
        pull = bus.OrderedPull(self.js, bus.EVENTS, f"watch-p{p}", bus.partition_filter(p))
        await pull.start(applied)
        return pull

    async def _release(self, part: _Partition, graceful: bool) -> None:
        part.stopping = True
        if part.task is not None and part.task is not asyncio.current_task():
            try:
                await asyncio.wait_for(asyncio.shield(part.task), 10)
            except (asyncio.TimeoutError, Exception):  # noqa: BLE001
                part.task.cancel()
        if graceful and (part.dirty or part.unacked):
            try:
                await self._commit(part)
            except Exception:  # noqa: BLE001 - the next owner redoes from the last save
                pass
        if graceful:
            try:
                await self.leases.delete(f"p{part.p}", last=part.lease_rev)
            except Exception:  # noqa: BLE001
                pass
        if part.sub is not None:
            await part.sub.close()
        self.owned.pop(part.p, None)

    # -- one partition ----------------------------------------------------------------------

    async def _consume(self, part: _Partition) -> None:
        opts = self.options
        while not part.stopping and not self.stop.is_set():
            try:
                msgs = await part.sub.fetch(opts.fetch_batch, opts.tick_s)
            except Exception:  # noqa: BLE001 - the consumer could not be recreated yet
                await asyncio.sleep(0.2)
                continue
            try:
                for msg in msgs:
                    seq = msg.metadata.sequence.stream
                    if seq <= part.applied:
                        continue  # already in the saved state (a redelivery)
                    await self._events(part, msg.data.split(b"\n"))
                    part.applied, part.last_msg, part.dirty = seq, msg, True
                    await asyncio.sleep(0)  # let the lease renewal run between big messages
                self._alerts(part, part.engine.tick(time.time()))
                if len(part.unacked) >= MAX_UNACKED_ALERTS:
                    await self._settle(part)
                if part.dirty and time.monotonic() - part.committed >= opts.commit_interval_s:
                    await self._commit(part)
            except Fenced:
                part.stopping = True  # another worker took over: drop our unsaved work
                return
            except Exception:  # noqa: BLE001 - publish/commit failed (server down): retry later
                await asyncio.sleep(0.2)

    async def _events(self, part: _Partition, lines: list[bytes]) -> None:
        alerts = part.engine.feed(lines, now=time.time())  # counts the malformed lines itself
        self.result.events += len(lines)
        self._alerts(part, alerts)  # quiet attempts: judged by their next event, or by the wall clock in _consume
        touched, ended = _activity(lines)
        for attempt_id, seen in touched.items():
            if not self.heartbeats.due(attempt_id):
                continue
            await self.heartbeats.touch(
                attempt_id,
                {
                    "attempt_id": attempt_id,
                    "executor": seen.executor,
                    "last_event": seen.timestamp,
                    "partition": part.p,
                },
            )
        for attempt_id in ended:
            await self.heartbeats.end(attempt_id)

    def _alerts(self, part: _Partition, alerts: list[Alert]) -> None:
        """Publish these alerts without waiting for their acks: the partition goes on with
        its next events meanwhile (one ack round trip per alert held every event behind it).
        `_settle` waits for them before the state that covers their events is saved."""
        for alert in alerts:
            part.unacked.append((alert, asyncio.create_task(self._deliver(alert))))

    async def _settle(self, part: _Partition) -> None:
        """Wait until every alert published so far is stored; one that could not be is
        published again and this raises, so no state is saved past an alert not stored."""
        waiting = list(part.unacked)
        if not waiting:
            return
        await asyncio.wait([task for _, task in waiting])  # being cancelled here leaves them running
        failed = [alert for alert, task in waiting if task.cancelled() or task.exception() is not None]
        part.unacked = part.unacked[len(waiting) :] + [
            (alert, asyncio.create_task(self._deliver(alert))) for alert in failed
        ]
        if failed:
            raise RuntimeError("alerts not stored yet")

    async def _deliver(self, alert: Alert) -> None:
        """Publish one alert; one the stream took as new goes to the journal and `on_alert`."""
        if not await self._publish_alert(alert):
            self.result.duplicates += 1
            return
        self.result.alerts += 1
        if self.journal.write(alert):
            self.outbox.wake()
        if self.on_alert is not None:
            self.on_alert(alert)

    async def _publish_alert(self, alert: Alert) -> bool:
        """Publish once per alert_id; True when this call stored it (so it is ours to notify).

        A retry after a lost ack comes back "duplicate" for an alert this very call
        stored: the publisher token in the stored copy's headers tells the two apart.
        """
        publisher = f"{self.worker_id}/{uuid.uuid4().hex}"
        headers = {"Nats-Msg-Id": alert.alert_id or "", PUBLISHER_HEADER: publisher}
        uncertain = False
        for attempt in range(40):
            try:
                ack = await self.js.publish(
                    bus.alert_subject(alert.type), encode(alert), headers=dict(headers), timeout=2
                )
            except Exception:  # noqa: BLE001 - retried: the same id makes a late duplicate harmless
                if self.stop.is_set() and attempt > 3:
                    raise
                uncertain = True
                await asyncio.sleep(min(1.0, 0.05 * (attempt + 1)))
                continue
            if not ack.duplicate:
                return True
            if not uncertain:
                return False
            stored = await self.js.get_msg(bus.ALERTS, ack.seq, direct=True)
            return (stored.headers or {}).get(PUBLISHER_HEADER) == publisher
        raise RuntimeError("alerts stream unreachable")

    async def _commit(self, part: _Partition) -> None:
        await self._settle(part)
        engine = part.engine
        value = {"seq": part.applied, "engine": engine.snapshot(), "owner": self.worker_id, "saved": now_iso()}
        part.revision = await self.state.save(f"p{part.p}", value, part.revision)
        if part.last_msg is not None:
            try:
                await part.last_msg.ack()  # AckPolicy.ALL: everything up to here
            except Exception:  # noqa: BLE001 - the saved seq is what counts on takeover
                pass
        part.committed, part.dirty = time.monotonic(), False


async def _close(nc) -> None:
    try:
        await asyncio.wait_for(nc.close(), 2)
    except Exception:  # noqa: BLE001 - closing a connection to dead servers
        pass


def _wrong_revision(exc: Exception) -> bool:
    from nats.js.errors import KeyWrongLastSequenceError

    return isinstance(exc, KeyWrongLastSequenceError) or getattr(exc, "err_code", None) == 10071


async def _keys(kv) -> list[str]:
    from nats.js.errors import NoKeysError

    try:
        return await kv.keys()
    except NoKeysError:
        return []
