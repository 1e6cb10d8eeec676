"""Email through the worker system: ``email_queue.add(...)`` and the ``outlast.emails.send`` task.

``email_queue.add(to, subject, body, html=None, idempotency_key=None)`` validates the
email, derives its Message-ID from the idempotency key (given, or made here) and enqueues
``outlast.emails.send`` on the ``emails`` queue. A worker sends it over SMTP to
``OUTLAST_SMTP_HOST``:``OUTLAST_SMTP_PORT`` under the ``email_sending`` retry profile
(settings may change its numbers: ``OUTLAST_RETRIES__EMAIL_SENDING__INITIAL_DELAY``) and
bulkhead. Only deferrals (4xx replies, connection failures, timeouts) are retried; a 5xx
reply is a dead letter at once. The same key enqueued twice sends once, and a redelivered
send carries the same Message-ID, so receivers can drop the copy. Recipients refused while
others accepted the message are not sent the whole message again (the accepted ones would
get a second copy): those refused for now get a follow-up send of their own, those refused
for good a dead letter that replays to them alone (``_email_refused``).

The task takes the Message-ID as its ``message_id`` argument (the envelope's key is not
visible to an operation), so queue email with ``email_queue.add``, also in fallbacks; a
hand-made ``enqueue("outlast.emails.send", ...)`` must pass ``message_id`` itself.

``add`` publishes synchronously and returns a ``Queued`` dict (as ``payment_queue.add``
does); awaiting that dict returns it, so the seed-style
``await email_queue.add(...)`` works in an async fallback too.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any, ClassVar, Final

from outlast._clock import SYSTEM_CLOCK
from outlast.config import RetryConfig, get_email_settings, get_retry_config
from outlast.tasks._email_input import MAX_RECIPIENTS, validate_email
from outlast.tasks._email_message import address_of, build_message, message_id_for
from outlast.tasks._email_refused import settle_refused
from outlast.tasks._queued import Queued
from outlast.tasks._smtp import (
    EmailDeferredError,
    EmailRejectedError,
    SmtpRelay,
    deliver,
)
from outlast.workers import enqueue, operation

__all__ = [
    "BULKHEAD",
    "MAX_RECIPIENTS",
    "RETRY_PROFILE",
    "SEND_TASK",
    "EmailDeferredError",
    "EmailQueue",
    "EmailRejectedError",
    "Queued",
    "email_queue",
    "message_id_for",
    "send",
    "send_retry_config",
    "validate_email",
]

SEND_TASK: Final = "outlast.emails.send"
RETRY_PROFILE: Final = "email_sending"
BULKHEAD: Final = "email_sending"


def send_retry_config() -> RetryConfig:
    """The ``email_sending`` profile as settings have it, retrying deferrals only."""
    return dataclasses.replace(
        get_retry_config(RETRY_PROFILE),
        retryable_exceptions=(EmailDeferredError,),
        non_retryable_exceptions=(EmailRejectedError,),
    )


@operation(
    SEND_TASK,
    queue="emails",
    retry=send_retry_config(),
    bulkhead=BULKHEAD,
    idempotent=True,
)
async def send(
    to: str | list[str],
    subject: str,
    body: str,
    html: str | None = None,
    *,
    message_id: str,
) -> dict[str, Any]:
    """Send one email through the configured relay; returns who accepted and who refused
    it (and, when some were refused, who is ``retrying`` and who was ``dead_lettered``).

    The arguments are checked again here: a message enqueued by other means than
    ``email_queue.add`` (or replayed) must not reach the relay unchecked.
    """
    email = validate_email(
        to=to, subject=subject, body=body, html=html, message_id=message_id, sending=True
    )
    settings = get_email_settings()
    message = build_message(
        sender=settings.smtp_from,
        to=email["to"],
        subject=email["subject"],
        body=email["body"],
        html=email.get("html"),
        message_id=email["message_id"],
        date=SYSTEM_CLOCK.time(),
    )
    refused = await deliver(
        message,
        sender=address_of(settings.smtp_from),
        recipients=email["to"],
        relay=SmtpRelay.from_settings(settings),
    )
    accepted = [address for address in email["to"] if address not in refused]
    outcome = {"message_id": email["message_id"], "accepted": accepted, "refused": refused}
    if refused:
        delay = send_retry_config().initial_delay
        outcome.update(await settle_refused(SEND_TASK, email, refused, delay=delay))
    return outcome


class EmailQueue:
    """Queues emails for the ``outlast.emails.send`` task (the seed's ``email_queue``)."""

    __slots__ = ()

    task_name: ClassVar[str] = SEND_TASK

    def add(
        self,
        to: str | list[str] | tuple[str, ...],
        subject: str,
        body: str,
        *,
        html: str | None = None,
        idempotency_key: str | None = None,
    ) -> Queued:
        """Validate and enqueue one email; the same ``idempotency_key`` sends it once.

        Without a key a fresh one is made (each call is then its own email). The result
        carries the key and the Message-ID derived from it.
        """
        email = validate_email(
            to=to,
            subject=subject,
            body=body,
            html=html,
            idempotency_key=idempotency_key,
        )
        key = email.get("idempotency_key") or uuid.uuid4().hex
        message_id = message_id_for(key, sender=get_email_settings().smtp_from)
        sent = enqueue(
            SEND_TASK,
            to=email["to"],
            subject=email["subject"],
            body=email["body"],
            html=email.get("html"),
            message_id=message_id,
            idempotency_key=key,
        )
        return Queued({**sent, "message_id": message_id})


email_queue: Final = EmailQueue()
"""``email_queue.add(to, subject, body, html=None, idempotency_key=None)``."""
