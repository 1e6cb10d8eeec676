"""Idempotency keys in Redis: one hash per key, changed only by Lua scripts.

Hash fields: ``state`` (pending/completed), ``token``, ``claimed_at``, ``lease_expires_at``,
``completed_at``, ``result`` (JSON text). A claim compares ``lease_expires_at`` with the
store's clock, so an injected clock decides when a lease has lapsed; the key's Redis TTL
(the lease while pending, the retention once completed) only cleans up afterwards.
"""

from __future__ import annotations

import json
from typing import Any, cast

from outlast._clock import Clock
from outlast.store._document import new_id
from outlast.store._fields import check_json
from outlast.store._idempotency import (
    ClaimStatus,
    IdempotencyClaim,
    IdempotencyRecord,
    check_key,
    check_lease,
)
from outlast.store.redis._redis_client import Connection
from outlast.store.redis._redis_timeline import ttl_ms

__all__ = ["IdempotencyScripts", "RedisIdempotency", "claimed", "encode_result"]


def encode_result(result: Any) -> str:
    """A completed result as JSON text, after checking it is plain JSON."""
    return json.dumps(check_json("IdempotencyRecord", "result", result), allow_nan=False)


class IdempotencyScripts:
    """What the idempotency scripts take and what their replies mean, without I/O, so the
    async store and the workers' sync claims (``_redis_sync_claims``) speak alike."""

    def __init__(self, *, prefix: str, retention: float, clock: Clock) -> None:
        self._prefix = f"{prefix}idempotency:"
        self._retention = retention
        self._clock = clock

    def key(self, key: str) -> str:
        """The Redis key of idempotency key ``key``."""
        return self._prefix + check_key(key)

    def claim_args(self, lease: float) -> tuple[str, float, list[str | int]]:
        """A new token, the lease's end and the CLAIM script's arguments."""
        seconds = check_lease(lease)
        now, token = self._clock.time(), new_id()
        expires = now + seconds
        return token, expires, [token, repr(now), repr(expires), ttl_ms(seconds)]

    def complete_args(self, token: str, result: Any) -> list[str | int]:
        """The COMPLETE script's arguments (the result checked and encoded)."""
        now = repr(self._clock.time())
        return [token, now, encode_result(result), ttl_ms(self._retention)]

    def renew_args(self, token: str, lease: float) -> list[str | int]:
        """The RENEW script's arguments."""
        seconds = check_lease(lease)
        return [token, repr(self._clock.time() + seconds), ttl_ms(seconds)]


def claimed(key: str, token: str, expires: float, reply: Any) -> IdempotencyClaim:
    """What the CLAIM script's ``reply`` means for the claim made with ``token``."""
    status, value = reply
    if status == "completed":
        return IdempotencyClaim(key=key, status=ClaimStatus.COMPLETED, result=json.loads(value))
    if status == "in_progress":
        return IdempotencyClaim(
            key=key, status=ClaimStatus.IN_PROGRESS, lease_expires_at=float(value)
        )
    return IdempotencyClaim(
        key=key, status=ClaimStatus.ACQUIRED, token=token, lease_expires_at=expires
    )


class RedisIdempotency(IdempotencyScripts):
    """Claims, completes and releases idempotency keys under ``<prefix>idempotency:``."""

    async def claim(self, conn: Connection, key: str, *, lease: float) -> IdempotencyClaim:
        """Claim ``key`` (see ``Store.claim_idempotency``)."""
        redis_key = self.key(key)
        token, expires, args = self.claim_args(lease)
        return claimed(key, token, expires, await conn.claim(keys=[redis_key], args=args))

    async def complete(self, conn: Connection, key: str, token: str, result: Any) -> bool:
        """Record ``result`` for the claim held with ``token``."""
        args = self.complete_args(token, result)
        return bool(await conn.complete(keys=[self.key(key)], args=args))

    async def renew(self, conn: Connection, key: str, token: str, *, lease: float) -> bool:
        """Extend the pending claim held with ``token`` to ``lease`` seconds from now."""
        args = self.renew_args(token, lease)
        return bool(await conn.renew(keys=[self.key(key)], args=args))

    async def release(self, conn: Connection, key: str, token: str) -> bool:
        """Drop the pending claim held with ``token``."""
        return bool(await conn.release(keys=[self.key(key)], args=[token]))

    async def get(self, conn: Connection, key: str) -> IdempotencyRecord | None:
        """The stored state of ``key``, or None."""
        fields = cast(dict[str, str], await conn.client.hgetall(self.key(key)))
        if not fields:
            return None
        return IdempotencyRecord(
            key=key,
            state=fields["state"],  # type: ignore[arg-type]  # checked by the record
            token=fields.get("token"),
            claimed_at=_float(fields.get("claimed_at")),
            lease_expires_at=_float(fields.get("lease_expires_at")),
            completed_at=_float(fields.get("completed_at")),
            result=json.loads(fields["result"]) if "result" in fields else None,
        )


def _float(value: str | None) -> float | None:
    return None if value is None else float(value)
