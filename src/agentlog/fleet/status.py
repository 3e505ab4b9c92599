"""`fleet status`: streams, consumers, lag per machine, workers alive, partition owners, agents alive."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from . import bus


async def fleet_status(nats: bus.NatsOptions) -> dict[str, Any]:
    """Everything `fleet status` shows, as plain data (the CLI renders it)."""
    nc = await bus.connect(nats, wait=False)
    js = nc.jetstream(timeout=3)
    try:
        report: dict[str, Any] = {
            "servers": [u.geturl() for u in nc.servers],
            "streams": [],
            "consumers": [],
            "machines": [],
            "workers": [],
            "leases": {},
            "agents_alive": 0,
        }
        for name in (bus.EVENTS, bus.ALERTS):
            try:
                info = await js.stream_info(name)
            except Exception:  # noqa: BLE001 - not created yet
                continue
            cluster = info.cluster
            report["streams"].append(
                {
                    "stream": name,
                    "messages": info.state.messages,
                    "bytes": info.state.bytes,
                    "last_seq": info.state.last_seq,
                    "replicas": info.config.num_replicas,
                    "leader": getattr(cluster, "leader", None) if cluster else None,
                }
            )
            for consumer in await js.consumers_info(name):
                report["consumers"].append(
                    {
                        "stream": name,
                        "consumer": consumer.name,
                        "pending": consumer.num_pending,
                        "ack_pending": consumer.num_ack_pending,
                        "delivered": consumer.delivered.stream_seq if consumer.delivered else 0,
                    }
                )
        now = time.time()
        for entry in await _entries(js, bus.FORWARDERS):
            value = msgspec.json.decode(entry.value)
            value["seen_s_ago"] = round(now - value.get("updated", 0), 1)
            report["machines"].append(value)
        for entry in await _entries(js, bus.WORKERS):
            report["workers"].append(msgspec.json.decode(entry.value))
        for entry in await _entries(js, bus.LEASES):
            report["leases"][entry.key] = entry.value.decode()
        report["agents_alive"] = len(await _entries(js, bus.HEARTBEATS, values=False))
        return report
    finally:
        await nc.close()


async def _entries(js, bucket: str, values: bool = True) -> list[Any]:
    """Live entries of a bucket (expired heartbeats and deleted keys are not listed)."""
    from nats.js.errors import KeyDeletedError, KeyNotFoundError, NoKeysError

    try:
        kv = await js.key_value(bucket)
        keys = await kv.keys()
    except NoKeysError:
        return []
    except Exception:  # noqa: BLE001 - bucket not created yet
        return []
    if not values:
        return keys
    found = []
    for key in keys:
        try:
            found.append(await kv.get(key))
        except (KeyNotFoundError, KeyDeletedError):
            continue
    return found
