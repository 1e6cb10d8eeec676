"""What the core publishes reaches monitoring by type: a ``RecoveryFailed`` becomes a
high-severity error event of its service whose recovery failed, and a ``CallFailed``
carrying a request id keeps it; both counted in the shared windows and stored."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from outlast.errors import ErrorSeverity
from outlast.monitoring import ErrorMonitor, error_monitor
from outlast.resilience._events import CallFailed, RecoveryFailed, publish
from outlast.store import RedisStore


@pytest.fixture
def monitor(redis_url: str, namespace: str) -> Iterator[ErrorMonitor]:
    """A monitor of the test's namespace hearing the core; the process's own monitor
    does not hear it meanwhile (its events would go to the default namespace)."""
    error_monitor.unlisten()
    listening = ErrorMonitor(
        redis_url=redis_url, namespace=namespace, flush_interval=0.05,
        open_store=lambda: RedisStore(redis_url, namespace=namespace),
    )  # fmt: skip
    listening.listen()
    try:
        yield listening
    finally:
        listening.unlisten()
        listening.close()
        error_monitor.listen()


async def test_recovery_failed_is_an_unrecovered_error_of_its_service(
    monitor: ErrorMonitor, redis_url: str, namespace: str
) -> None:
    """The event is stored with severity high, recovery attempted and not successful, under
    the service named by the event (not the operation's first part)."""
    error = ConnectionError("redis did not come back")
    publish(
        RecoveryFailed("recovery.heal", "cache", "restart", error, attempts=3, reason="gave up")
    )
    assert monitor.flush(timeout=20)
    assert monitor.get_window_counts(service="cache")["5m"]["errors"] == 1  # type: ignore[index]
    store = RedisStore(redis_url, namespace=namespace)
    try:
        [event] = await store.list_error_events()
    finally:
        await store.close()
    assert event.severity is ErrorSeverity.HIGH
    assert (event.recovery_attempted, event.recovery_successful) == (True, False)
    assert event.context["service"] == "cache"
    assert event.context["metadata"]["strategy"] == "restart"


async def test_a_failed_call_keeps_its_request_id(
    monitor: ErrorMonitor, redis_url: str, namespace: str
) -> None:
    """request_id and user_id in a CallFailed's metadata become the event's own fields."""
    metadata = {"request_id": "order-42", "user_id": 7, "queue": "payments"}
    publish(CallFailed("payments.charge", TimeoutError("gateway"), 1, metadata))
    assert monitor.flush(timeout=20)
    store = RedisStore(redis_url, namespace=namespace)
    try:
        [event] = await store.list_error_events()
    finally:
        await store.close()
    assert (event.context["request_id"], event.context["user_id"]) == ("order-42", "7")
    assert event.context["metadata"] == {"queue": "payments"}
