"""PagerDuty Events API v2: ``POST {OUTLAST_PAGERDUTY_URL}/v2/enqueue``.

One incident per alert: every event carries the alert id as its ``dedup_key``, so a
firing notification (first, escalation or repeat) is a ``trigger`` that PagerDuty folds
into the open incident, ``acknowledged`` an ``acknowledge`` and ``resolved`` a
``resolve`` of that same incident. Trigger events carry the summary (at most 1024
characters), source, severity (info, warning, error or critical), timestamp, component
(the service), group and class (the alert type), the details and a link. PagerDuty
answers 202; 429 and 5xx are retried, 400 (a malformed event, a wrong key) is not.
"""

from __future__ import annotations

from typing import Any, Final

from outlast.config import NotifySettings
from outlast.monitoring.notify._errors import ChannelNotConfiguredError
from outlast.monitoring.notify._http import post_json
from outlast.monitoring.notify._render import AlertMessage, iso_time

__all__ = ["ACTIONS", "pagerduty_event", "send_pagerduty"]

ACTIONS: Final = {"firing": "trigger", "acknowledged": "acknowledge", "resolved": "resolve"}
_SUMMARY_MAX: Final = 1024


def pagerduty_event(message: AlertMessage, *, routing_key: str, now: float) -> dict[str, Any]:
    """The Events API v2 event for ``message``."""
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": ACTIONS[message.state],
        "dedup_key": message.alert_id,
    }
    if event["event_action"] != "trigger":
        return event
    event["payload"] = {
        "summary": message.headline[:_SUMMARY_MAX], "source": message.source,
        "severity": message.severity, "timestamp": iso_time(now),
        "component": message.labels.get("service", message.source),
        "group": message.alert_type, "class": message.alert_type,
        "custom_details": message.details(),
    }  # fmt: skip
    event["client"] = "Outlast"
    if message.link:
        event["links"] = [{"href": message.link, "text": "The alert"}]
    return event


async def send_pagerduty(message: AlertMessage, settings: NotifySettings, *, now: float) -> None:
    """Send ``message``'s event to PagerDuty."""
    if settings.pagerduty_routing_key is None:
        raise ChannelNotConfiguredError(
            "pagerduty is not configured: set OUTLAST_PAGERDUTY_ROUTING_KEY"
        )
    key = settings.pagerduty_routing_key.get_secret_value()
    url = settings.pagerduty_url.rstrip("/") + "/v2/enqueue"
    event = pagerduty_event(message, routing_key=key, now=now)
    await post_json("pagerduty", url, event, ok={200, 201, 202}, wait=settings.notify_timeout,
                    now=now)  # fmt: skip
