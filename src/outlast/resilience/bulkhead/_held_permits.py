"""What one process holds of a cluster bulkhead: its leases and its degraded-mode permits.

A :class:`~outlast.resilience.bulkhead._redis_bulkhead.ClusterBulkhead` hands out three kinds of
permit: a *lease* in Redis (the normal case), a *local* permit from a per-process ledger of
the same capacity (Redis down, policy "local"), and an *open* permit that nothing limits
(Redis down, policy "fail_open"). :class:`HeldPermits` remembers which ones this process
holds, so ``release()`` (which names no permit, as in the seed) gives back the right kind,
and so the lease renewer knows which leases are due.

Local and open permits are *unwritten*: their calls run, but Redis does not count them.
Once Redis answers again the bulkhead writes them as leases (:meth:`HeldPermits.adopt`), so
no process is admitted past the capacity while they still run. *Unanswered* lease ids are
grants sent to Redis whose answer never came: Redis may hold them, for nobody, so they are
removed once it answers.

It is a :class:`~outlast.resilience.bulkhead._permits.PermitLedger` for the local permits: ``take``
and ``give`` act on those, and the leases this process holds count against the local
capacity too, because their calls run here. Like ``LocalPermits`` it only counts, never
talks to Redis, and is safe only under its bulkhead's lock.
"""

from __future__ import annotations

from collections import deque

__all__ = ["HeldPermits"]

#: Grants whose answer was lost, kept to be removed from Redis later. Older ones beyond this
#: many are forgotten: they expire by themselves after their lease time.
_UNANSWERED_KEPT = 256


class HeldPermits:
    """Lease ids (with when each was granted or last renewed) and local/open permit counts."""

    __slots__ = ("capacity", "leases", "local", "open", "unanswered")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.leases: dict[str, float] = {}
        self.local = 0
        self.open = 0
        self.unanswered: deque[str] = deque(maxlen=_UNANSWERED_KEPT)

    @property
    def in_use(self) -> int:
        """Every permit this process holds, of any kind."""
        return len(self.leases) + self.local + self.open

    @property
    def unwritten(self) -> int:
        """The permits taken while Redis did not answer (local and open), not leases yet."""
        return self.local + self.open

    def take(self) -> bool:
        """Take a local permit if this process runs fewer than ``capacity`` calls."""
        if len(self.leases) + self.local >= self.capacity:
            return False
        self.local += 1
        return True

    def take_open(self) -> None:
        """Take a permit that nothing limits (fail-open)."""
        self.open += 1

    def give(self) -> bool:
        """Give back a local or open permit; False when none is held."""
        if self.local:
            self.local -= 1
            return True
        if self.open:
            self.open -= 1
            return True
        return False

    def add_lease(self, lease: str, now: float) -> None:
        """Remember a lease Redis granted at ``now``."""
        self.leases[lease] = now

    def adopt(self, leases: list[str], now: float) -> list[str]:
        """Turn unwritten permits into ``leases`` (written to Redis at ``now``), local ones
        first; returns the ids left over because their permits were given back meanwhile."""
        count = min(len(leases), self.unwritten)
        from_local = min(count, self.local)
        self.local -= from_local
        self.open -= count - from_local
        for lease in leases[:count]:
            self.leases[lease] = now
        return leases[count:]

    def pop_lease(self) -> str | None:
        """Forget one held lease (the newest) and return its id; None when none is held."""
        if not self.leases:
            return None
        lease, _ = self.leases.popitem()
        return lease

    def due(self, oldest: float) -> list[str]:
        """Ids of the leases granted or renewed at ``oldest`` or before."""
        return [lease for lease, since in self.leases.items() if since <= oldest]

    def renewed(self, leases: list[str], at: float) -> list[str]:
        """Mark ``leases`` renewed at ``at``; returns those given back meanwhile, which the
        renewal may have written back after their release removed them."""
        released = [lease for lease in leases if lease not in self.leases]
        for lease in leases:
            if lease in self.leases:
                self.leases[lease] = at
        return released
