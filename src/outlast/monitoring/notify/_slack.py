"""Slack incoming webhooks through slack-sdk's ``AsyncWebhookClient``.

Imported only when a Slack notification is sent (slack-sdk is the ``notify`` extra). The
message is a ``text`` (the fallback notifications show) and Block Kit ``blocks``: the
headline and message, then the alert id, service, level and link. Slack answers 200 with
the body ``ok``; 429 carries Retry-After. slack-sdk's own retry handlers are turned off:
the delivery task's retry policy is the one that retries.
"""

from __future__ import annotations

from typing import Any, Final

import aiohttp
from slack_sdk.webhook.async_client import AsyncWebhookClient

from outlast.config import NotifySettings
from outlast.monitoring.notify._errors import ChannelNotConfiguredError, NotificationRejectedError
from outlast.monitoring.notify._http import check_answer, unreachable
from outlast.monitoring.notify._render import AlertMessage

__all__ = ["send_slack", "slack_payload"]

_SECTION_MAX: Final = 3000  # Slack's limit on a section block's text


def slack_payload(message: AlertMessage) -> dict[str, Any]:
    """The webhook body for ``message``: ``text`` and ``blocks``."""
    body = f"*{message.headline}*\n{message.text}"[:_SECTION_MAX]
    facts = [f"alert `{message.alert_id}`", f"service *{message.source}*",
             f"level {message.level}", f"{message.occurrences} occurrence(s)"]  # fmt: skip
    if message.link:
        facts.append(f"<{message.link}|open the alert>")
    return {
        "text": message.headline,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": body}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(facts)}]},
        ],
    }


async def send_slack(message: AlertMessage, settings: NotifySettings, *, now: float) -> None:
    """Post ``message`` to the Slack webhook of ``settings``."""
    if settings.slack_webhook_url is None:
        raise ChannelNotConfiguredError("slack is not configured: set OUTLAST_SLACK_WEBHOOK_URL")
    client = AsyncWebhookClient(
        settings.slack_webhook_url.get_secret_value(),
        timeout=max(1, round(settings.notify_timeout)),
        retry_handlers=[],
    )
    try:
        answer = await client.send(**slack_payload(message))
    except (TimeoutError, aiohttp.ClientError, OSError) as error:
        raise unreachable("slack", error) from error
    check_answer("slack", answer.status_code, answer.body, answer.headers, ok={200}, now=now)
    if answer.body != "ok":
        raise NotificationRejectedError(f"slack answered 200 but not 'ok': {answer.body[:200]!r}")
