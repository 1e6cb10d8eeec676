"""After a recovery: the attempt is stored, callbacks run by service or error type, and a
failure is announced on the event bus; none of them can raise into the caller."""

from __future__ import annotations

import time
from typing import Any

from mongomock_motor import AsyncMongoMockClient

from outlast import ErrorContext
from outlast.recovery import RecoveryManager, RecoveryOutcome, RecoveryStatistics, RecoveryStrategy
from outlast.resilience import RecoveryFailed, add_listener
from outlast.store import MongoStore
from outlast.testing import FakeClock


def manager(clock: FakeClock, store: MongoStore | None = None) -> RecoveryManager:
    return RecoveryManager(store=store, statistics=RecoveryStatistics(None), clock=clock)


def always_failing() -> Any:
    raise TimeoutError("gateway timed out")


async def test_each_recovery_is_stored_with_its_attempts() -> None:
    """A failed and a successful recovery are stored as RecoveryAttempt records."""
    clock = FakeClock(wall_start=time.time())  # mongomock expires records by the real clock
    store = MongoStore(
        AsyncMongoMockClient()["outlast_test"], namespace="recovery-records", clock=clock
    )
    recovery = manager(clock, store)
    context = ErrorContext(operation="charge", metadata={"service": "payments"})
    await recovery.recover_from_error(
        ConnectionError("x"), context, RecoveryStrategy.IMMEDIATE_RETRY, always_failing, 3
    )
    clock.advance(1.0)
    await recovery.recover_from_error(
        ConnectionError("y"), context, RecoveryStrategy.IMMEDIATE_RETRY, lambda: 1
    )
    stored = await store.list_recovery_attempts(service="payments")
    assert [(a.successful, a.attempts, a.error_type) for a in stored] == [
        (True, 1, None),
        (False, 3, "TimeoutError"),
    ]
    failed = next(a for a in stored if not a.successful)
    assert failed.strategy == "immediate_retry"
    assert failed.details["operation"] == "charge"
    assert failed.details["original_error"] == "ConnectionError"


async def test_a_store_that_refuses_never_reaches_the_caller() -> None:
    """Recording into a store that raises is logged; the recovery still answers."""

    class RefusingStore(MongoStore):
        async def record_recovery_attempt(self, attempt: Any) -> Any:
            raise RuntimeError("disk full")

    clock = FakeClock()
    store = RefusingStore(AsyncMongoMockClient()["outlast_test"], namespace="refusing", clock=clock)
    ok = await manager(clock, store).recover_from_error(
        ConnectionError("x"), ErrorContext(operation="op"), "immediate_retry", lambda: "fine"
    )
    assert ok == (True, "fine")


async def test_callbacks_run_by_service_and_error_type() -> None:
    """Callbacks registered for a service or an error type run only for matching recoveries."""
    recovery = manager(FakeClock())
    seen: list[tuple[str, str]] = []

    async def by_service(outcome: RecoveryOutcome) -> None:
        seen.append(("service", outcome.service))

    def by_error(outcome: RecoveryOutcome) -> None:
        seen.append(("error", type(outcome.error).__name__))

    recovery.add_recovery_callback(by_service, service="cache")
    recovery.add_recovery_callback(by_error, error_type=TimeoutError)
    await recovery.recover_from_error(
        ConnectionError(),
        ErrorContext(operation="get"),
        "immediate_retry",
        lambda: 1,
        service="cache",
    )
    await recovery.recover_from_error(
        TimeoutError(), ErrorContext(operation="get"), "immediate_retry", lambda: 1, service="db"
    )
    await recovery.recover_from_error(
        KeyError(), ErrorContext(operation="get"), "immediate_retry", lambda: 1, service="db"
    )
    assert seen == [("service", "cache"), ("error", "TimeoutError")]


async def test_a_failing_callback_is_skipped() -> None:
    """A callback that raises neither fails the recovery nor stops the next callback."""
    recovery = manager(FakeClock())
    ran: list[str] = []

    def broken(outcome: RecoveryOutcome) -> None:
        raise RuntimeError("cleanup bug")

    recovery.add_recovery_callback(broken)
    recovery.add_recovery_callback(lambda outcome: ran.append(outcome.strategy))
    ok = await recovery.recover_from_error(
        ConnectionError(), ErrorContext(operation="get"), "immediate_retry", lambda: 2
    )
    assert ok == (True, 2)
    assert ran == ["immediate_retry"]


async def test_failure_is_published_for_monitoring_and_success_is_not() -> None:
    """A failed recovery publishes RecoveryFailed with the last error; a success publishes none."""
    recovery = manager(FakeClock())
    events: list[object] = []
    remove = add_listener(events.append)
    try:
        await recovery.recover_from_error(
            ConnectionError(), ErrorContext(operation="charge"), "immediate_retry", lambda: 1
        )
        await recovery.recover_from_error(
            ConnectionError(),
            ErrorContext(operation="charge"),
            "immediate_retry",
            always_failing,
            2,
        )
    finally:
        remove()
    failed = [e for e in events if isinstance(e, RecoveryFailed)]
    assert len(failed) == 1
    assert (failed[0].operation, failed[0].strategy, failed[0].attempts) == (
        "charge",
        "immediate_retry",
        2,
    )
    assert isinstance(failed[0].error, TimeoutError)
