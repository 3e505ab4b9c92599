"""The fleet's NATS layout: connection options, stream and bucket names, subjects, partitions.

    agentlog.events.p<k>.<host>   events of the sessions of one host that hash to partition k
    agentlog.alerts.<type>        alerts, Nats-Msg-Id = alert_id (a redelivery never notifies twice)

Streams AGENTLOG_EVENTS and AGENTLOG_ALERTS; KV buckets for the fleet's settings (the
partition count), partition leases, watchdog state, workers alive, stuck heartbeats,
forwarder status and the alerts each notification sink took. `ensure(js)` creates what is missing, so any command can start first.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import ssl
import time
from dataclasses import dataclass
from functools import lru_cache
from hashlib import blake2b
from pathlib import Path
from typing import Any

from .. import _core
from ..config import default

EVENTS = "AGENTLOG_EVENTS"
ALERTS = "AGENTLOG_ALERTS"
EVENT_SUBJECTS = "agentlog.events.>"
ALERT_SUBJECTS = "agentlog.alerts.>"
CONFIG_BUCKET = "agentlog-fleet"
LEASES = "agentlog-leases"
STATE = "agentlog-watch-state"
WORKERS = "agentlog-workers"
HEARTBEATS = "agentlog-heartbeats"
FORWARDERS = "agentlog-forwarders"
DELIVERED = "agentlog-delivered"  # <sink>.<alert_id>: a notification sink took this alert
DELIVERED_TTL_S = 7 * 86400.0
DEFAULT_PARTITIONS = 8
LEASE_TTL_S = 4.0
PULL_BATCH = 128  # messages one pull request asks for (OrderedPull keeps one open ahead)
PULL_MAX_BYTES = 16 << 20
PULL_EXPIRES_S = 2.0
PULL_MIN_GAP_S = 0.05  # between two requests, unless the newest is half expired (a failing server is not flooded)
WORKER_TTL_S = 6.0

SEQ_HEADER = "Agentlog-Seq"  # "first-last": the forwarder's per (host, partition) event numbers
HOST_HEADER = "Agentlog-Host"

_TOKEN_BAD = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass
class NatsOptions:
    """How to reach the bus; auth and TLS are passed through to nats-py unchanged."""

    servers: str = default("fleet.nats")  # comma-separated
    creds: str | None = None  # NATS credentials file (JWT + nkey)
    token: str | None = None
    user: str | None = None
    password: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    name: str = "agentlog"

    def connect_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "servers": [s.strip() for s in self.servers.split(",") if s.strip()],
            "name": self.name,
            "max_reconnect_attempts": -1,
            "reconnect_time_wait": 0.25,
            "connect_timeout": 2,
            "allow_reconnect": True,
        }
        if self.creds:
            kwargs["user_credentials"] = self.creds
        if self.token:
            kwargs["token"] = self.token
        if self.user:
            kwargs["user"], kwargs["password"] = self.user, self.password
        if self.tls_ca or self.tls_cert:
            context = ssl.create_default_context(cafile=self.tls_ca)
            if self.tls_cert:
                context.load_cert_chain(self.tls_cert, self.tls_key)
            kwargs["tls"] = context
        return kwargs


async def connect(options: NatsOptions, wait: bool = True):
    """A nats-py connection that keeps reconnecting (servers die; the fleet carries on).

    nats-py gives up when no server answers the first connect; with `wait` we keep
    trying (a laptop's forwarder may start offline and forward once it is back).
    """
    import nats

    async def quiet(_exc):  # reconnects are expected; the callers see timeouts and retry
        return None

    delay = 0.25
    while True:
        try:
            return await nats.connect(error_cb=quiet, **options.connect_kwargs())
        except Exception:  # noqa: BLE001 - NoServersError, refused, TLS not yet up
            if not wait:
                raise
            await asyncio.sleep(delay)
            delay = min(5.0, delay * 2)


def token(value: str) -> str:
    """A subject-safe token (letters, digits, _ and -) that keeps distinct values distinct."""
    clean = _TOKEN_BAD.sub("_", value)[:64].strip("_") or "x"
    if clean == value:
        return clean
    return f"{clean}_{blake2b(value.encode(), digest_size=4).hexdigest()}"


def default_host(log_dir: Path) -> str:
    """This machine's name plus a short hash of the log dir: two log dirs are two hosts."""
    digest = blake2b(str(Path(log_dir).resolve()).encode(), digest_size=3).hexdigest()
    return token(f"{socket.gethostname()}-{digest}")


@lru_cache(maxsize=1 << 16)  # an attempt's events come in runs: one digest per attempt, not per event
def partition_of(attempt_id: str, partitions: int) -> int:
    """Stable across processes and machines (unlike hash()): blake2b, as the forwarder's
    native grouping computes it."""
    return _core.partition_of(attempt_id, partitions)


def event_subject(partition: int, host: str) -> str:
    return f"agentlog.events.p{partition}.{host}"


def partition_filter(partition: int) -> str:
    return f"agentlog.events.p{partition}.>"


def alert_subject(alert_type: str) -> str:
    return f"agentlog.alerts.{token(alert_type)}"


async def ensure(
    js, *, replicas: int = 1, partitions: int = DEFAULT_PARTITIONS, max_age_s: float = 0, stuck_ttl_s: float = 300.0
) -> int:
    """Create the streams and buckets when missing; returns the fleet's partition count.

    The partition count is fixed by whoever creates the fleet first (kept in KV), so
    forwarders and workers always agree even when started with different flags.
    """
    from nats.js.api import KeyValueConfig, StorageType, StreamConfig
    from nats.js.errors import BadRequestError, KeyWrongLastSequenceError

    streams = [
        StreamConfig(
            name=EVENTS,
            subjects=[EVENT_SUBJECTS],
            num_replicas=replicas,
            storage=StorageType.FILE,
            duplicate_window=120.0,
            max_age=max_age_s,
            allow_direct=True,
        ),
        StreamConfig(
            name=ALERTS,
            subjects=[ALERT_SUBJECTS],
            num_replicas=replicas,
            storage=StorageType.FILE,
            duplicate_window=24 * 3600.0,
            allow_direct=True,
        ),
    ]

    async def stream(config: StreamConfig) -> None:
        try:
            await js.stream_info(config.name)
        except Exception:  # noqa: BLE001 - NotFound, or a cluster still electing: try to add
            try:
                await js.add_stream(config)
            except BadRequestError:
                pass  # added concurrently by another process

    async def bucket(config: KeyValueConfig) -> None:
        try:
            await js.key_value(config.bucket)
        except Exception:  # noqa: BLE001
            try:
                await js.create_key_value(config)
            except BadRequestError:
                pass
            return
        if config.limit_marker_ttl:
            await _add_markers(js, config)

    buckets = [
        KeyValueConfig(bucket=CONFIG_BUCKET, replicas=replicas),
        # an expired lease leaves a marker (nats-server 2.11+), so the other workers hear of it at once
        KeyValueConfig(bucket=LEASES, ttl=LEASE_TTL_S, replicas=replicas, limit_marker_ttl=LEASE_TTL_S),
        KeyValueConfig(bucket=STATE, replicas=replicas, max_value_size=8 << 20),
        KeyValueConfig(bucket=WORKERS, ttl=WORKER_TTL_S, replicas=replicas),
        KeyValueConfig(bucket=HEARTBEATS, replicas=replicas, limit_marker_ttl=max(60.0, stuck_ttl_s)),
        KeyValueConfig(bucket=FORWARDERS, replicas=replicas),
        KeyValueConfig(bucket=DELIVERED, ttl=DELIVERED_TTL_S, replicas=replicas),
    ]
    # each a round trip or two: asked all at once, a start waits for the slowest, not the sum
    await asyncio.gather(*map(stream, streams), *map(bucket, buckets))
    kv = await js.key_value(CONFIG_BUCKET)
    try:
        await kv.create("partitions", str(partitions).encode())
    except KeyWrongLastSequenceError:
        pass
    except Exception as exc:  # noqa: BLE001 - nats-py raises KeyWrongLastSequence as APIError on some paths
        if getattr(exc, "err_code", None) != 10071:
            raise
    return int((await kv.get("partitions")).value)


async def _add_markers(js, config) -> None:
    """Expiry markers for a bucket made before they were asked for (an upgraded fleet), so its
    watchers hear of expiries; a server that cannot (before 2.11) keeps the bucket as it was."""
    from dataclasses import replace

    try:
        stream = (await js.stream_info(f"KV_{config.bucket}")).config
        if not stream.subject_delete_marker_ttl:
            await js.update_stream(
                replace(stream, subject_delete_marker_ttl=config.limit_marker_ttl, allow_msg_ttl=True)
            )
    except Exception:  # noqa: BLE001 - an older server, or a cluster electing: expiries are polled
        pass


async def fetch_ready(sub, batch: int, wait: float) -> list:
    """Up to `batch` messages as soon as there is one, else [] after `wait` seconds.

    nats-py's fetch(batch) keeps a lingering pull open until the batch is full or the
    timeout passes, which would hold the first message back for up to `wait`: so wait
    for one message, then take whatever else is ready without waiting. Any failure but the
    timeout is raised: one that comes at once (a closed connection), taken as "nothing new",
    was fetched again at once by the caller, a loop that starved every other task.
    """
    try:
        msgs = await sub.fetch(1, timeout=wait)
    except asyncio.TimeoutError:  # nothing new (nats' TimeoutError is one too)
        return []
    if batch > 1:
        try:
            msgs += await sub.fetch(batch - 1, timeout=0.005)
        except Exception:  # noqa: BLE001 - nothing more right now
            pass
    return msgs


class OrderedPull:
    """A durable pull consumer read strictly in stream order from a known sequence.

    It keeps a pull request open ahead of the reader (`PULL_BATCH` messages, renewed when
    half used or half expired), so the server sends each message the moment it is stored
    and taking the next ones costs no round trip (a fetch per read costs two, and each
    waits for both processes to be scheduled: on a busy machine that was most of the
    publish-to-alert time).

    A message in flight when a server dies is lost to this client but counted as
    delivered, and the next ack (AckPolicy.ALL) would acknowledge it unseen. Every
    delivery has a consumer sequence that grows by one, so a jump is a lost message:
    the consumer is then recreated right after the last message handed out. Recreating
    also resets it on takeover, from the position saved with the owner's state.
    """

    def __init__(self, js, stream: str, name: str, filter_subject: str | None = None):
        self.js, self.stream, self.name, self.filter_subject = js, stream, name, filter_subject
        self.nc = js._nc  # nats-py keeps no public handle; pull requests are plain requests on it
        self.sub = None
        self.queue: asyncio.Queue = asyncio.Queue()
        self.expected = 1
        self.last = 0
        self.owed = 0  # messages the open pull requests may still deliver
        self.asked = 0.0  # when the newest pull request was sent (monotonic)

    async def start(self, after: int) -> None:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        await self.close()
        try:
            await self.js.delete_consumer(self.stream, self.name)
        except Exception:  # noqa: BLE001 - not there yet
            pass
        start = (
            {"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": after + 1}
            if after
            else {"deliver_policy": DeliverPolicy.ALL}
        )
        await self.js.add_consumer(
            self.stream,
            ConsumerConfig(
                durable_name=self.name,
                filter_subject=self.filter_subject,
                ack_policy=AckPolicy.ALL,
                ack_wait=60.0,
                max_ack_pending=-1,
                **start,
            ),
        )
        queue: asyncio.Queue = asyncio.Queue()  # a fresh inbox: nothing of the old consumer lands here

        async def take(msg) -> None:
            queue.put_nowait(msg)

        self.sub, self.queue = await self.nc.subscribe(self.nc.new_inbox(), cb=take), queue
        self.expected, self.last, self.owed, self.asked = 1, after, 0, 0.0

    async def fetch(self, batch: int, wait: float) -> list:
        """The next messages in order, up to `batch` ([] when none came within `wait`)."""
        if self.sub is None:
            await self.start(self.last)
        msgs = []
        deadline = time.monotonic() + wait
        while len(msgs) < batch:
            await self._ask()
            if msgs or not self.queue.empty():
                if self.queue.empty():
                    break
                msg = self.queue.get_nowait()
            else:
                try:
                    msg = await asyncio.wait_for(self.queue.get(), max(0.0, deadline - time.monotonic()))
                except asyncio.TimeoutError:
                    break
            delivered = self._delivered(msg)
            if delivered is None:  # the consumer is gone: made again after the last message taken
                await self._restart()
                break
            if not delivered:
                continue
            if msg.metadata.sequence.consumer != self.expected:
                await self._restart()
                break
            self.expected += 1
            self.last = msg.metadata.sequence.stream
            msgs.append(msg)
        return msgs

    def _delivered(self, msg) -> bool | None:
        """True for a stream message; a status (request expired or ended) closes what it owed;
        None when the consumer no longer exists (deleted by hand or by the server): a pull
        request then gets 503 (no responders), forever. A 409 Consumer Deleted is only asked
        anew: on a takeover the new owner has made the consumer again under the same name."""
        headers = msg.headers or {}
        status = headers.get("Status") if not msg.data else None
        if status is None:
            self.owed = max(0, self.owed - 1)
            return True
        if status == "503":
            return None
        if status == "408":  # a request expired: what it still owed will not come
            self.owed = max(0, self.owed - int(headers.get("Nats-Pending-Messages", self.owed)))
        elif status != "100":  # ended otherwise (409 leader change, deleted, max bytes): ask anew
            self.owed = 0
        return False

    async def _restart(self) -> None:
        """The consumer made again right after the last message handed out."""
        try:
            await self.start(self.last)
        except Exception:  # noqa: BLE001 - retried on the next fetch
            self.sub = None

    async def _ask(self) -> None:
        """Keep a pull request open ahead of the reader: a new one when the open ones are
        half used or the newest is half expired (the server answers the oldest first)."""
        now = time.monotonic()
        since = now - self.asked
        if since < PULL_EXPIRES_S / 2 and (self.owed > PULL_BATCH // 2 or since < PULL_MIN_GAP_S):
            return
        request = {"batch": PULL_BATCH, "max_bytes": PULL_MAX_BYTES, "expires": int(PULL_EXPIRES_S * 1e9)}
        await self.nc.publish(
            f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self.name}",
            json.dumps(request).encode(),
            reply=self.sub.subject,
        )
        self.owed += PULL_BATCH
        self.asked = now

    async def close(self) -> None:
        if self.sub is not None:
            try:
                await self.sub.unsubscribe()
            except Exception:  # noqa: BLE001
                pass
            self.sub = None
