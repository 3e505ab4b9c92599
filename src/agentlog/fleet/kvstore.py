"""State in JetStream KV: fenced saves for watchdog state, expiring heartbeats for agents.

`FencedState` is the fleet's `save/load` persistence (a file on one machine, KV here):
every save names the revision it read, so a worker that lost its lease (paused, cut
off) cannot overwrite the state the new owner already moved on from.

`Heartbeats` keeps one key per active attempt with a per-message TTL of the stuck
threshold: the key of an agent that keeps working is renewed, the key of a stuck one
expires (and a finished one is deleted), so the bucket's live keys are the agents alive.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from . import bus


class Fenced(RuntimeError):
    """Someone else saved since we loaded: we no longer own this state."""


class FencedState:
    def __init__(self, kv):
        self.kv = kv

    async def load(self, key: str) -> tuple[dict[str, Any] | None, int]:
        from nats.js.errors import KeyDeletedError, KeyNotFoundError

        try:
            entry = await self.kv.get(key)
        except (KeyNotFoundError, KeyDeletedError):
            return None, 0
        return msgspec.json.decode(entry.value), entry.revision

    async def save(self, key: str, value: dict[str, Any], revision: int) -> int:
        """Write if nobody wrote since `revision` (0: the key must not exist); the new revision."""
        from nats.js.errors import KeyWrongLastSequenceError

        data = msgspec.json.encode(value)
        try:
            if revision:
                return await self.kv.update(key, data, last=revision)
            return await self.kv.create(key, data)
        except KeyWrongLastSequenceError:
            raise Fenced(key) from None
        except Exception as exc:  # noqa: BLE001 - some paths raise the bare APIError 10071
            if getattr(exc, "err_code", None) == 10071:
                raise Fenced(key) from None
            raise


class Heartbeats:
    """Per-attempt liveness keys that expire after the stuck threshold (fire and forget)."""

    def __init__(self, nc, ttl_s: float, every_s: float = 1.0):
        self.nc = nc
        self.ttl = f"{max(1, int(ttl_s))}s"
        self.every_s = every_s
        self._last: dict[str, float] = {}

    def due(self, attempt_id: str) -> bool:
        """Whether this attempt's key is to be renewed now (at most once per `every_s`);
        asked before the caller builds the value, which most events do not need."""
        return time.monotonic() - self._last.get(attempt_id, -1e9) >= self.every_s

    async def touch(self, attempt_id: str, info: dict[str, Any]) -> None:
        if len(self._last) > 100_000:
            self._last.clear()  # bounded: at worst a few early renewals
        self._last[attempt_id] = time.monotonic()
        await self.nc.publish(self._subject(attempt_id), msgspec.json.encode(info), headers={"Nats-TTL": self.ttl})

    async def end(self, attempt_id: str) -> None:
        self._last.pop(attempt_id, None)
        await self.nc.publish(self._subject(attempt_id), b"", headers={"KV-Operation": "DEL"})

    @staticmethod
    def _subject(attempt_id: str) -> str:
        return f"$KV.{bus.HEARTBEATS}.{bus.token(attempt_id)}"
