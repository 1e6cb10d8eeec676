"""The notifications planned on alerts and not yet handed to the notifier: an outbox.

Every planned notification lives on its alert (``Alert.notifications``): escalation plans
firing, escalation, repeat and resolved ones, an acknowledgement plans PagerDuty's
``acknowledged`` one. Beat's escalation job hands each to the notifier once:
:func:`pending_notifications` lists those neither marked dispatched nor tried by a
delivery, and :func:`mark_dispatched` stamps ``dispatched_at`` on the ones handed over, so
a later run does not send them again. The job sends first and marks after: a crash in
between sends one again, and the notifier skips a notification already delivered; a
notification that could not be sent stays pending for the next run.

Never sends anything itself: the job (``outlast.tasks.monitoring``) owns the broker.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from outlast.monitoring._escalation import PlannedNotification
from outlast.store import Alert, AlertStatus, Store

if TYPE_CHECKING:
    from outlast.monitoring._monitor import ErrorMonitor

__all__ = [
    "DISPATCHED",
    "confirm_dispatched",
    "mark_dispatched",
    "outbox",
    "pending_notifications",
    "undispatched",
]

DISPATCHED: Final = "dispatched_at"
_DELIVERY: Final = "delivery"  # the notifier's record of its attempts (notify._record)


def undispatched(alert: Alert) -> list[PlannedNotification]:
    """The notifications planned on ``alert`` that were neither dispatched nor tried."""
    return [
        PlannedNotification.from_dict(entry)
        for entry in alert.notifications
        if isinstance(entry, dict) and DISPATCHED not in entry and _DELIVERY not in entry
    ]


async def pending_notifications(store: Store, *, limit: int = 1000) -> list[PlannedNotification]:
    """The undispatched notifications of the ``limit`` newest active alerts and as many
    resolved ones, oldest plan first."""
    active = await store.list_alerts(limit=limit)
    resolved = await store.list_alerts(status=AlertStatus.RESOLVED, limit=limit)
    found = [p for alert in [*active, *resolved] for p in undispatched(alert)]
    return sorted(found, key=lambda p: p.planned_at)


async def mark_dispatched(
    store: Store, notifications: Iterable[PlannedNotification], *, at: float
) -> int:
    """Stamp ``dispatched_at`` on each of ``notifications`` on its alert (one atomic update
    per alert); how many were stamped now (a stamp already there is kept)."""
    by_alert: dict[str, list[dict[str, Any]]] = {}
    for notification in notifications:
        by_alert.setdefault(notification.alert_id, []).append(notification.as_dict())
    stamped = 0
    for alert_id, planned in by_alert.items():
        count = 0

        def change(alert: Alert, planned: list[dict[str, Any]] = planned) -> Alert:
            nonlocal count
            entries, count = _stamped(alert.notifications, planned, at)
            return replace(alert, notifications=entries) if count else alert

        await store.update_alert(alert_id, change)
        stamped += count
    return stamped


async def outbox(
    *, monitor: ErrorMonitor | None = None, limit: int = 1000
) -> list[PlannedNotification]:
    """:func:`pending_notifications` in the store of ``monitor`` (default: the process's)."""
    store = _monitor(monitor).open_alert_store()
    try:
        return await pending_notifications(store, limit=limit)
    finally:
        await store.close()


async def confirm_dispatched(
    notifications: Iterable[PlannedNotification], *, monitor: ErrorMonitor | None = None
) -> int:
    """:func:`mark_dispatched` at the monitor's now, in its store."""
    monitor = _monitor(monitor)
    store = monitor.open_alert_store()
    try:
        return await mark_dispatched(store, notifications, at=monitor.clock.time())
    finally:
        await store.close()


def _monitor(monitor: ErrorMonitor | None) -> ErrorMonitor:
    if monitor is not None:
        return monitor
    from outlast.monitoring import error_monitor

    return error_monitor


def _stamped(
    entries: Iterable[Any], planned: list[dict[str, Any]], at: float
) -> tuple[list[Any], int]:
    """``entries`` with the ``planned`` ones stamped dispatched, and how many were."""
    out: list[Any] = []
    count = 0
    for entry in entries:
        if isinstance(entry, dict) and DISPATCHED not in entry and _is_one_of(entry, planned):
            entry = {**entry, DISPATCHED: at}
            count += 1
        out.append(entry)
    return out, count


def _is_one_of(entry: Mapping[str, Any], planned: list[dict[str, Any]]) -> bool:
    return any(all(entry.get(k) == v for k, v in p.items()) for p in planned)
