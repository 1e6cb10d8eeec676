"""Alert notifications on the ``monitoring`` queue: one delivery task per channel message.

``outlast.monitoring.notify`` takes ``notification``, a ``PlannedNotification.as_dict()``
(what ``escalate()`` returns; beat's escalation job sends one task per notification with
``app.send_task("outlast.monitoring.notify", kwargs={"notification": p.as_dict()})``),
and makes one attempt with :func:`outlast.monitoring.notify.send_notification`: the alert
is read from the store, rendered for the channel, sent, and the attempt recorded on the
alert. Deferrals (429, 5xx, connection failures, timeouts, the store not answering) are
retried under the ``alert_notification`` retry profile: 5 attempts, exponential from 2 s,
full jitter, at most 300 s apart, a 429's Retry-After honoured up to that bound (settings
may change its numbers: ``OUTLAST_RETRIES__ALERT_NOTIFICATION__MAX_ATTEMPTS``).
A refusal for good, a channel without settings, or the last failed attempt is a dead
letter holding the notification, so ``dead_letters.replay(id)`` sends it again (to the
recipients not yet reached). The alert itself is never lost or changed by a failure.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

from celery import current_task

from outlast.config import RetryConfig, get_settings
from outlast.config._policies import merged
from outlast.config._settings import overrides_of
from outlast.monitoring.notify import (
    NotificationDeferredError,
    NotificationRejectedError,
    send_notification,
)
from outlast.store import StoreUnavailableError
from outlast.workers import operation
from outlast.workers._store import worker_store
from outlast.workers.execution._envelope import Envelope

__all__ = ["NOTIFY_RETRY", "NOTIFY_TASK", "RETRY_PROFILE", "notify", "notify_retry_config"]

NOTIFY_TASK: Final = "outlast.monitoring.notify"
RETRY_PROFILE: Final = "alert_notification"
NOTIFY_RETRY: Final = RetryConfig(max_attempts=5, initial_delay=2.0, max_delay=300.0)


def notify_retry_config() -> RetryConfig:
    """The ``alert_notification`` profile as settings have it, retrying deferrals only."""
    override = get_settings().retries.get(RETRY_PROFILE)
    base: RetryConfig = merged(NOTIFY_RETRY, overrides_of(override)) if override else NOTIFY_RETRY
    return dataclasses.replace(
        base,
        retryable_exceptions=(NotificationDeferredError, StoreUnavailableError),
        non_retryable_exceptions=(NotificationRejectedError,),
    )


@operation(NOTIFY_TASK, queue="monitoring", retry=notify_retry_config(), idempotent=True)
async def notify(notification: dict[str, Any]) -> dict[str, Any]:
    """Deliver one planned notification; what happened (status, recipients reached,
    attempts)."""
    last = _attempt() >= notify_retry_config().max_attempts
    return await send_notification(notification, store=worker_store(), last_attempt=last)


def _attempt() -> int:
    """The number of the attempt running now (its envelope rides in the task's kwargs)."""
    request = getattr(current_task, "request", None)
    kwargs = getattr(request, "kwargs", None)
    envelope, _ = Envelope.split(dict(kwargs or {}), fallback_key="-")
    return envelope.attempt
