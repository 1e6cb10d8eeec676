"""Permit ledgers: the count of bulkhead permits in use, behind a seam.

:class:`PermitLedger` is what a :class:`~._bulkhead.Bulkhead` asks to take and give
permits; :class:`LocalPermits` is the in-process ledger, a plain counter. The seam
exists so a backend with leases (a cluster-wide bulkhead in Redis) can replace the count
later without touching the waiter queue.

A ledger only counts: it never waits for a permit to come free (the bulkhead's waiter queue
does that) and never calls back into the bulkhead. The bulkhead calls it only while holding
its own lock, and that lock is what makes the plain counter of :class:`LocalPermits` safe.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["LocalPermits", "PermitLedger"]


class PermitLedger(Protocol):
    """Counts permits in use. The bulkhead calls it only while holding its own lock."""

    @property
    def capacity(self) -> int:
        """How many permits exist."""
        ...

    @property
    def in_use(self) -> int:
        """How many permits are held right now."""
        ...

    def take(self) -> bool:
        """Claim a free permit; False when none is free."""
        ...

    def give(self) -> bool:
        """Return a held permit; False when none was held (an over-release)."""
        ...


class LocalPermits:
    """The in-process ledger: a plain counter, safe because the bulkhead's lock guards it."""

    __slots__ = ("capacity", "in_use")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_use = 0

    def take(self) -> bool:
        if self.in_use < self.capacity:
            self.in_use += 1
            return True
        return False

    def give(self) -> bool:
        if self.in_use:
            self.in_use -= 1
            return True
        return False
