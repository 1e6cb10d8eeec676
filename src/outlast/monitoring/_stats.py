"""Reading the shared counters: window totals, statistics and error patterns.

One pipelined read fetches every bucket of the last hour (fine) and day (coarse) plus the
totals; :func:`summarize` turns the replies into counts per window, and the functions below
shape them into what ``ErrorMonitor`` returns, so every process computes the same numbers.

Pure except :class:`CounterReader`, whose reads never raise a Redis error (a Redis that
does not answer reads as ``None``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from outlast.monitoring._redis_counters import RedisCounters
from outlast.monitoring._windows import (
    COARSE,
    FINE,
    WINDOWS,
    Dim,
    bucket_suffixes,
    field_name,
    parse_field,
    sum_buckets,
)
from outlast.resilience.shared._redis_link import Unavailable

__all__ = [
    "CounterReader",
    "WindowTotals",
    "pattern_rows",
    "rate_view",
    "stats_view",
    "summarize",
    "top_fingerprints",
]

_FINE_COUNT = 3600 // FINE.seconds
_COARSE_COUNT = 86400 // COARSE.seconds


@dataclass(frozen=True, slots=True)
class WindowTotals:
    """Field totals (see ``_windows.field_name``) per window name, plus the all-time hashes."""

    windows: dict[str, Counter[str]]
    totals: dict[str, int]
    tallies: dict[str, int]

    def count(self, window: str, dim: Dim, name: str, kind: str) -> int:
        """One counter's total over ``window``."""
        return self.windows[window][field_name(dim, name, kind)]

    def names(self, window: str, dim: Dim) -> set[str]:
        """Every name counted by ``dim`` in ``window``."""
        found = set()
        for field in self.windows[window]:
            field_dim, name, _ = parse_field(field)
            if field_dim is dim:
                found.add(name)
        return found


def window_keys(counters: RedisCounters, now: float) -> list[str]:
    """The keys one read fetches, in the order :func:`summarize` expects."""
    fine = bucket_suffixes(now, 3600)
    coarse = bucket_suffixes(now, 86400)
    return [counters.key(s) for s in (*fine, *coarse, "totals", "tallies")]


def summarize(replies: Sequence[Mapping[bytes, bytes]]) -> WindowTotals:
    """The window totals of the replies to a read of :func:`window_keys`."""
    fine = replies[:_FINE_COUNT]
    coarse = replies[_FINE_COUNT : _FINE_COUNT + _COARSE_COUNT]
    totals, tallies = replies[-2], replies[-1]
    windows = {
        "1m": sum_buckets(fine[-(WINDOWS["1m"] // FINE.seconds) :]),
        "5m": sum_buckets(fine[-(WINDOWS["5m"] // FINE.seconds) :]),
        "1h": sum_buckets(fine),
        "24h": sum_buckets(coarse),
    }
    return WindowTotals(windows, _ints(totals), _ints(tallies))


def _ints(reply: Mapping[bytes, bytes]) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in reply.items()}


class CounterReader:
    """Reads the window totals and fingerprint samples of one namespace."""

    def __init__(self, counters: RedisCounters) -> None:
        self.counters = counters

    def read(self, now: float) -> WindowTotals | None:
        """The window totals at ``now``; None if Redis did not answer."""
        keys = window_keys(self.counters, now)

        def fetch(client: Any) -> list[Any]:
            pipeline = client.pipeline(transaction=False)
            for key in keys:
                pipeline.hgetall(key)
            replies: list[Any] = pipeline.execute()
            return replies

        replies = self.counters.link.call(fetch)
        return None if isinstance(replies, Unavailable) else summarize(replies)

    def samples(self, fingerprints: list[str]) -> list[tuple[Any, Any, Any]] | None:
        """(sample JSON, first seen, total) of each fingerprint; None if Redis is down."""
        if not fingerprints:
            return []

        def fetch(client: Any) -> list[Any]:
            pipeline = client.pipeline(transaction=False)
            self._queue_samples(pipeline, fingerprints)
            replies: list[Any] = pipeline.execute()
            return replies

        replies = self.counters.link.call(fetch)
        return None if isinstance(replies, Unavailable) else list(zip(*replies, strict=True))

    def _queue_samples(self, pipeline: Any, fingerprints: list[str]) -> None:
        pipeline.hmget(self.counters.key("fp_sample"), fingerprints)
        pipeline.hmget(self.counters.key("fp_first"), fingerprints)
        pipeline.hmget(self.counters.key("fp_total"), fingerprints)


def rate_view(totals: WindowTotals, dim: Dim, name: str) -> dict[str, dict[str, Any]]:
    """Errors, successes, errors per minute and failure ratio of one name, per window."""
    view = {}
    for window, seconds in WINDOWS.items():
        errors = totals.count(window, dim, name, "e")
        successes = totals.count(window, dim, name, "s")
        calls = errors + successes
        view[window] = {
            "errors": errors,
            "successes": successes,
            "errors_per_minute": errors / (seconds / 60),
            "failure_ratio": errors / calls if calls else 0.0,
        }
    return view


def stats_view(totals: WindowTotals) -> dict[str, Any]:
    """The monitoring statistics: the seed's three numbers first, then the details.

    ``error_rate_24h`` is errors per hour over the last 24 hours (the seed's example: 15
    errors -> 0.625); ``failure_ratio_24h`` is errors / (errors + successes).
    """
    windows = rate_view(totals, Dim.TOTAL, "")
    day = windows["24h"]
    return {
        "total_errors": totals.totals.get("errors", 0),
        "recent_errors_24h": day["errors"],
        "error_rate_24h": day["errors"] / 24,
        "failure_ratio_24h": day["failure_ratio"],
        "total_successes": totals.totals.get("successes", 0),
        "dropped_events": totals.totals.get("dropped", 0),
        "windows": windows,
        "by_category": _by(totals, Dim.CATEGORY),
        "by_severity": _by(totals, Dim.SEVERITY),
        "operations": {
            n: rate_view(totals, Dim.OPERATION, n) for n in _named(totals, Dim.OPERATION)
        },
        "services": {n: rate_view(totals, Dim.SERVICE, n) for n in _named(totals, Dim.SERVICE)},
        "tallies": dict(totals.tallies),
    }


def _named(totals: WindowTotals, dim: Dim) -> list[str]:
    return sorted(totals.names("24h", dim) | totals.names("1h", dim))


def _by(totals: WindowTotals, dim: Dim) -> dict[str, int]:
    return {n: totals.count("24h", dim, n, "e") for n in sorted(totals.names("24h", dim))}


def top_fingerprints(totals: WindowTotals, limit: int) -> list[str]:
    """The ``limit`` fingerprints with most errors in 24 h (ties by fingerprint)."""
    counts = [
        (totals.count("24h", Dim.FINGERPRINT, f, "e"), f)
        for f in totals.names("24h", Dim.FINGERPRINT)
    ]
    return [f for _, f in sorted(counts, key=lambda c: (-c[0], c[1]))[:limit]]


def pattern_rows(
    totals: WindowTotals, fingerprints: list[str], samples: list[tuple[Any, Any, Any]]
) -> list[dict[str, Any]]:
    """One row per fingerprint: its latest sample, counts per window and first sighting."""
    rows = []
    for fingerprint, (sample, first_seen, total) in zip(fingerprints, samples, strict=True):
        row: dict[str, Any] = {"fingerprint": fingerprint}
        row.update(json.loads(sample) if sample else {})
        row["first_seen"] = float(first_seen) if first_seen else None
        row["total_count"] = int(total) if total else 0
        row["counts"] = {w: totals.count(w, Dim.FINGERPRINT, fingerprint, "e") for w in WINDOWS}
        rows.append(row)
    return rows
