"""Optimistic read-modify-write of one Redis key (WATCH, GET, MULTI ... EXEC, retry).

Used where a change depends on the stored JSON document (merging an alert, marking a
dead letter replayed): Lua would have to decode and re-encode the document, and Lua's
JSON library does not round-trip every document (empty lists become objects).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

import redis.asyncio
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from outlast.store._errors import StoreUnavailableError

__all__ = ["MAX_TRIES", "Plan", "transact"]

T = TypeVar("T")

MAX_TRIES = 50

#: Given the stored value (or None), what to return and what to write (None: write nothing).
Plan = Callable[[str | None], tuple[T, Callable[[Pipeline], object] | None]]


async def transact(client: redis.asyncio.Redis, key: str, plan: Plan[T]) -> T:
    """Run ``plan`` on the value at ``key`` and apply its writes, all or nothing."""
    async with client.pipeline(transaction=True) as pipe:
        for _ in range(MAX_TRIES):
            try:
                await pipe.watch(key)
                result, write = plan(cast(str | None, await pipe.get(key)))
                if write is None:
                    return result
                pipe.multi()  # type: ignore[no-untyped-call]
                write(pipe)
                await pipe.execute()
                return result
            except WatchError:
                continue
    raise StoreUnavailableError(
        f"{key!r} changed {MAX_TRIES} times in a row while being updated",
        backend="redis",
        operation="transact",
    )
