"""Store contract, error events, recovery attempts and snapshots: time windows, filters,
counts and retention behave the same on every backend."""

from __future__ import annotations

from outlast.errors import ErrorSeverity
from outlast.store import ErrorEvent, RecoveryAttempt, Store

from ._store_backends import Backend
from ._store_factories import TRICKY_PAYLOAD, error_event, recovery_attempt, snapshot

HIGH, LOW = ErrorSeverity.HIGH, ErrorSeverity.LOW


async def test_error_event_round_trips_every_field(store: Store, backend: Backend) -> None:
    """An event with every field set is listed back exactly as recorded."""
    event = ErrorEvent(
        id="e1",
        error_type="GatewayTimeout",
        message="gateway did not answer",
        severity=ErrorSeverity.CRITICAL,
        occurred_at=backend.clock.time(),
        operation="charge",
        fingerprint="fp-1",
        task_name="outlast.payments.charge",
        context=dict(TRICKY_PAYLOAD),
        recovery_attempted=True,
        recovery_successful=False,
    )
    assert await store.record_error_event(event) == event
    assert await store.list_error_events() == [event]


async def test_recording_an_event_id_twice_keeps_the_first(store: Store, backend: Backend) -> None:
    """A redelivered event with an id already stored changes nothing."""
    now = backend.clock.time()
    first = await store.record_error_event(error_event(id="same", occurred_at=now, message="a"))
    again = await store.record_error_event(error_event(id="same", occurred_at=now, message="b"))
    assert again == first
    assert await store.count_error_events() == 1


async def test_events_filter_by_window_severity_and_fingerprint(
    store: Store, backend: Backend
) -> None:
    """since/until are inclusive bounds; severity and fingerprint filter alone and together;
    counts agree with listings."""
    t0 = backend.clock.time() - 100
    for index in range(10):
        await store.record_error_event(
            error_event(
                id=f"e{index}",
                occurred_at=t0 + index,
                severity=HIGH if index % 2 else LOW,
                fingerprint="fp-a" if index < 5 else "fp-b",
            )
        )
    window = await store.list_error_events(since=t0 + 2, until=t0 + 5)
    assert [event.id for event in window] == ["e5", "e4", "e3", "e2"]
    assert await store.count_error_events(since=t0 + 2, until=t0 + 5) == 4
    high = await store.list_error_events(severity=HIGH)
    assert [event.id for event in high] == ["e9", "e7", "e5", "e3", "e1"]
    both = await store.list_error_events(severity=HIGH, fingerprint="fp-a", since=t0 + 2)
    assert [event.id for event in both] == ["e3"]
    assert await store.count_error_events(fingerprint="fp-b") == 5
    assert await store.count_error_events(severity=LOW, fingerprint="fp-b", until=t0 + 8) == 2
    paged = await store.list_error_events(fingerprint="fp-a", limit=2, offset=1)
    assert [event.id for event in paged] == ["e3", "e2"]


async def test_events_expire_after_the_retention(backend: Backend) -> None:
    """An event is listed and counted until it is older than the retention, then it is
    gone; an event already older than the retention is not stored at all."""
    store = backend.store(event_retention=60)
    now = backend.clock.time()
    await store.record_error_event(error_event(id="old", occurred_at=now - 30))
    await store.record_error_event(error_event(id="new", occurred_at=now))
    await store.record_error_event(error_event(id="ancient", occurred_at=now - 61))
    assert [event.id for event in await store.list_error_events()] == ["new", "old"]
    backend.clock.advance(31)
    assert [event.id for event in await store.list_error_events(since=0.0)] == ["new"]
    assert await store.count_error_events(severity=HIGH) == 1
    backend.clock.advance(30)
    assert await store.list_error_events() == []
    assert await store.count_error_events() == 0


async def test_events_carry_a_backend_expiry(backend: Backend) -> None:
    """The backend itself deletes events after the retention (Redis: a TTL on the event;
    MongoDB: expire_at under a TTL index)."""
    store = backend.store(event_retention=3600)
    await store.record_error_event(error_event(id="e", occurred_at=backend.clock.time() - 600))
    expiry = await backend.expiry("error_events", "e")
    assert expiry is not None
    assert 2990 < expiry <= 3000


async def test_recovery_attempts_filter_and_count(store: Store, backend: Backend) -> None:
    """Recovery attempts list newest first and filter by service and outcome."""
    t0 = backend.clock.time() - 50
    outcomes = [("database", True), ("redis", False), ("database", False), ("database", True)]
    for index, (service, successful) in enumerate(outcomes):
        await store.record_recovery_attempt(
            recovery_attempt(
                id=f"r{index}",
                service=service,
                successful=successful,
                started_at=t0 + index,
                finished_at=t0 + index + 0.5,
            )
        )
    listed = await store.list_recovery_attempts(service="database")
    assert [attempt.id for attempt in listed] == ["r3", "r2", "r0"]
    assert await store.count_recovery_attempts(service="database", successful=True) == 2
    assert await store.count_recovery_attempts(successful=False) == 2
    assert await store.count_recovery_attempts(since=t0 + 1, until=t0 + 2) == 2
    failed = await store.list_recovery_attempts(successful=False, limit=1)
    assert [attempt.id for attempt in failed] == ["r2"]


async def test_recovery_attempt_round_trips_every_field(store: Store, backend: Backend) -> None:
    """A recovery attempt with every field set comes back unchanged."""
    attempt = RecoveryAttempt(
        id="ra",
        service="payments",
        strategy="service_restart",
        started_at=backend.clock.time() - 5,
        finished_at=backend.clock.time(),
        successful=False,
        attempts=3,
        error_type="ConnectionError",
        error_message="still refused",
        details=dict(TRICKY_PAYLOAD),
    )
    assert await store.record_recovery_attempt(attempt) == attempt
    assert await store.list_recovery_attempts() == [attempt]


async def test_latest_snapshot_per_kind(store: Store, backend: Backend) -> None:
    """latest_snapshot returns the most recently taken snapshot of that kind only."""
    now = backend.clock.time()
    assert await store.latest_snapshot("monitoring_stats") is None
    await store.put_snapshot(snapshot(id="s2", taken_at=now - 10, data={"n": 2}))
    await store.put_snapshot(snapshot(id="s3", taken_at=now - 5, data={"n": 3}))
    await store.put_snapshot(snapshot(id="s1", taken_at=now - 20, data={"n": 1}))
    await store.put_snapshot(snapshot(id="h", kind="health", taken_at=now, data={}))
    latest = await store.latest_snapshot("monitoring_stats")
    assert latest is not None
    assert (latest.id, latest.data) == ("s3", {"n": 3})
    history = await store.list_snapshots(kind="monitoring_stats", since=now - 15)
    assert [item.id for item in history] == ["s3", "s2"]
    assert [item.id for item in await store.list_snapshots(limit=2)] == ["h", "s3"]


async def test_snapshots_expire_after_the_retention(backend: Backend) -> None:
    """A snapshot older than the retention is no longer the latest one."""
    store = backend.store(event_retention=60)
    await store.put_snapshot(snapshot(id="s", taken_at=backend.clock.time()))
    backend.clock.advance(60)
    assert await store.latest_snapshot("monitoring_stats") is None
