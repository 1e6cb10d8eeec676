"""One cluster bulkhead's lease set in Redis, for sync and async callers alike.

:class:`LeaseTable` is the only part of a cluster bulkhead that talks to Redis on the call
path: grant a lease (the ``ACQUIRE`` script), remove one (``ZREM``), count the live ones
(``COUNT``), and write as leases the permits taken while Redis did not answer (``RENEW``).
Every call goes through the :class:`~outlast.resilience.shared._redis_link.RedisLink`, so a Redis
that does not answer yields ``UNAVAILABLE``, never an exception; the sync and async variants
run the same scripts over the two clients.

An async grant or removal is shielded from cancellation: a cancelled caller cannot know
whether Redis already acted, so the call runs to its end, and a lease granted to a caller
that is gone is removed again rather than left to expire. This module keeps no record of
who holds what (``_held_permits`` does) and applies no policy.
"""

from __future__ import annotations

import asyncio
from typing import Any

from outlast.resilience.bulkhead._redis_bulkhead_scripts import ACQUIRE, COUNT, RENEW
from outlast.resilience.shared._redis_link import RedisLink, Unavailable

__all__ = ["LeaseTable"]


class LeaseTable:
    """The sorted set ``key`` of lease ids scored by their expiry (Redis server ms)."""

    __slots__ = ("_keys", "_limits", "key", "link")

    def __init__(self, link: RedisLink, key: str, *, capacity: int, lease_seconds: float) -> None:
        self.link = link
        self.key = key
        self._keys = [key]
        self._limits = (capacity, max(1, round(lease_seconds * 1000)))

    def grant(self, lease: str) -> bool | Unavailable:
        """Add ``lease`` if a permit is free: True if granted, False if full."""
        args = (lease, *self._limits)
        answer = self.link.call(lambda client: ACQUIRE.run(client, self._keys, args))
        return answer if isinstance(answer, Unavailable) else bool(answer)

    async def agrant(self, lease: str) -> bool | Unavailable:
        """:meth:`grant` over the async client; a cancelled caller's lease is removed again."""
        args = (lease, *self._limits)
        attempt = asyncio.ensure_future(
            self.link.acall(lambda client: ACQUIRE.arun(client, self._keys, args))
        )
        try:
            answer = await asyncio.shield(attempt)
        except asyncio.CancelledError:
            attempt.add_done_callback(lambda done: self._remove_if_granted(done, lease))
            raise
        return answer if isinstance(answer, Unavailable) else bool(answer)

    def adopt(self, leases: list[str]) -> bool:
        """Add ``leases`` whatever the count (their calls already run); False if no answer."""
        args: list[int | str] = [self._limits[1], self._limits[0], *leases]
        answer = self.link.call(lambda client: RENEW.run(client, self._keys, args))
        return not isinstance(answer, Unavailable)

    async def aadopt(self, leases: list[str]) -> bool:
        """:meth:`adopt` over the async client, completed even if the caller is cancelled."""
        args: list[int | str] = [self._limits[1], self._limits[0], *leases]
        answer = await asyncio.shield(
            self.link.acall(lambda client: RENEW.arun(client, self._keys, args))
        )
        return not isinstance(answer, Unavailable)

    def remove(self, *leases: str) -> bool:
        """Remove ``leases``; False if Redis did not answer (they expire after their time)."""
        if not leases:
            return True
        answer = self.link.call(lambda client: client.zrem(self.key, *leases))
        return not isinstance(answer, Unavailable)

    async def aremove(self, *leases: str) -> bool:
        """:meth:`remove` over the async client, completed even if the caller is cancelled."""
        if not leases:
            return True
        answer = await asyncio.shield(
            self.link.acall(lambda client: client.zrem(self.key, *leases))
        )
        return not isinstance(answer, Unavailable)

    def live(self) -> int | Unavailable:
        """How many leases are live cluster-wide now."""
        answer = self.link.call(lambda client: COUNT.run(client, self._keys, ()))
        return answer if isinstance(answer, Unavailable) else int(answer)

    def _remove_if_granted(self, attempt: asyncio.Future[Any], lease: str) -> None:
        if attempt.cancelled() or attempt.exception() is not None:
            return
        answer = attempt.result()
        if answer and not isinstance(answer, Unavailable):
            self.remove(lease)
