"""The periodic jobs' work over real Redis and a real store, called directly on a fake
clock: the statistics snapshot and the prune of what is past its retention."""

from __future__ import annotations

import time

import pytest

from outlast.errors import ErrorContext, ErrorSeverity
from outlast.monitoring import ErrorMonitor
from outlast.monitoring._jobs import STATS_KIND, compute_stats, prune
from outlast.store import Alert, RedisStore, Snapshot
from outlast.testing import FakeClock

DAY = 86400.0


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at the real wall time (the store's retention counts from it)."""
    return FakeClock(wall_start=time.time())


@pytest.fixture
def monitor(redis_url: str, namespace: str, clock: FakeClock) -> ErrorMonitor:
    """A monitor on the test's namespace and Redis store, on the fake clock."""
    return ErrorMonitor(
        redis_url=redis_url, namespace=namespace, clock=clock, flush_interval=0.05,
        open_store=lambda: RedisStore(redis_url, namespace=namespace, clock=clock),
    )  # fmt: skip


def record(monitor: ErrorMonitor, operation: str, message: str, times: int) -> None:
    """Record ``times`` ConnectionErrors of ``operation`` and flush them."""
    for _ in range(times):
        monitor.record(ConnectionError(message), ErrorContext(operation=operation))
    assert monitor.flush(timeout=20)


async def test_compute_stats_stores_the_shared_numbers(monitor: ErrorMonitor) -> None:
    """The snapshot holds the seed's numbers, the top patterns and the active alert count,
    and none of the recording process's own buffer counts."""
    record(monitor, "payments.charge", "gateway refused", 4)
    monitor.note_success("payments.charge")
    assert monitor.flush(timeout=20)
    stored = await compute_stats(monitor=monitor)
    assert stored is not None
    store = monitor.open_alert_store()
    try:
        latest = await store.latest_snapshot(STATS_KIND)
    finally:
        await store.close()
    assert latest == stored
    assert stored.taken_at == monitor.clock.time()
    assert stored.data["total_errors"] == 4
    assert stored.data["recent_errors_24h"] == 4
    assert stored.data["total_successes"] == 1
    assert [p["total_count"] for p in stored.data["patterns"]] == [4]
    assert stored.data["active_alerts"] == 0
    assert "buffered_events" not in stored.data
    monitor.close()


async def test_compute_stats_stores_nothing_without_redis(namespace: str, clock: FakeClock) -> None:
    """While Redis does not answer, no snapshot of zeros is stored."""
    down = ErrorMonitor(redis_url="redis://127.0.0.1:1/0", namespace=namespace, clock=clock)
    assert await compute_stats(monitor=down) is None
    down.reset()


async def test_prune_deletes_only_what_is_past_retention(
    monitor: ErrorMonitor, clock: FakeClock, redis_url: str, namespace: str
) -> None:
    """Old events, old stats snapshots, old resolved alerts and stale patterns go; fresh
    ones, other snapshot kinds and active alerts stay."""
    record(monitor, "payments.charge", "old failure", 3)
    store = RedisStore(redis_url, namespace=namespace, clock=clock)
    now = clock.time()
    try:
        await store.put_snapshot(Snapshot(kind=STATS_KIND, taken_at=now, data={}))
        await store.put_snapshot(Snapshot(kind="silence", taken_at=now, data={}))
        for name in ("done", "open"):
            alert = Alert(id=name, alert_type="repeated_errors", severity=ErrorSeverity.HIGH,
                          title=name, message=name, created_at=now, updated_at=now)  # fmt: skip
            await store.upsert_alert(alert)
        await store.resolve_alert("done", at=now)
        clock.advance(2 * DAY)
        record(monitor, "emails.send", "new failure", 2)
        await store.put_snapshot(Snapshot(kind=STATS_KIND, taken_at=clock.time(), data={}))
        report = await prune(event_retention=DAY, snapshot_retention=DAY, monitor=monitor)
        assert report == {"events": 3, "snapshots": 1, "alerts": 1, "patterns": 1}
        assert {e.operation for e in await store.list_error_events()} == {"emails.send"}
        assert sorted(s.kind for s in await store.list_snapshots()) == [
            "monitoring_stats",
            "silence",
        ]
        assert [a.id for a in await store.list_alerts()] == ["open"]
        patterns = monitor.get_error_patterns()
        assert [p["operation"] for p in patterns] == ["emails.send"]
    finally:
        await store.close()
        monitor.close()
