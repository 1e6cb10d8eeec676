"""What every bulkhead counts about admission, and the stats it reports from those counts.

:class:`Tally` holds the permits granted and the attempts refused; its :meth:`Tally.stats`
turns them, with the occupancy and the number of waiting callers its owner supplies, into
:class:`BulkheadStats`. The local :class:`~._bulkhead.Bulkhead` and the
:class:`~._redis_bulkhead.ClusterBulkhead` both count through one, so both report the same
fields by the same rules (a ``try_acquire`` that finds nothing free is a probe, not a
refusal; a cancelled wait is neither).

A tally only counts: it never takes a lock (its owner's lock guards every use), never waits
and never touches Redis.
"""

from __future__ import annotations

from typing import TypedDict

__all__ = ["BulkheadStats", "Tally"]


class BulkheadStats(TypedDict):
    """What :meth:`Bulkhead.stats` reports (the health endpoint's ``bulkheads`` entries)."""

    name: str
    capacity: int
    active_count: int
    waiting_count: int
    total_acquired: int
    total_rejected: int
    rejection_rate: float


class Tally:
    """Permits granted and attempts refused by one bulkhead; its owner's lock guards it."""

    __slots__ = ("acquired", "rejected")

    def __init__(self) -> None:
        self.acquired = 0
        self.rejected = 0

    def stats(self, *, name: str, capacity: int, active: int, waiting: int) -> BulkheadStats:
        """The counts with the occupancy and queue the owner read under the same lock."""
        attempts = self.acquired + self.rejected
        return {
            "name": name,
            "capacity": capacity,
            "active_count": active,
            "waiting_count": waiting,
            "total_acquired": self.acquired,
            "total_rejected": self.rejected,
            "rejection_rate": self.rejected / attempts if attempts else 0.0,
        }
