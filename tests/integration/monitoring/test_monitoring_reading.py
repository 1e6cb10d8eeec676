"""What monitoring writes and reads: store records, the core's events, stats, patterns, alerts."""

from __future__ import annotations

import pytest

import outlast
from outlast import handle_errors
from outlast.config import BulkheadConfig, CircuitBreakerConfig
from outlast.errors import BulkheadCapacityError, ErrorContext, ErrorSeverity
from outlast.monitoring import ErrorMonitor
from outlast.resilience import Bulkhead, CircuitBreaker
from outlast.resilience._events import RecoveryFailed, publish
from outlast.store import Alert, RedisStore
from outlast.testing import FakeClock


def _monitor(redis_url: str, namespace: str, **options: object) -> ErrorMonitor:
    def open_store() -> RedisStore:
        return RedisStore(redis_url, namespace=namespace)

    return ErrorMonitor(
        redis_url=redis_url, namespace=namespace, open_store=open_store, flush_interval=0.05,
        **options,  # type: ignore[arg-type]
    )  # fmt: skip


def _raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as caught:
        return caught


async def test_events_reach_the_store_with_every_field(redis_url: str, namespace: str) -> None:
    """Each recorded error becomes one store record with fingerprint, context and flags."""
    monitor = _monitor(redis_url, namespace)
    context = ErrorContext(operation="billing.refund", user_id="u-7", request_id="req-1")
    for index in range(40):
        error = _raised(RuntimeError(f"refund {index} failed, token=abc{index}def"))
        monitor.record(
            error, context, ErrorSeverity.HIGH, recovery_attempted=True, recovery_successful=False
        )
    assert monitor.flush(timeout=20)
    store = RedisStore(redis_url, namespace=namespace)
    try:
        events = await store.list_error_events(limit=100)
    finally:
        await store.close()
    assert len(events) == 40
    assert len({e.fingerprint for e in events}) == 1
    event = events[0]
    assert event.operation == "billing.refund"
    assert event.severity is ErrorSeverity.HIGH
    assert (event.recovery_attempted, event.recovery_successful) == (True, False)
    assert "abc" not in event.message
    assert "[REDACTED]" in event.message
    details = event.context
    assert (details["user_id"], details["request_id"]) == ("u-7", "req-1")
    assert (details["service"], details["category"]) == ("billing", "unknown")
    assert all(details[k] for k in ("host", "pid", "traceback"))
    monitor.close()


def test_handle_errors_feeds_successes_and_failures(redis_url: str, namespace: str) -> None:
    """@handle_errors successes and failures (a bulkhead rejection among them) give a real
    failure ratio per operation, through the core's listeners."""
    monitor = _monitor(redis_url, namespace, store_events=False)
    monitor.listen()
    calls = {"n": 0}

    @handle_errors(operation_name="inventory.reserve")
    def reserve(fail: bool) -> str:
        calls["n"] += 1
        if fail:
            raise ConnectionError("stock service refused")
        return "ok"

    full = Bulkhead("mon-full", config=BulkheadConfig(capacity=1, timeout=0.0))
    assert full.try_acquire()

    @handle_errors(operation_name="inventory.audit", bulkhead=full)
    def audit() -> None:
        raise AssertionError("never runs: the bulkhead is full")

    try:
        for index in range(40):
            if index % 4 == 0:
                with pytest.raises(ConnectionError):
                    reserve(True)
            else:
                assert reserve(False) == "ok"
        with pytest.raises(BulkheadCapacityError):
            audit()
        assert monitor.flush(timeout=20)
    finally:
        monitor.unlisten()
        full.release()
    counts = monitor.get_window_counts(operation="inventory.reserve")
    assert counts is not None
    assert (counts["1m"]["errors"], counts["1m"]["successes"]) == (10, 30)
    assert counts["1m"]["failure_ratio"] == pytest.approx(0.25)
    stats = monitor.get_monitoring_stats()
    assert stats["by_category"] == {"network": 10, "resource": 1}
    assert stats["services"]["inventory"]["1h"]["errors"] == 11
    monitor.close()


def test_breaker_transitions_and_recoveries_are_heard(redis_url: str, namespace: str) -> None:
    """A breaker's transitions are tallied; a RecoveryFailed is recorded as an error of
    its service whose recovery was attempted and failed."""
    monitor = _monitor(redis_url, namespace, store_events=False)
    monitor.listen()
    breaker = CircuitBreaker("mon-breaker", config=CircuitBreakerConfig())
    try:
        breaker.force_open()
        error = _raised(ConnectionError("db still down"))
        publish(RecoveryFailed("db.reconnect", "db", "reconnect", error, attempts=3))
        assert monitor.flush(timeout=20)
    finally:
        monitor.unlisten()
    stats = monitor.get_monitoring_stats()
    assert stats["tallies"] == {"breaker|mon-breaker|open": 1}
    assert stats["services"]["db"]["1m"]["errors"] == 1
    monitor.close()


async def test_sync_and_async_readers_agree(redis_url: str, namespace: str) -> None:
    """Stats and patterns read the same numbers sync (even inside a loop) and async."""
    clock = FakeClock()
    monitor = _monitor(redis_url, namespace, store_events=False, clock=clock)
    for index in range(30):
        monitor.record(_raised(KeyError(f"user {index}")), {"operation": "users.get"})
    for index in range(12):
        monitor.record(_raised(TimeoutError(f"db {index} slow")), {"operation": "users.list"})
    assert monitor.flush(timeout=20)
    sync_stats, async_stats = monitor.get_monitoring_stats(), await monitor.aget_monitoring_stats()
    assert sync_stats["total_errors"] == async_stats["total_errors"] == 42
    assert sync_stats["error_rate_24h"] == pytest.approx(42 / 24)
    patterns = monitor.get_error_patterns(limit=10)
    assert patterns == await monitor.aget_error_patterns(limit=10)
    assert [p["total_count"] for p in patterns] == [30, 12]
    assert patterns[0]["message"] == "'user <int>'"
    assert patterns[1]["category"] == "timeout"
    assert monitor.get_error_patterns(limit=1) == patterns[:1]
    clock.advance(2 * 3600)  # out of the 1 h window, still in the day
    later = await monitor.aget_monitoring_stats()
    assert (later["windows"]["1h"]["errors"], later["recent_errors_24h"]) == (0, 42)
    with pytest.raises(ValueError, match="limit"):
        monitor.get_error_patterns(limit=0)
    monitor.close()


async def test_active_alerts_are_the_stores(redis_url: str, namespace: str) -> None:
    """get_active_alerts lists the store's active alerts, sync inside a loop and async."""
    monitor = _monitor(redis_url, namespace)
    store = RedisStore(redis_url, namespace=namespace)
    try:
        alert = Alert(
            alert_type="error_rate_high", severity=ErrorSeverity.HIGH, title="errors",
            message="too many", created_at=1_700_000_000.0, updated_at=1_700_000_000.0,
        )  # fmt: skip
        await store.upsert_alert(alert)
    finally:
        await store.close()
    assert [a.id for a in monitor.get_active_alerts()] == [alert.id]
    assert [a.id for a in await monitor.aget_active_alerts()] == [alert.id]


async def test_the_seed_calls_work_as_written() -> None:
    """The seed's record_error_event, get_monitoring_stats, get_error_patterns and
    get_active_alerts run exactly as the seed writes them, on outlast.error_monitor."""
    from outlast import ErrorSeverity, error_monitor, record_error_event, record_error_event_sync

    error, context = _raised(ValueError("family 12 invalid")), ErrorContext(operation="family.add")
    await record_error_event(
        error, context, ErrorSeverity.HIGH, recovery_attempted=True, recovery_successful=False
    )
    record_error_event_sync(error, context, ErrorSeverity.HIGH)
    assert error_monitor.flush(timeout=20)
    stats = error_monitor.get_monitoring_stats()
    patterns = error_monitor.get_error_patterns(limit=10)
    alerts = error_monitor.get_active_alerts()
    assert stats["total_errors"] >= 2
    assert len(patterns) <= 10
    assert isinstance(alerts, list)
    # Other test processes share this default namespace: ask for this operation's own counts.
    counts = error_monitor.get_window_counts(operation="family.add")
    assert counts is not None
    assert counts["1m"]["errors"] >= 2
    assert outlast.error_monitor is error_monitor
