"""Writes a batch's counters to Redis: windows, totals, fingerprint samples and tallies.

Every key of one namespace's monitoring lives in one Redis Cluster slot (hash tag
``{<namespace>:mon:counts}``), so a batch is one MULTI/EXEC. Keys:

- ``...:w10:<n>`` / ``...:w300:<n>``: the window buckets of ``_windows`` (with a TTL);
- ``...:totals``: ``errors``, ``successes``, ``dropped`` and ``slow_calls`` since the
  namespace began;
- ``...:fp_total`` / ``fp_first`` / ``fp_sample``: per fingerprint, the count ever seen,
  when it was first seen, and its latest event (JSON, message already redacted);
- ``...:tallies``: named counters (breaker transitions, fallbacks);
- ``...:batch:<id>``: the marker of a written batch (kept a day).

Never raises a Redis error: Redis down means ``False`` and the batch stays for later.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Final

from outlast.monitoring._batch import Batch
from outlast.monitoring._event import ErrorEventData
from outlast.monitoring._windows import (
    error_increments,
    slow_increments,
    success_increments,
    ttl_of,
)
from outlast.resilience.shared._redis_link import RedisLink, Unavailable

__all__ = ["RedisCounters"]

MARKER_TTL: Final = 86400


class RedisCounters:
    """The counters of one namespace, on one Redis link."""

    def __init__(self, link: RedisLink) -> None:
        self.link = link

    def key(self, suffix: str) -> str:
        """The full Redis key of a monitoring key suffix (``"totals"``, ``"w10:123"``)."""
        return self.link.key("mon", "counts", suffix)

    def apply(self, batch: Batch) -> bool:
        """Count ``batch`` exactly once; False if Redis did not answer (try again later)."""
        if batch.counted:
            return True
        if batch.counts_sent:
            landed = self.link.call(lambda client: client.exists(self.key(f"batch:{batch.id}")))
            if isinstance(landed, Unavailable):
                return False
            if landed:
                batch.counted = True
                return True

        def send(client: Any) -> None:
            batch.counts_sent = True
            pipeline = client.pipeline(transaction=True)
            self._queue(pipeline, batch)
            pipeline.execute()

        if isinstance(self.link.call(send), Unavailable):
            return False
        batch.counted = True
        return True

    def forget_fingerprints(self, before: float) -> int | None:
        """Drop the patterns (``fp_*`` fields) last seen at or before ``before``; how many,
        or None if Redis did not answer. A pattern seen again starts afresh."""

        def forget(client: Any) -> int:
            stale = [
                fingerprint
                for fingerprint, sample in client.hscan_iter(self.key("fp_sample"), count=500)
                if _last_seen(sample) <= before
            ]
            for start in range(0, len(stale), 500):
                chunk = stale[start : start + 500]
                pipeline = client.pipeline(transaction=True)
                for name in ("fp_sample", "fp_first", "fp_total"):
                    pipeline.hdel(self.key(name), *chunk)
                pipeline.execute()
            return len(stale)

        forgotten = self.link.call(forget)
        return None if isinstance(forgotten, Unavailable) else forgotten

    def _queue(self, pipeline: Any, batch: Batch) -> None:
        increments = error_increments(batch.events)
        increments.update(success_increments(batch.successes, at=batch.taken_at))
        increments.update(slow_increments(batch.slow, at=batch.taken_at))
        for (suffix, field), amount in increments.items():
            pipeline.hincrby(self.key(suffix), field, amount)
        for suffix in {suffix for suffix, _ in increments}:
            pipeline.expire(self.key(suffix), ttl_of(suffix))
        totals = {
            "errors": len(batch.events),
            "successes": sum(batch.successes.values()),
            "dropped": batch.dropped,
            "slow_calls": sum(batch.slow.values()),
        }
        for name, amount in totals.items():
            if amount:
                pipeline.hincrby(self.key("totals"), name, amount)
        for name, amount in batch.tallies.items():
            pipeline.hincrby(self.key("tallies"), name, amount)
        self._queue_fingerprints(pipeline, batch.events)
        pipeline.set(self.key(f"batch:{batch.id}"), 1, ex=MARKER_TTL)

    def _queue_fingerprints(self, pipeline: Any, events: list[ErrorEventData]) -> None:
        counts = Counter(event.fingerprint for event in events)
        latest: dict[str, ErrorEventData] = {}
        first: dict[str, float] = {}
        for event in events:
            latest[event.fingerprint] = event
            first.setdefault(event.fingerprint, event.occurred_at)
        for fingerprint, count in counts.items():
            event = latest[fingerprint]
            pipeline.hincrby(self.key("fp_total"), fingerprint, count)
            pipeline.hsetnx(self.key("fp_first"), fingerprint, repr(first[fingerprint]))
            pipeline.hset(self.key("fp_sample"), fingerprint, json.dumps(sample_of(event)))


def sample_of(event: ErrorEventData) -> dict[str, Any]:
    """What a pattern shows of its latest event."""
    return {
        "error_type": event.error_type,
        "message": event.normalized_message,
        "operation": event.operation,
        "service": event.service,
        "category": event.category.value,
        "severity": event.severity.value,
        "last_seen": event.occurred_at,
        "example_message": event.message,
    }


def _last_seen(sample: bytes | str) -> float:
    """When a stored sample was seen; a sample that does not say counts as never."""
    try:
        return float(json.loads(sample)["last_seen"])
    except (ValueError, KeyError, TypeError):
        return float("-inf")
