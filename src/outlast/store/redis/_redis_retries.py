"""The durable retry schedule in Redis: a sorted set of ids by due time, a hash of documents.

``take`` is one Lua script, so two beat processes racing for due retries each get distinct
ones. The sorted-set score is the truth about when a retry is due (a leased take moves it),
so reads report ``due_at`` from the score, not from the stored document.
"""

from __future__ import annotations

import json
from typing import cast

from outlast.store._records import ScheduledRetry
from outlast.store.redis._redis_client import Connection
from outlast.store.redis._redis_timeline import encode

__all__ = ["RedisRetrySchedule"]


class RedisRetrySchedule:
    """Schedules, hands out and cancels retries under ``<prefix>retries:``."""

    def __init__(self, *, prefix: str) -> None:
        self._due = f"{prefix}retries:due"
        self._items = f"{prefix}retries:items"

    async def schedule(self, conn: Connection, retry: ScheduledRetry) -> ScheduledRetry:
        """Park ``retry`` (replacing one with the same id)."""
        async with conn.client.pipeline(transaction=True) as pipe:
            pipe.hset(self._items, retry.id, encode(retry.to_document()))
            pipe.zadd(self._due, {retry.id: retry.due_at})
            await pipe.execute()
        return retry

    async def take(
        self, conn: Connection, *, now: float, limit: int, lease: float | None
    ) -> list[ScheduledRetry]:
        """Up to ``limit`` due retries, each handed to exactly one caller."""
        if limit == 0:
            return []
        rescore = "" if lease is None else repr(now + lease)
        flat: list[str] = await conn.take_due(
            keys=[self._due, self._items], args=[repr(now), limit, rescore]
        )
        return [_retry(flat[i + 1], flat[i]) for i in range(0, len(flat), 2)]

    async def find(self, conn: Connection, *, limit: int, offset: int) -> list[ScheduledRetry]:
        """Scheduled retries, soonest first."""
        if limit == 0:
            return []
        scored = cast(
            list[tuple[str, float]],
            await conn.client.zrangebyscore(
                self._due, "-inf", "+inf", start=offset, num=limit, withscores=True
            ),
        )
        if not scored:
            return []
        documents = cast(
            list[str | None],
            await conn.client.hmget(self._items, [item_id for item_id, _ in scored]),
        )
        return [
            _retry(raw, score)
            for (_, score), raw in zip(scored, documents, strict=True)
            if raw is not None
        ]

    async def count(self, conn: Connection, *, due_before: float | None) -> int:
        """How many retries are scheduled (due at or before ``due_before``)."""
        high = "+inf" if due_before is None else repr(due_before)
        return int(await conn.client.zcount(self._due, "-inf", high))

    async def cancel(self, conn: Connection, retry_id: str) -> bool:
        """Remove one retry; False if it was not scheduled."""
        async with conn.client.pipeline(transaction=True) as pipe:
            pipe.zrem(self._due, retry_id)
            pipe.hdel(self._items, retry_id)
            removed, deleted = await pipe.execute()
        return bool(removed or deleted)


def _retry(raw: str, score: str | float) -> ScheduledRetry:
    document = json.loads(raw)
    document["due_at"] = float(score)
    return ScheduledRetry.from_document(document)
