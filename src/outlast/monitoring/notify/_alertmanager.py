"""Alertmanager: ``POST {OUTLAST_ALERTMANAGER_URL}/api/v2/alerts``, for teams that route
their alerts there.

Alertmanager is a channel like the others (``Channel.ALERTMANAGER``): a policy level that
lists it posts the alert there, and the escalation's repeats and resolution follow. Each
post is a list of one alert: its labels (the alert's own, plus ``alertname``, ``severity``
and ``outlast_alert_id``), annotations (summary, description, level), ``startsAt`` (when
it was raised), ``generatorURL`` (the alert link, when set) and ``endsAt``: the time of
resolution for a resolved alert, else ``OUTLAST_ALERTMANAGER_FIRING_FOR`` ahead (renewed
by every repeat), so an alert whose resolution never arrives still ends there.
"""

from __future__ import annotations

from typing import Any

from outlast.config import NotifySettings
from outlast.monitoring.notify._errors import ChannelNotConfiguredError
from outlast.monitoring.notify._http import post_json
from outlast.monitoring.notify._render import AlertMessage, iso_time

__all__ = ["alertmanager_alert", "send_alertmanager"]


def alertmanager_alert(message: AlertMessage, *, now: float, firing_for: float) -> dict[str, Any]:
    """The Alertmanager alert object for ``message``."""
    labels = {**message.labels, "alertname": message.alert_type,
              "severity": message.severity, "outlast_alert_id": message.alert_id}  # fmt: skip
    ends = (message.resolved_at or now) if message.state == "resolved" else now + firing_for
    alert: dict[str, Any] = {
        "labels": labels,
        "annotations": {
            "summary": message.title,
            "description": message.text,
            "level": str(message.level),
        },
        "startsAt": iso_time(message.started_at if message.started_at is not None else now),
        "endsAt": iso_time(ends),
    }
    if message.link:
        alert["generatorURL"] = message.link
    return alert


async def send_alertmanager(message: AlertMessage, settings: NotifySettings, *, now: float) -> None:
    """Post ``message`` to Alertmanager."""
    if settings.alertmanager_url is None:
        raise ChannelNotConfiguredError(
            "alertmanager is not configured: set OUTLAST_ALERTMANAGER_URL"
        )
    url = settings.alertmanager_url.rstrip("/") + "/api/v2/alerts"
    alert = alertmanager_alert(message, now=now, firing_for=settings.alertmanager_firing_for)
    await post_json("alertmanager", url, [alert], ok={200}, wait=settings.notify_timeout, now=now)
