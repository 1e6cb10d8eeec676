"""Cluster bulkhead: one capacity shared by every process that uses the same Redis.

:class:`ClusterBulkhead` has the :class:`~outlast.resilience.bulkhead._bulkhead.Bulkhead` API
(``try_acquire``, ``acquire``, ``acquire_sync``, ``release``, ``with``/``async with``,
``stats``) and is a ``Bulkhead``, so ``handle_errors`` and users cannot tell them apart.

A permit is a lease in a Redis sorted set (``_lease_table``): one Lua call drops expired
leases and adds ours if fewer than ``capacity`` are live, atomically, so the capacity is
never exceeded across processes. A lease expires ``lease`` seconds after it was granted or
last renewed (Redis server time), so the permit of a process killed mid-call comes back by
itself; a long call keeps its permit because the link's renewer thread (``_lease_renewer``)
extends leases held longer than a third of the lease time. ``release()`` names no permit,
as in the seed: this process remembers what it holds (``_held_permits``) and gives back one
of it; over-releasing is an error, as locally.

Waiting polls with backoff (2 ms doubling to 50 ms) through the injected clock: the sync
path with the sync client and ``clock.sleep``, the async path with ``redis.asyncio`` and
``clock.asleep``, so a waiting coroutine never blocks its loop. There is no FIFO order
across processes. ``try_acquire`` and ``release`` are plain methods in the seed's API, so
they use the sync client (one short round trip) even when called from a coroutine;
``async with`` uses the async client both ways.

Redis errors never reach the caller. While Redis does not answer, ``down_policy`` decides:
"local" takes permits from a per-process ledger of the same capacity (leases this process
still holds count against it; the cluster-wide capacity is then *not* guaranteed),
"fail_open" admits every call, "fail_closed" rejects every call at once. Once Redis answers
again, the permits still held that way are written as leases (before this process's next
grant, or by the renewer), so the calls they admitted count against the capacity while they
run and nobody is admitted past it; new permits are leases again. A grant that was sent but
got no answer (a timeout) may have been granted for nobody: its lease is removed then too.
"""

from __future__ import annotations

import itertools
import os
import secrets
import threading
from collections.abc import Iterator
from types import TracebackType

from outlast._clock import SYSTEM_CLOCK, Clock
from outlast.config import BulkheadConfig, get_settings
from outlast.resilience.bulkhead._bulkhead import Bulkhead, BulkheadStats
from outlast.resilience.bulkhead._held_permits import HeldPermits
from outlast.resilience.bulkhead._lease_table import LeaseTable
from outlast.resilience.shared._lease_renewer import LeaseRenewer, renewer_for
from outlast.resilience.shared._redis_link import RedisLink, Unavailable
from outlast.resilience.shared._scope import DownPolicy

__all__ = ["ClusterBulkhead", "ClusterBulkheadStats", "DownPolicy"]


_DEGRADED_MODE: dict[str, str] = {
    "local": "local-fallback",
    "fail_open": "fail-open",
    "fail_closed": "fail-closed",
}
_FIRST_DELAY = 0.002
_LONGEST_DELAY = 0.05
_lease_numbers = itertools.count()


class ClusterBulkheadStats(BulkheadStats):
    """:class:`BulkheadStats` plus where the permits live.

    ``scope`` is always "cluster"; ``mode`` is "cluster" while Redis answers, else
    "local-fallback", "fail-open" or "fail-closed" (the ``down_policy``). While Redis
    answers, ``active_count`` is the cluster-wide count of live leases plus the permits this
    process took while it was down; while it is down, only this process's own permits.
    ``waiting_count`` and the totals are this process's.
    """

    scope: str
    mode: str


class ClusterBulkhead(Bulkhead):
    """A bulkhead whose permits are leases in Redis, shared by every process of the cluster.

    ``link`` names the Redis and namespace; every process must use the same ``capacity``
    for a name. ``lease`` (seconds, default ``Settings.bulkhead_lease``) is how long a
    permit outlives a dead holder; ``down_policy`` (default ``Settings.redis_down_policy``)
    is what happens while Redis does not answer; ``clock`` paces the waiting.
    """

    async_admission = True

    __slots__ = (
        "__weakref__",
        "_held",
        "_id_prefix",
        "_pid",
        "_renewer",
        "_table",
        "_waiting",
        "clock",
        "down_policy",
        "lease_seconds",
    )

    def __init__(
        self,
        name: str,
        *,
        link: RedisLink,
        config: BulkheadConfig | None = None,
        lease: float | None = None,
        down_policy: DownPolicy | None = None,
        clock: Clock | None = None,
    ) -> None:
        # The base's lock and counters serve here too; its ledger becomes a HeldPermits.
        super().__init__(name, config=config)
        settings = get_settings()
        self.lease_seconds = lease if lease is not None else settings.bulkhead_lease
        if not self.lease_seconds > 0:
            raise ValueError(f"lease must be > 0 seconds, got {self.lease_seconds!r}")
        self.down_policy: DownPolicy = down_policy or settings.redis_down_policy
        if self.down_policy not in _DEGRADED_MODE:
            raise ValueError(f"unknown down_policy {self.down_policy!r}")
        self.clock = clock or SYSTEM_CLOCK
        self._table = LeaseTable(
            link,
            link.key("bh", name),
            capacity=self.config.capacity,
            lease_seconds=self.lease_seconds,
        )
        self._renewer: LeaseRenewer | None = None
        self._forget_held()

    def __repr__(self) -> str:
        return f"ClusterBulkhead({self.name!r}, capacity={self.capacity}, key={self.lease_key!r})"

    @property
    def link(self) -> RedisLink:
        """The Redis connection (and namespace) its leases go through."""
        return self._table.link

    @property
    def lease_key(self) -> str:
        """The Redis sorted set that holds this bulkhead's leases."""
        return self._table.key

    @property
    def active_count(self) -> int:
        """Permits held right now: cluster-wide while Redis answers (see the stats)."""
        return self.stats()["active_count"]

    @property
    def available(self) -> int:
        """Permits free right now, cluster-wide while Redis answers."""
        return max(0, self.capacity - self.active_count)

    # -- taking and giving permits -------------------------------------------------------

    def try_acquire(self) -> bool:
        """Take a free permit without waiting (one round trip); True on success."""
        return self._settle(*self._grant()) is True

    def acquire_sync(self, timeout: float | None = None) -> bool:
        """Take a permit, polling up to ``timeout`` seconds; False if none came.

        ``timeout=None`` waits ``config.timeout``; ``0`` (or less) does not wait at all.
        """
        verdict = self._settle(*self._grant())
        if verdict is False and self._wait_limit(timeout) > 0:
            self._count_waiter(+1)
            try:
                for delay in self._delays(self._wait_limit(timeout)):
                    self.clock.sleep(delay)
                    verdict = self._settle(*self._grant())
                    if verdict is not False:
                        break
            finally:
                self._count_waiter(-1)
        return verdict is True or self._reject()

    async def acquire(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 (seed API)
        """Take a permit, waiting up to ``timeout`` seconds without blocking the loop.

        ``timeout=None`` waits ``config.timeout``; ``0`` (or less) does not wait at all.
        """
        verdict = self._settle(*await self._agrant())
        if verdict is False and self._wait_limit(timeout) > 0:
            self._count_waiter(+1)
            try:
                for delay in self._delays(self._wait_limit(timeout)):
                    await self.clock.asleep(delay)
                    verdict = self._settle(*await self._agrant())
                    if verdict is not False:
                        break
            finally:
                self._count_waiter(-1)
        return verdict is True or self._reject()

    def release(self) -> None:
        """Give back one permit this process holds: a local one first, else a lease."""
        lease = self._unhold()
        if lease is not None:
            self._table.remove(lease)

    async def arelease(self) -> None:
        """``release`` that never blocks the loop: the lease goes back via redis.asyncio."""
        lease = self._unhold()
        if lease is not None:
            await self._table.aremove(lease)

    async def __aenter__(self) -> ClusterBulkhead:
        # Unlike the base class, no sync probe first: the loop never waits on a socket.
        if await self.acquire():
            return self
        raise self._capacity_error()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.arelease()

    def stats(self) -> ClusterBulkheadStats:
        """Capacity, occupancy (cluster-wide while Redis answers), counters and mode."""
        self._check_fork()
        live = self._table.live()
        with self._lock:
            held = self._held
            if isinstance(live, Unavailable):
                active, mode = held.in_use, _DEGRADED_MODE[self.down_policy]
            else:
                active, mode = live + held.local + held.open, "cluster"
            counts = self._tally.stats(
                name=self.name,
                capacity=self.config.capacity,
                active=active,
                waiting=self._waiting,
            )
        return {**counts, "scope": "cluster", "mode": mode}

    # -- what the lease renewer asks -----------------------------------------------------

    def due_leases(self) -> tuple[list[str], float]:
        """Ids of the leases held longer than a third of the lease time, and the time now."""
        now = self.clock.monotonic()
        with self._lock:
            return self._held.due(now - self.lease_seconds / 3), now

    def leases_renewed(self, renewed: list[str], at: float) -> None:
        """Mark ``renewed`` leases fresh as of ``at``; any released meanwhile go again."""
        with self._lock:
            released = self._held.renewed(renewed, at)
        self._table.remove(*released)

    def catch_up(self) -> None:
        """If Redis answers now: write the permits taken while it did not as leases, and
        remove the leases it may have granted to grants whose answer never came."""
        leases = [self._new_lease() for _ in range(self._held.unwritten)]
        if leases and self._table.adopt(leases):
            self._table.remove(*self._adopted(leases))
        unanswered = self._take_unanswered()
        if unanswered and not self._table.remove(*unanswered):
            self._keep_unanswered(unanswered)

    async def _acatch_up(self) -> None:
        """:meth:`catch_up` over the async client."""
        leases = [self._new_lease() for _ in range(self._held.unwritten)]
        if leases and await self._table.aadopt(leases):
            await self._table.aremove(*self._adopted(leases))
        unanswered = self._take_unanswered()
        if unanswered and not await self._table.aremove(*unanswered):
            self._keep_unanswered(unanswered)

    def _adopted(self, leases: list[str]) -> list[str]:
        """Hold ``leases`` (now in Redis) instead of as many unwritten permits; returns the
        ones to remove again, their permits having been given back meanwhile."""
        with self._lock:
            return self._held.adopt(leases, self.clock.monotonic())

    def _take_unanswered(self) -> list[str]:
        """Forget the unanswered grants, to remove them now."""
        with self._lock:
            unanswered = list(self._held.unanswered)
            self._held.unanswered.clear()
        return unanswered

    def _keep_unanswered(self, leases: list[str]) -> None:
        """Remember ``leases`` again: Redis did not answer their removal."""
        with self._lock:
            self._held.unanswered.extendleft(reversed(leases))

    # -- internals -----------------------------------------------------------------------

    def _grant(self) -> tuple[bool | Unavailable, str]:
        """Ask Redis for a new lease, first catching up with what it missed while away."""
        if self._held.unwritten or self._held.unanswered:
            self.catch_up()
        lease, sent = self._new_lease(), self._table.link.available
        answer = self._table.grant(lease)
        self._note_if_unanswered(answer, lease, sent=sent)
        return answer, lease

    async def _agrant(self) -> tuple[bool | Unavailable, str]:
        if self._held.unwritten or self._held.unanswered:
            await self._acatch_up()
        lease, sent = self._new_lease(), self._table.link.available
        answer = await self._table.agrant(lease)
        self._note_if_unanswered(answer, lease, sent=sent)
        return answer, lease

    def _note_if_unanswered(self, answer: bool | Unavailable, lease: str, *, sent: bool) -> None:
        """Remember a grant that was sent but got no answer: Redis may have granted it."""
        if sent and isinstance(answer, Unavailable):
            with self._lock:
                self._held.unanswered.append(lease)
            self._watch()  # the renewer removes it once Redis answers, if nobody asks sooner

    def _settle(self, granted: bool | Unavailable, lease: str) -> bool | None:
        """Record a granted lease; with no answer from Redis apply the down policy.

        True: a permit is held. False: none is free. None: refused because Redis is down
        and the policy is fail_closed (so waiting is pointless).
        """
        if isinstance(granted, Unavailable):
            return self._take_without_redis()
        if not granted:
            return False
        with self._lock:
            self._held.add_lease(lease, self.clock.monotonic())
            self._tally.acquired += 1
        self._watch()
        return True

    def _take_without_redis(self) -> bool | None:
        if self.down_policy == "fail_closed":
            return None
        with self._lock:
            if self.down_policy == "fail_open":
                self._held.take_open()
            elif not self._held.take():
                return False
            self._tally.acquired += 1
        self._watch()  # the renewer writes this permit as a lease once Redis answers
        return True

    def _watch(self) -> None:
        """Make sure this process's renewer serves this bulkhead."""
        renewer = self._renewer
        if renewer is None or not renewer.running:
            self._renewer = renewer = renewer_for(self._table.link)
            renewer.watch(self)

    def _unhold(self) -> str | None:
        """Forget one held permit: the lease id to remove from Redis, None if it was local."""
        self._check_fork()
        with self._lock:
            if self._held.give():
                return None
            lease = self._held.pop_lease()
        if lease is None:
            raise RuntimeError(f"bulkhead {self.name!r} released more often than acquired")
        return lease

    def _delays(self, wait: float) -> Iterator[float]:
        """Sleeps between polls: 2 ms doubling to 50 ms, the last one cut to the deadline."""
        clock = self.clock
        deadline = clock.monotonic() + wait
        delay = _FIRST_DELAY
        while (remaining := deadline - clock.monotonic()) > 0:
            yield min(delay, remaining)
            delay = min(delay * 2, _LONGEST_DELAY)

    def _count_waiter(self, change: int) -> None:
        with self._lock:
            self._waiting += change

    def _new_lease(self) -> str:
        """A lease id no other process or attempt uses."""
        self._check_fork()
        return f"{self._id_prefix}{next(_lease_numbers)}"

    def _check_fork(self) -> None:
        if self._pid != os.getpid():
            self._forget_held()

    def _forget_held(self) -> None:
        """Start with nothing held (at creation, and in a forked child: the parent holds)."""
        self._pid = os.getpid()
        self._lock = threading.Lock()  # a fork may have copied it locked
        self._id_prefix = f"{self._pid}.{secrets.token_hex(4)}."
        self._held = HeldPermits(self.config.capacity)
        self._ledger = self._held
        self._waiting = 0
