"""Sliding windows of error and success counts, as bucketed counters in Redis.

Counts live in one Redis hash per time bucket: 10-second buckets (kept a little over an
hour) serve the 1 min, 5 min and 1 h windows; 5-minute buckets (kept a little over a day)
serve the 24 h window. A hash's fields name what they count: ``<dim>|<name>|<kind>`` with
``dim`` one of :class:`Dim` and ``kind`` ``e`` (errors), ``s`` (successes) or ``w`` (slow
calls: successful calls that took at least the slow-call threshold), so one read of
a window's buckets gives every fingerprint, operation and service at once, and every process
reads the same numbers. A window holds the buckets that start inside it, the current one
included: its edge is exact to one bucket.

Pure: computes keys, fields and sums; the flusher and the readers do the I/O.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from outlast.monitoring._event import ErrorEventData, service_of

__all__ = [
    "COARSE",
    "FINE",
    "WINDOWS",
    "Dim",
    "Granularity",
    "bucket_suffixes",
    "error_increments",
    "field_name",
    "parse_field",
    "slow_increments",
    "success_increments",
    "sum_buckets",
    "ttl_of",
]


@dataclass(frozen=True, slots=True)
class Granularity:
    """One bucket size and how long its buckets are kept."""

    seconds: int
    ttl: int

    def suffix(self, bucket: int) -> str:
        """The key suffix of bucket number ``bucket``."""
        return f"w{self.seconds}:{bucket}"


FINE: Final = Granularity(seconds=10, ttl=3600 + 300)
COARSE: Final = Granularity(seconds=300, ttl=86400 + 1800)

WINDOWS: Final = {"1m": 60, "5m": 300, "1h": 3600, "24h": 86400}
"""The windows every count is kept for, in seconds."""


class Dim(enum.Enum):
    """What a counter is counted by."""

    TOTAL = "t"
    FINGERPRINT = "f"
    OPERATION = "o"
    SERVICE = "s"
    CATEGORY = "c"
    SEVERITY = "v"


def granularity_for(window: int) -> Granularity:
    """The bucket size that serves a window of ``window`` seconds."""
    return FINE if window <= 3600 else COARSE


def field_name(dim: Dim, name: str, kind: str) -> str:
    """The hash field counting ``kind`` ("e"/"s") of ``name`` by ``dim``."""
    return f"{dim.value}|{name}|{kind}"


def parse_field(field: str) -> tuple[Dim, str, str]:
    """``(dim, name, kind)`` of a field made by :func:`field_name` (names may hold ``|``)."""
    dim, rest = field.split("|", 1)
    name, kind = rest.rsplit("|", 1)
    return Dim(dim), name, kind


def bucket_suffixes(now: float, window: int) -> list[str]:
    """The key suffixes of the buckets making up the ``window`` seconds up to ``now``."""
    size = granularity_for(window)
    last = int(now // size.seconds)
    return [size.suffix(b) for b in range(last - window // size.seconds + 1, last + 1)]


Increments = Counter[tuple[str, str]]
"""How much to add to each (key suffix, field)."""


def error_increments(events: Iterable[ErrorEventData]) -> Increments:
    """The counter increments of ``events`` in both granularities."""
    # Events of a batch mostly share what they are counted by: group them first.
    groups = Counter(
        (
            e.fingerprint,
            e.operation,
            e.service,
            e.category.value,
            e.severity.value,
            int(e.occurred_at // FINE.seconds),
            int(e.occurred_at // COARSE.seconds),
        )
        for e in events
    )
    added: Increments = Counter()
    for (fingerprint, operation, service, category, severity, fine, coarse), n in groups.items():
        fields = (
            field_name(Dim.TOTAL, "", "e"),
            field_name(Dim.FINGERPRINT, fingerprint, "e"),
            field_name(Dim.OPERATION, operation, "e"),
            field_name(Dim.SERVICE, service, "e"),
            field_name(Dim.CATEGORY, category, "e"),
            field_name(Dim.SEVERITY, severity, "e"),
        )
        for suffix in (FINE.suffix(fine), COARSE.suffix(coarse)):
            for field in fields:
                added[suffix, field] += n
    return added


def success_increments(successes: Mapping[str, int], *, at: float) -> Increments:
    """The increments of ``successes`` (operation -> count) counted at ``at``."""
    added: Increments = Counter()
    for size in (FINE, COARSE):
        suffix = size.suffix(int(at // size.seconds))
        for operation, count in successes.items():
            service = service_of(operation)
            added[suffix, field_name(Dim.TOTAL, "", "s")] += count
            added[suffix, field_name(Dim.OPERATION, operation, "s")] += count
            added[suffix, field_name(Dim.SERVICE, service, "s")] += count
    return added


def slow_increments(slow: Mapping[str, int], *, at: float) -> Increments:
    """The increments of slow calls (operation -> count) counted at ``at``."""
    added: Increments = Counter()
    for size in (FINE, COARSE):
        suffix = size.suffix(int(at // size.seconds))
        for operation, count in slow.items():
            added[suffix, field_name(Dim.TOTAL, "", "w")] += count
            added[suffix, field_name(Dim.OPERATION, operation, "w")] += count
            added[suffix, field_name(Dim.SERVICE, service_of(operation), "w")] += count
    return added


def sum_buckets(buckets: Iterable[Mapping[bytes, bytes]]) -> Counter[str]:
    """Field totals over the hashes of a window's buckets (as Redis returns them)."""
    totals: Counter[str] = Counter()
    for bucket in buckets:
        for field, value in bucket.items():
            totals[field.decode()] += int(value)
    return totals


def ttl_of(suffix: str) -> int:
    """How long the bucket with key suffix ``suffix`` is kept, in seconds."""
    return FINE.ttl if suffix.startswith(FINE.suffix(0).split(":")[0] + ":") else COARSE.ttl
