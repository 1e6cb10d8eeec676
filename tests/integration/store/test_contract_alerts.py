"""Store contract, alerts: raising an active alert again merges into it, resolving moves it
to the resolved list until the retention ends, and concurrent raises lose nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

import pytest

from outlast.errors import ErrorSeverity
from outlast.store import Alert, AlertStatus, InvalidRecordError, Store
from outlast.store._records import resolved_alert

from ._store_backends import Backend
from ._store_factories import alert


async def test_raising_an_active_alert_again_merges(store: Store) -> None:
    """A re-raise keeps the first raise time, adds occurrences, takes the new text and
    severity, and never lowers the escalation level."""
    await store.upsert_alert(alert(escalation_level=2, details={"rate": 0.12}))
    merged = await store.upsert_alert(
        alert(
            severity=ErrorSeverity.HIGH,
            message="20% failed",
            created_at=1_050.0,
            updated_at=1_050.0,
            escalation_level=0,
            details={"rate": 0.2},
        )
    )
    assert (merged.created_at, merged.updated_at, merged.occurrences) == (1_000.0, 1_050.0, 2)
    assert (merged.severity, merged.message, merged.escalation_level) == (
        ErrorSeverity.HIGH,
        "20% failed",
        2,
    )
    assert merged.details == {"rate": 0.2}
    assert await store.get_alert(merged.id) == merged
    assert await store.list_alerts() == [merged]


async def test_resolving_moves_an_alert_to_the_resolved_list(
    store: Store, backend: Backend
) -> None:
    """A resolved alert leaves the active list, is listed as resolved, and resolving it
    again changes nothing; an unknown id resolves to None."""
    raised = await store.upsert_alert(alert())
    resolved = await store.resolve_alert(raised.id)
    assert resolved is not None
    assert (resolved.status, resolved.resolved_at) == (AlertStatus.RESOLVED, backend.clock.time())
    assert await store.list_alerts() == []
    assert await store.list_alerts(status=AlertStatus.RESOLVED) == [resolved]
    backend.clock.advance(5)
    assert await store.resolve_alert(raised.id) == resolved
    assert await store.resolve_alert("no-such-alert") is None


async def test_raising_a_resolved_alert_starts_afresh(store: Store, backend: Backend) -> None:
    """After resolution the same id raises a new alert: one occurrence, new first raise."""
    await store.upsert_alert(alert(escalation_level=3))
    await store.resolve_alert("error_rate_high:payments")
    now = backend.clock.time()
    fresh = await store.upsert_alert(alert(created_at=now, updated_at=now))
    assert (fresh.status, fresh.occurrences, fresh.created_at) == (AlertStatus.ACTIVE, 1, now)
    assert fresh.escalation_level == 0
    assert await store.list_alerts(status=AlertStatus.RESOLVED) == []
    assert await store.list_alerts() == [fresh]


async def test_alerts_list_by_recency(store: Store) -> None:
    """Active alerts list by last update, newest first, and page."""
    for alert_id, updated_at in {"a": 1_001.0, "b": 1_003.0, "c": 1_002.0}.items():
        await store.upsert_alert(alert(id=alert_id, updated_at=updated_at))
    assert [item.id for item in await store.list_alerts()] == ["b", "c", "a"]
    assert [item.id for item in await store.list_alerts(limit=1, offset=1)] == ["c"]


async def test_resolved_alerts_expire_after_the_retention(backend: Backend) -> None:
    """A resolved alert is kept for the retention, then gone; an active one never expires."""
    store = backend.store(event_retention=60)
    await store.upsert_alert(alert(id="done"))
    await store.upsert_alert(alert(id="open"))
    await store.resolve_alert("done")
    expiry = await backend.expiry("alerts", "done")
    assert expiry is not None
    assert 50 < expiry <= 60
    assert await backend.expiry("alerts", "open") is None
    backend.clock.advance(60)
    assert await store.get_alert("done") is None
    assert await store.list_alerts(status=AlertStatus.RESOLVED) == []
    assert [item.id for item in await store.list_alerts()] == ["open"]


async def test_concurrent_raises_are_all_counted(backend: Backend) -> None:
    """Thirty raises of one alert through three stores at once add up to 30 occurrences."""
    stores = [backend.store() for _ in range(3)]
    await asyncio.gather(*(stores[i % 3].upsert_alert(alert()) for i in range(30)))
    stored = await stores[0].get_alert("error_rate_high:payments")
    assert stored is not None
    assert stored.occurrences == 30


async def test_update_alert_changes_the_stored_alert(store: Store) -> None:
    """update_alert stores the change and returns it; an unknown id gives None and no call."""
    await store.upsert_alert(alert(labels={"alertname": "error_rate_high", "service": "payments"}))
    acked = await store.update_alert(
        "error_rate_high:payments",
        lambda a: replace(a, acknowledged_at=1_010.0, acknowledged_by="ana"),
    )
    assert acked is not None
    assert (acked.acknowledged_at, acked.acknowledged_by) == (1_010.0, "ana")
    assert await store.get_alert(acked.id) == acked
    assert acked.labels == {"alertname": "error_rate_high", "service": "payments"}
    assert await store.update_alert("no-such-alert", lambda a: a) is None


async def test_a_re_raise_keeps_acknowledgement_and_notifications(store: Store) -> None:
    """Raising an active alert again keeps who acknowledged it and what was notified."""
    await store.upsert_alert(alert())
    planned = [{"level": 1, "channel": "slack", "severity": "warning", "planned_at": 1_001.0}]
    await store.update_alert(
        "error_rate_high:payments",
        lambda a: replace(a, acknowledged_at=1_002.0, notified_at=1_001.0, notifications=planned),
    )
    merged = await store.upsert_alert(alert(updated_at=1_050.0))
    assert (merged.acknowledged_at, merged.notified_at) == (1_002.0, 1_001.0)
    assert merged.notifications == planned
    assert merged.occurrences == 2


async def test_update_alert_can_resolve_and_refuses_reactivation(
    store: Store, backend: Backend
) -> None:
    """An update that resolves moves the alert to the resolved list; reactivating is refused."""
    await store.upsert_alert(alert())
    now = backend.clock.time()
    done = await store.update_alert("error_rate_high:payments", lambda a: resolved_alert(a, at=now))
    assert done is not None
    assert await store.list_alerts() == []
    assert await store.list_alerts(status=AlertStatus.RESOLVED) == [done]
    with pytest.raises(InvalidRecordError, match="reactivate"):
        await store.update_alert(
            done.id, lambda a: replace(a, status=AlertStatus.ACTIVE, resolved_at=None)
        )


async def test_concurrent_updates_are_all_applied(backend: Backend) -> None:
    """Twenty appends to one alert's notifications through three stores all land."""
    stores = [backend.store() for _ in range(3)]
    await stores[0].upsert_alert(alert())

    def add(index: int) -> Callable[[Alert], Alert]:
        return lambda a: replace(a, notifications=[*a.notifications, {"n": index}])

    await asyncio.gather(
        *(stores[i % 3].update_alert("error_rate_high:payments", add(i)) for i in range(20))
    )
    stored = await stores[0].get_alert("error_rate_high:payments")
    assert stored is not None
    assert sorted(item["n"] for item in stored.notifications) == list(range(20))


def test_alert_labels_and_notifications_are_checked() -> None:
    """Labels must map to strings and notifications must be JSON objects."""
    with pytest.raises(InvalidRecordError, match="labels"):
        alert(labels={"service": 3})
    with pytest.raises(InvalidRecordError, match="notifications"):
        alert(notifications=["slack"])
