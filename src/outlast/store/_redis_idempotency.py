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
from outlast.store._redis_client import Connection
from outlast.store._redis_timeline import ttl_ms

__all__ = ["RedisIdempotency", "encode_result"]


def encode_result(result: Any) -> str:
    """A completed result as JSON text, after checking it is plain JSON."""
    return json.dumps(check_json("IdempotencyRecord", "result", result), allow_nan=False)


class RedisIdempotency:
    """Claims, completes and releases idempotency keys under ``<prefix>idempotency:``."""

    def __init__(self, *, prefix: str, retention: float, clock: Clock) -> None:
        self._prefix = f"{prefix}idempotency:"
        self._retention = retention
        self._clock = clock

    def key(self, key: str) -> str:
        """The Redis key of idempotency key ``key``."""
        return self._prefix + check_key(key)

    async def claim(self, conn: Connection, key: str, *, lease: float) -> IdempotencyClaim:
        """Claim ``key`` (see ``Store.claim_idempotency``)."""
        seconds = check_lease(lease)
        now, token = self._clock.time(), new_id()
        expires = now + seconds
        args: list[str | int] = [token, repr(now), repr(expires), ttl_ms(seconds)]
        status, value = await conn.claim(keys=[self.key(key)], args=args)
        if status == "completed":
            return IdempotencyClaim(key=key, status=ClaimStatus.COMPLETED, result=json.loads(value))
        if status == "in_progress":
            return IdempotencyClaim(
                key=key, status=ClaimStatus.IN_PROGRESS, lease_expires_at=float(value)
            )
        return IdempotencyClaim(
            key=key, status=ClaimStatus.ACQUIRED, token=token, lease_expires_at=expires
        )

    async def complete(self, conn: Connection, key: str, token: str, result: Any) -> bool:
        """Record ``result`` for the claim held with ``token``."""
        args: list[str | int] = [
            token,
            repr(self._clock.time()),
            encode_result(result),
            ttl_ms(self._retention),
        ]
        return bool(await conn.complete(keys=[self.key(key)], args=args))

    async def renew(self, conn: Connection, key: str, token: str, *, lease: float) -> bool:
        """Extend the pending claim held with ``token`` to ``lease`` seconds from now."""
        seconds = check_lease(lease)
        expires = self._clock.time() + seconds
        args: list[str | int] = [token, repr(expires), ttl_ms(seconds)]
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
