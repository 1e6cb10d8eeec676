"""What monitoring's periodic jobs do, as plain async functions (the beat tasks of
``outlast.tasks.monitoring`` call them): store a statistics snapshot, and prune what is
older than the retention.

``compute_stats`` stores the shared statistics (every process reads the same), the top
error patterns and the number of active alerts as one ``Snapshot`` of kind
:data:`STATS_KIND`; the counts this process alone holds (its buffer) are left out, as a
snapshot speaks for the whole namespace. ``prune`` deletes error events and resolved
alerts older than the event retention, statistics snapshots older than the snapshot
retention (never another kind: silences are snapshots too), and the error patterns not
seen within the event retention.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final

from outlast.store import Snapshot

if TYPE_CHECKING:
    from outlast.monitoring._monitor import ErrorMonitor

__all__ = ["STATS_KIND", "compute_stats", "prune"]

STATS_KIND: Final = "monitoring_stats"
"""The kind of the statistics snapshots ``compute_stats`` stores."""

PATTERN_LIMIT: Final = 10
_MAX_ACTIVE: Final = 1000
_LOCAL_FIELDS: Final = ("buffered_events", "dropped_here", "unstored_here", "redis_available")


def _monitor(monitor: ErrorMonitor | None) -> ErrorMonitor:
    if monitor is not None:
        return monitor
    from outlast.monitoring import error_monitor

    return error_monitor


async def compute_stats(*, monitor: ErrorMonitor | None = None) -> Snapshot | None:
    """Store the statistics snapshot of now; None (nothing stored) while Redis does not
    answer, as its numbers would read as zero."""
    monitor = _monitor(monitor)
    stats = await monitor.aget_monitoring_stats()
    if not stats.get("redis_available"):
        return None
    patterns = await monitor.aget_error_patterns(PATTERN_LIMIT)
    data: dict[str, Any] = {k: v for k, v in stats.items() if k not in _LOCAL_FIELDS}
    store = monitor.open_alert_store()
    try:
        active = await store.list_alerts(limit=_MAX_ACTIVE)
        data.update(patterns=patterns, active_alerts=len(active))
        snapshot = Snapshot(kind=STATS_KIND, taken_at=monitor.clock.time(), data=data)
        return await store.put_snapshot(snapshot)
    finally:
        await store.close()


async def prune(
    *,
    event_retention: float,
    snapshot_retention: float,
    monitor: ErrorMonitor | None = None,
) -> dict[str, int | None]:
    """Delete what is past its retention; how many of each were deleted (``patterns``
    None: Redis did not answer, they wait for the next prune)."""
    if event_retention <= 0 or snapshot_retention <= 0:
        raise ValueError("prune needs positive retentions")
    monitor = _monitor(monitor)
    now = monitor.clock.time()
    events_before, snapshots_before = now - event_retention, now - snapshot_retention
    counters = monitor.counter_reader().counters
    store = monitor.open_alert_store()
    try:
        events = await store.purge_error_events(before=events_before)
        snapshots = await store.purge_snapshots(before=snapshots_before, kind=STATS_KIND)
        alerts = await store.purge_resolved_alerts(before=events_before)
    finally:
        await store.close()
    patterns = await asyncio.to_thread(counters.forget_fingerprints, events_before)
    return {"events": events, "snapshots": snapshots, "alerts": alerts, "patterns": patterns}
