"""Acknowledging an alert plans PagerDuty's acknowledgement on it, and the outbox of
planned notifications hands each to the notifier once: pending until marked dispatched,
never again after (a real Redis store, a fake clock, no worker)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from outlast.errors import ErrorSeverity
from outlast.monitoring import Channel, ErrorMonitor, escalate
from outlast.monitoring._outbox import DISPATCHED, mark_dispatched, pending_notifications
from outlast.store import Alert, RedisStore
from outlast.testing import FakeClock

ALERT_ID = "error_rate_critical:outbox"


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at the real wall time."""
    return FakeClock(wall_start=time.time())


@pytest.fixture
async def store(redis_url: str, namespace: str) -> AsyncIterator[RedisStore]:
    """The test's store in the test Redis."""
    opened = RedisStore(redis_url, namespace=namespace)
    yield opened
    await opened.close()


@pytest.fixture
def monitor(redis_url: str, namespace: str, clock: FakeClock) -> ErrorMonitor:
    """A monitor on the test's Redis namespace and store, at the fake clock."""
    return ErrorMonitor(
        redis_url=redis_url, namespace=namespace, clock=clock,
        open_store=lambda: RedisStore(redis_url, namespace=namespace),
    )  # fmt: skip


async def paged_alert(store: RedisStore, clock: FakeClock, level: int, **fields: Any) -> Alert:
    """A critical alert of payments notified 31 minutes ago and escalated to ``level``,
    its earlier notifications already dispatched."""
    now = clock.time()
    return await store.upsert_alert(Alert(
        id=ALERT_ID, alert_type="error_rate_critical", severity=ErrorSeverity.CRITICAL,
        title="Error rate critical on payments", message="31% of calls failed",
        created_at=now - 1900, updated_at=now, source="payments", notified_at=now - 1860,
        last_notified_at=now - 1860, escalation_level=level,
        labels={"alertname": "error_rate_critical", "service": "payments"}, **fields,
    ))  # fmt: skip


async def test_acknowledging_a_paged_alert_plans_one_pagerduty_acknowledgement(
    store: RedisStore, monitor: ErrorMonitor, clock: FakeClock
) -> None:
    """An alert at level 2 acknowledged (twice) carries one pending ``acknowledged``
    PagerDuty notification; once marked dispatched nothing is pending."""
    await paged_alert(store, clock, level=2)
    acknowledged = await monitor.aacknowledge(ALERT_ID, by="ada")
    again = await monitor.aacknowledge(ALERT_ID, by="bob")
    assert acknowledged is not None
    assert again is not None
    assert again.acknowledged_by == "ada"
    [entry] = again.notifications
    assert (entry["kind"], entry["channel"], entry["level"]) == ("acknowledged", "pagerduty", 2)
    [pending] = await pending_notifications(store)
    assert (pending.kind, pending.channel, pending.alert_id) == (
        "acknowledged", Channel.PAGERDUTY, ALERT_ID)  # fmt: skip
    assert await mark_dispatched(store, [pending], at=clock.time()) == 1
    assert await mark_dispatched(store, [pending], at=clock.time() + 1) == 0
    assert await pending_notifications(store) == []
    stored = await store.get_alert(ALERT_ID)
    assert stored is not None
    assert stored.notifications[0][DISPATCHED] == clock.time()


async def test_acknowledging_before_pagerduty_plans_nothing(
    store: RedisStore, monitor: ErrorMonitor, clock: FakeClock
) -> None:
    """An alert that only reached level 1 (Slack and email) is acknowledged with nothing
    planned: PagerDuty never heard of it."""
    await paged_alert(store, clock, level=1)
    acknowledged = await monitor.aacknowledge(ALERT_ID, by="ada")
    assert acknowledged is not None
    assert acknowledged.acknowledged_at is not None
    assert acknowledged.notifications == []
    assert await pending_notifications(store) == []


async def test_escalation_and_resolution_wait_in_the_outbox_until_dispatched(
    store: RedisStore, monitor: ErrorMonitor, clock: FakeClock
) -> None:
    """What escalate plans is pending until marked dispatched; a resolution announced later
    is pending alone, and a notification the notifier already tried never is."""
    await paged_alert(store, clock, level=1)
    planned = await escalate(monitor=monitor)
    assert {(p.level, p.channel) for p in planned} == {
        (2, Channel.PAGERDUTY), (2, Channel.SLACK), (2, Channel.EMAIL)}  # fmt: skip
    assert sorted(map(repr, await pending_notifications(store))) == sorted(map(repr, planned))
    await mark_dispatched(store, planned, at=clock.time())
    await monitor.aresolve(ALERT_ID)
    clock.advance(301)  # group_interval: the group is flushed and the resolution announced
    resolved = await escalate(monitor=monitor)
    assert {p.kind for p in resolved} == {"resolved"}
    assert sorted(map(repr, await pending_notifications(store))) == sorted(map(repr, resolved))

    def tried(alert: Alert) -> Alert:
        entries = [{**e, "delivery": {"status": "retrying"}} for e in alert.notifications]
        return replace(alert, notifications=entries)

    await store.update_alert(ALERT_ID, tried)
    assert await pending_notifications(store) == []
