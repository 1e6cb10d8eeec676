"""Alert notifications: deliver what escalation planned, on Slack, email, PagerDuty, SMS,
phone calls and Alertmanager.

``await send_notification(notification, store=store)`` makes one attempt at one planned
notification (see ``_dispatch``); the ``outlast.monitoring.notify`` Celery task (in
``outlast.tasks.notifications``) calls it with retries and dead letters. Each channel
lives in a module of its own and translates its client's failures into
:class:`NotificationDeferredError` (retry, honouring Retry-After) or
:class:`NotificationRejectedError` (never). slack-sdk and twilio are the ``notify`` extra,
imported only when their channel sends. This package never imports Celery.
"""

from __future__ import annotations

from outlast.monitoring.notify._acknowledge import (
    acknowledgement_notifications,
    plan_acknowledgement,
)
from outlast.monitoring.notify._dispatch import recipients_for, send_notification
from outlast.monitoring.notify._errors import (
    NOTIFY_EXTRA,
    ChannelNotConfiguredError,
    NotificationDeferredError,
    NotificationRejectedError,
)
from outlast.monitoring.notify._record import DELIVERY, delivery_of
from outlast.monitoring.notify._render import AlertMessage, message_for

__all__ = [
    "DELIVERY",
    "NOTIFY_EXTRA",
    "AlertMessage",
    "ChannelNotConfiguredError",
    "NotificationDeferredError",
    "NotificationRejectedError",
    "acknowledgement_notifications",
    "delivery_of",
    "message_for",
    "plan_acknowledgement",
    "recipients_for",
    "send_notification",
]
