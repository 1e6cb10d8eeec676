"""A batch: the unit the flusher writes, and how far its writing got.

A batch is written once to Redis (its counters, in one MULTI/EXEC with a marker key naming
the batch) and once to the store (its events, by id). After a failure whose outcome is
unknown, the marker says whether the counters landed, so a retry never counts twice; the
store keeps the first record of an id, so rewriting events is harmless.

Holds no I/O: the writers update its progress fields.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from outlast.monitoring._event import ErrorEventData

__all__ = ["Batch"]


@dataclass(slots=True, kw_only=True)
class Batch:
    """Events and counts taken from the buffer together, with their write progress."""

    events: list[ErrorEventData]
    successes: dict[str, int]
    tallies: dict[str, int]
    dropped: int
    taken_at: float
    slow: dict[str, int] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    counts_sent: bool = False  # a counters write was sent: its outcome may be unknown
    counted: bool = False
    stored: int = 0  # events[:stored] are in the store
