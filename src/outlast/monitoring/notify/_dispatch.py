"""``send_notification``: one attempt at delivering one planned notification.

It reads the alert from the store, skips a firing, escalation or repeat notification whose
alert was acknowledged or resolved meanwhile (nobody needs paging for it any more),
renders the message for the channel, sends it to the recipients not yet reached, and
records the attempt on the alert (``_record``). A failure is recorded, then raised as the
channel translated it (:class:`NotificationDeferredError`: retry;
:class:`NotificationRejectedError`: never), for the caller's retry policy to decide.
``last_attempt`` says whether a deferral is ``retrying`` or ``failed`` in the record.
The alert itself is never changed but for its record of deliveries.

Plain async code, no Celery: the ``outlast.monitoring.notify`` task calls it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from outlast._clock import SYSTEM_CLOCK, Clock
from outlast.config import EmailSettings, NotifySettings, get_email_settings, get_notify_settings
from outlast.monitoring._escalation import Channel, PlannedNotification
from outlast.monitoring.notify._alertmanager import send_alertmanager
from outlast.monitoring.notify._email import send_email
from outlast.monitoring.notify._errors import (
    ChannelNotConfiguredError,
    NotificationDeferredError,
    import_client,
)
from outlast.monitoring.notify._pagerduty import send_pagerduty
from outlast.monitoring.notify._record import delivery_of, record_delivery
from outlast.monitoring.notify._render import AlertMessage, message_for
from outlast.store import Alert, AlertStatus, Store

__all__ = ["recipients_for", "send_notification"]

log = logging.getLogger("outlast.monitoring.notify")

_PAGING_KINDS: Final = frozenset({"firing", "escalation", "repeat", "acknowledged"})


async def send_notification(
    notification: PlannedNotification | Mapping[str, Any],
    *,
    store: Store,
    settings: NotifySettings | None = None,
    email_settings: EmailSettings | None = None,
    clock: Clock = SYSTEM_CLOCK,
    last_attempt: bool = True,
) -> dict[str, Any]:
    """Deliver ``notification`` (a ``PlannedNotification`` or its ``as_dict()``) once;
    returns what happened (``status``: sent or skipped, ``sent_to``, ``attempts``)."""
    planned = _planned(notification)
    settings = settings or get_notify_settings()
    now = clock.time()
    alert = await store.get_alert(planned.alert_id)
    previous = delivery_of(alert, planned)
    if previous.get("status") in ("sent", "skipped"):
        return _outcome(planned, previous)  # a redelivered message that already ran
    delivery = _attempted(previous, now)
    reason = _needless(planned, alert)
    if reason is not None:
        return await _settle(store, alert, planned, {**delivery, "status": "skipped",
                                                     "reason": reason})  # fmt: skip
    message = message_for(planned, alert, link=settings.link_to(planned.alert_id))
    sent_to: list[str] = list(delivery["sent_to"])
    try:
        await _send(planned, message, sent_to, settings, email_settings, now)
    except Exception as error:
        retrying = isinstance(error, NotificationDeferredError) and not last_attempt
        failed = {**delivery, "sent_to": sent_to, "error": f"{type(error).__name__}: {error}",
                  "status": "retrying" if retrying else "failed"}  # fmt: skip
        await _settle(store, alert, planned, failed)
        raise
    return await _settle(store, alert, planned, {**delivery, "sent_to": sent_to, "status": "sent"})


def recipients_for(table: Mapping[str, list[str]], level: int, variable: str) -> list[str]:
    """The recipients of ``level`` in a per-level table (or its ``default``)."""
    found = table.get(str(level)) or table.get("default")
    if not found:
        raise ChannelNotConfiguredError(
            f"no recipients for level {level}: set {variable}__{level} or {variable}__DEFAULT"
        )
    return list(found)


def _planned(notification: PlannedNotification | Mapping[str, Any]) -> PlannedNotification:
    if isinstance(notification, PlannedNotification):
        return notification
    return PlannedNotification.from_dict(dict(notification))


def _attempted(previous: dict[str, Any], now: float) -> dict[str, Any]:
    """The delivery record of this attempt, before its outcome."""
    return {
        "attempts": int(previous.get("attempts", 0)) + 1,
        "first_attempt_at": previous.get("first_attempt_at", now),
        "last_attempt_at": now,
        "sent_to": list(previous.get("sent_to", [])),
    }


def _needless(planned: PlannedNotification, alert: Alert | None) -> str | None:
    """Why paging about ``alert`` would be noise now, or None."""
    if alert is None or planned.kind not in _PAGING_KINDS:
        return None
    if alert.status is AlertStatus.RESOLVED:
        return "the alert was resolved before this was sent"
    if alert.acknowledged_at is not None and planned.kind != "acknowledged":
        return "the alert was acknowledged before this was sent"
    return None


async def _send(
    planned: PlannedNotification,
    message: AlertMessage,
    sent_to: list[str],
    settings: NotifySettings,
    relay: EmailSettings | None,
    now: float,
) -> None:
    """Send ``message`` on the notification's channel to those not in ``sent_to``."""
    channel, level = planned.channel, planned.level
    if channel is Channel.EMAIL:
        to = recipients_for(settings.alert_email_to, level, "OUTLAST_ALERT_EMAIL_TO")
        key = f"{planned.alert_id}:{level}:{planned.kind}:{planned.planned_at!r}"
        await send_email(message, to, sent_to, relay or get_email_settings(), key=key, now=now)
    elif channel in (Channel.SMS, Channel.PHONE):
        twilio = import_client("outlast.monitoring.notify._twilio", channel=channel.value,
                               package="twilio")  # fmt: skip
        if channel is Channel.SMS:
            to = recipients_for(settings.alert_sms_to, level, "OUTLAST_ALERT_SMS_TO")
            await twilio.send_sms(message, to, sent_to, settings, now=now)
        else:
            to = recipients_for(settings.alert_phone_to, level, "OUTLAST_ALERT_PHONE_TO")
            await twilio.send_call(message, to, sent_to, settings, now=now)
    elif channel.value not in sent_to:
        await _send_one(channel, message, settings, now)
        sent_to.append(channel.value)


async def _send_one(
    channel: Channel, message: AlertMessage, settings: NotifySettings, now: float
) -> None:
    """The channels with one destination each: Slack, PagerDuty, Alertmanager."""
    if channel is Channel.SLACK:
        slack = import_client("outlast.monitoring.notify._slack", channel="slack",
                              package="slack-sdk")  # fmt: skip
        await slack.send_slack(message, settings, now=now)
    elif channel is Channel.PAGERDUTY:
        await send_pagerduty(message, settings, now=now)
    elif channel is Channel.ALERTMANAGER:
        await send_alertmanager(message, settings, now=now)
    else:  # pragma: no cover  (every channel is handled above)
        raise ChannelNotConfiguredError(f"no sender for the {channel.value} channel")


async def _settle(
    store: Store, alert: Alert | None, planned: PlannedNotification, delivery: dict[str, Any]
) -> dict[str, Any]:
    """Record ``delivery`` on the alert (a store failure is logged: the message went, or
    its error is the one to raise); what happened."""
    if alert is not None:
        try:
            await record_delivery(store, planned, delivery)
        except Exception as error:
            log.warning("delivery of %s not recorded: %s", planned.alert_id, error)
    return _outcome(planned, delivery)


def _outcome(planned: PlannedNotification, delivery: dict[str, Any]) -> dict[str, Any]:
    return {
        "alert_id": planned.alert_id, "channel": planned.channel.value, "kind": planned.kind,
        "level": planned.level, "status": delivery.get("status"),
        "sent_to": list(delivery.get("sent_to", [])), "attempts": delivery.get("attempts", 0),
    }  # fmt: skip
