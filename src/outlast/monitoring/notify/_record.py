"""The record of deliveries, kept on the alert itself.

Each planned notification in ``Alert.notifications`` gets a ``delivery`` object when a
delivery is tried: ``status`` (``sent``, ``retrying``, ``failed`` or ``skipped``),
``attempts``, ``first_attempt_at``, ``last_attempt_at``, ``sent_to`` (the recipients
reached so far: a retry skips them), and ``error`` or ``reason`` when there is one. A
notification the alert does not list (sent by hand) is appended with its delivery. Every
write is one ``Store.update_alert``, atomic beside the escalation's own writes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

from outlast.monitoring._escalation import PlannedNotification
from outlast.store import Alert, Store

__all__ = ["DELIVERY", "delivery_of", "record_delivery"]

DELIVERY: Final = "delivery"


def _is(entry: dict[str, Any], planned: dict[str, Any]) -> bool:
    return all(entry.get(name) == value for name, value in planned.items())


def delivery_of(alert: Alert | None, notification: PlannedNotification) -> dict[str, Any]:
    """The delivery recorded for ``notification`` on ``alert`` (empty if none)."""
    planned = notification.as_dict()
    for entry in alert.notifications if alert is not None else ():
        if _is(entry, planned) and isinstance(entry.get(DELIVERY), dict):
            return dict(entry[DELIVERY])
    return {}


async def record_delivery(
    store: Store, notification: PlannedNotification, delivery: dict[str, Any]
) -> Alert | None:
    """Store ``delivery`` as the delivery of ``notification`` on its alert."""
    planned = notification.as_dict()

    def change(alert: Alert) -> Alert:
        entries = [dict(entry) for entry in alert.notifications]
        for entry in entries:
            if _is(entry, planned):
                entry[DELIVERY] = delivery
                break
        else:
            entries.append({**planned, DELIVERY: delivery})
        return replace(alert, notifications=entries)

    return await store.update_alert(notification.alert_id, change)
