"""Telling PagerDuty an alert was acknowledged: the ``acknowledged`` notifications.

Escalation plans firing, escalation, repeat and resolved notifications; an
acknowledgement in Outlast (``error_monitor.acknowledge``) plans nothing by itself. For
PagerDuty's incident to follow (acknowledged there too, so its own escalation stops),
:func:`plan_acknowledgement` stores one ``acknowledged`` notification per PagerDuty
channel of the levels the alert reached, for the caller to send as ``outlast.monitoring.
notify`` tasks like any other. The other channels are not told: a chat line per
acknowledgement is noise, and Alertmanager has no acknowledgement.
"""

from __future__ import annotations

from dataclasses import replace

from outlast.monitoring._escalation import (
    DEFAULT_POLICY,
    Channel,
    EscalationPolicy,
    PlannedNotification,
    notifications_for,
)
from outlast.store import Alert, AlertStatus, Store

__all__ = ["acknowledgement_notifications", "plan_acknowledgement"]


def acknowledgement_notifications(
    alert: Alert, policy: EscalationPolicy = DEFAULT_POLICY, *, now: float
) -> list[PlannedNotification]:
    """One ``acknowledged`` notification per PagerDuty channel of the levels ``alert``
    reached (none for an unacknowledged or resolved alert, or one never escalated)."""
    if alert.acknowledged_at is None or alert.status is not AlertStatus.ACTIVE:
        return []
    planned: list[PlannedNotification] = []
    for level in policy.levels[: alert.escalation_level]:
        if Channel.PAGERDUTY in level.channels and level.takes(alert.severity):
            found = notifications_for(alert, level, kind="acknowledged", now=now)
            planned += [p for p in found if p.channel is Channel.PAGERDUTY]
    return planned[:1]  # one routing key, one incident: a single acknowledge suffices


async def plan_acknowledgement(
    store: Store, alert_id: str, *, now: float, policy: EscalationPolicy = DEFAULT_POLICY
) -> list[PlannedNotification]:
    """Store the acknowledgement notifications of ``alert_id`` on it (once: an alert that
    already has them gets none again); the ones to send."""
    planned: list[PlannedNotification] = []

    def change(alert: Alert) -> Alert:
        nonlocal planned
        told = any(entry.get("kind") == "acknowledged" for entry in alert.notifications)
        planned = [] if told else acknowledgement_notifications(alert, policy, now=now)
        stored = [*alert.notifications, *(p.as_dict() for p in planned)]
        return replace(alert, notifications=stored) if planned else alert

    await store.update_alert(alert_id, change)
    return planned
