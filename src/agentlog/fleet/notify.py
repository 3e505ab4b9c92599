"""Notifications from the fleet's alerts stream, through any crash.

A worker publishes each new alert to AGENTLOG_ALERTS before anything else; if it dies right
after, the alert is in the stream and nothing else. So notification sinks do not hear from the
worker that found the alert: each sink reads the alerts stream through its own durable
consumer `notify-<sink>`, shared by every worker that runs the sink (whichever is alive takes
the next alert). Per sink, one alert is in flight at a time (in stream order), delivered with
the outbox's retry and dead-letter rules, then marked in the `agentlog-delivered` bucket, then
acknowledged. A worker killed before the mark leaves the alert unacknowledged: another worker
delivers it again with the same `alert_id` (so at most one repeat per sink per crash, which a
receiver drops by id); killed after the mark, the repeat is skipped.

Every later alert of the sink waits behind the one in flight, so how soon a lost alert moves
on adds to every notification's delay: the worker holding an alert says so every HEARTBEAT_S
for as long as it holds it, and the server hands an alert on after ACK_WAIT_S without a word
(its worker was killed, the alert was lost on its way when a server died, or a server's
failure made the worker give it up).
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import msgspec

from ..events import Alert
from ..store.writer import LogWriter
from ..watch.outbox import dead_letter, deliver, new_status
from ..watch.sinks import BaseSink
from . import bus

ACK_WAIT_S = 5.0  # an alert whose worker said nothing for this long goes to another worker
HEARTBEAT_S = 1.0  # the holder's "still at it": its event loop would have to stall ~4 s to lose the alert
MAX_REDELIVERIES = 1000  # a message that keeps killing its deliverer ends in the dead letters


@dataclass
class Notifier:
    js: Any
    sinks: list[BaseSink]
    log_dir: Path
    notify_since_s: float = 3600.0
    tick_s: float = 0.5
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        """Deliver until `stop` is set; a sink whose consumer cannot be reached is retried."""
        self.writer = LogWriter(self.log_dir)
        self.delivered = None  # the marks bucket, looked up (and retried) with the first consumer
        self.status = {sink.name: new_status(sink) for sink in self.sinks}
        await asyncio.gather(*(self._serve(sink) for sink in self.sinks))

    async def _serve(self, sink: BaseSink) -> None:
        sub = None
        while not self.stop.is_set():
            try:
                sub = sub or await self._subscribe(sink)
                for msg in await bus.fetch_ready(sub, 1, self.tick_s):
                    await self._handle(sink, msg)
            except Exception:  # noqa: BLE001 - a server change: subscribe again (an alert in hand is redelivered)
                sub = None
                await asyncio.sleep(self.tick_s)

    async def _subscribe(self, sink: BaseSink):
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
        from nats.js.errors import BadRequestError, NotFoundError

        if self.delivered is None:  # a worker started while a server is down must still notify
            self.delivered = await self.js.key_value(bus.DELIVERED)
        name = f"notify-{bus.token(sink.name)}"
        try:
            await self._upgrade((await self.js.consumer_info(bus.ALERTS, name)).config)
        except NotFoundError:  # a new sink starts at alerts newer than --notify-since, not the whole history
            since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - self.notify_since_s))
            try:
                await self.js.add_consumer(
                    bus.ALERTS,
                    ConsumerConfig(
                        durable_name=name,
                        filter_subject=bus.ALERT_SUBJECTS,
                        ack_policy=AckPolicy.EXPLICIT,
                        max_ack_pending=1,
                        ack_wait=ACK_WAIT_S,
                        max_deliver=MAX_REDELIVERIES,
                        deliver_policy=DeliverPolicy.BY_START_TIME,
                        opt_start_time=since,
                    ),
                )
            except BadRequestError:
                pass  # another worker created it first
        return await self.js.pull_subscribe_bind(durable=name, stream=bus.ALERTS)

    async def _upgrade(self, config) -> None:
        """A consumer made by an older agentlog (ack_wait 30 s: a crash held every alert that
        long) gets ours; one the server will not update keeps notifying as it was."""
        if config.ack_wait == ACK_WAIT_S:
            return
        try:
            await self.js.add_consumer(bus.ALERTS, replace(config, ack_wait=ACK_WAIT_S))
        except Exception:  # noqa: BLE001 - retried at the next subscribe
            pass

    async def _handle(self, sink: BaseSink, msg) -> None:
        """Hold `msg` until it is acknowledged, telling the server so every HEARTBEAT_S."""
        beat = asyncio.ensure_future(_heartbeat(msg))
        try:
            await self._take(sink, msg)
        finally:
            beat.cancel()

    async def _take(self, sink: BaseSink, msg) -> None:
        try:
            alert = msgspec.json.decode(msg.data, type=Alert)
        except msgspec.DecodeError as exc:
            self._dead(sink, msg.data.decode(errors="replace"), f"not an alert: {exc}")
            await msg.ack()
            return
        key = f"{bus.token(sink.name)}.{bus.token(alert.alert_id or str(msg.metadata.sequence.stream))}"
        if not await self._seen(key) and not await self._give(sink, alert):
            return  # stopping mid-retry: unacknowledged, the next worker delivers it
        await self.delivered.put(key, b"")
        await msg.ack()

    async def _seen(self, key: str) -> bool:
        from nats.js.errors import KeyNotFoundError

        try:
            await self.delivered.get(key)
        except KeyNotFoundError:
            return False
        return True

    async def _give(self, sink: BaseSink, alert: Alert) -> bool:
        """Deliver on a thread (sinks block); False when stopped mid-retry."""
        stop = threading.Event()
        task = asyncio.get_running_loop().run_in_executor(
            None,
            lambda: deliver(
                sink,
                alert,
                self.status[sink.name],
                stop=stop,
                notify_after=time.time() - self.notify_since_s,
                dead_letter=self._dead,
            ),
        )
        stopping = asyncio.ensure_future(self.stop.wait())
        try:
            done, _ = await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if task not in done:
                stop.set()
            return await task
        finally:
            stopping.cancel()

    def _dead(self, sink: BaseSink, alert: Alert | str, reason: str) -> None:
        dead_letter(self.writer, sink, alert, reason)


async def _heartbeat(msg) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_S)
        try:
            await msg.in_progress()
        except Exception:  # noqa: BLE001 - disconnected: the next beat may arrive in time
            pass
