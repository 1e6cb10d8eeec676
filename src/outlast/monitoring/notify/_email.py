"""Email over SMTP with aiosmtplib, through the relay of the email queue (``OUTLAST_SMTP_*``).

One message goes to every recipient of the level (``OUTLAST_ALERT_EMAIL_TO``) not yet
reached. Its Message-ID derives from the notification, so a resent copy can be dropped by
the receiver. The relay's answers mean what they mean for the email queue: a 5xx reply is
a refusal for good, a 4xx reply, a refused connection or a timeout a deferral; recipients
accepted while others were refused are kept in ``done``, so a retry writes only to the
others.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib

from outlast.config import EmailSettings
from outlast.monitoring.notify._errors import NotificationDeferredError, NotificationRejectedError
from outlast.monitoring.notify._render import AlertMessage

__all__ = ["alert_email", "send_email"]


def alert_email(
    message: AlertMessage, *, sender: str, to: Sequence[str], key: str, now: float
) -> EmailMessage:
    """The email for ``message``; ``key`` identifies the notification (the Message-ID)."""
    email = EmailMessage()
    email["Subject"] = message.headline
    email["From"] = sender
    email["To"] = ", ".join(to)
    email["Date"] = format_datetime(_dt.datetime.fromtimestamp(now, _dt.UTC))
    domain = parseaddr(sender)[1].rpartition("@")[2] or "outlast.invalid"
    email["Message-ID"] = f"<alert-{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"
    lines = [message.text, "", f"Alert: {message.alert_id}", f"Service: {message.source}",
             f"Severity: {message.severity}", f"Level: {message.level}",
             f"Occurrences: {message.occurrences}"]  # fmt: skip
    lines += [f"{k}: {v}" for k, v in sorted(message.labels.items())]
    if message.link:
        lines.append(f"Link: {message.link}")
    email.set_content("\n".join(lines) + "\n")
    return email


async def send_email(
    message: AlertMessage,
    to: list[str],
    done: list[str],
    relay: EmailSettings,
    *,
    key: str,
    now: float,
) -> None:
    """Mail ``message`` to the recipients of ``to`` not yet in ``done`` (appended as
    accepted)."""
    pending = [address for address in to if address not in done]
    if not pending:
        return
    email = alert_email(message, sender=relay.smtp_from, to=pending, key=key, now=now)
    try:
        refused, _ = await aiosmtplib.send(
            email, sender=parseaddr(relay.smtp_from)[1], recipients=pending,
            hostname=relay.smtp_host, port=relay.smtp_port, username=relay.smtp_username,
            password=relay.smtp_password, use_tls=relay.smtp_tls, start_tls=relay.smtp_starttls,
            timeout=relay.smtp_timeout,
        )  # fmt: skip
    except aiosmtplib.SMTPRecipientsRefused as error:
        raise _refusal({r.recipient: r.code for r in error.recipients}) from error
    except aiosmtplib.SMTPResponseException as error:
        raise _reply(error.code, f"the relay answered {error.code} {error.message}") from error
    except (aiosmtplib.SMTPException, OSError) as error:
        raise NotificationDeferredError(f"could not mail through the relay: {error}") from error
    done.extend(address for address in pending if address not in refused)
    if refused:
        raise _refusal({address: reply.code for address, reply in refused.items()})


def _refusal(codes: dict[str, int]) -> NotificationDeferredError | NotificationRejectedError:
    """Deferred while one refusal is temporary; rejected when all are for good."""
    detail = ", ".join(f"{address} ({code})" for address, code in codes.items())
    temporary = any(not 500 <= code < 600 for code in codes.values())
    return _reply(None if temporary else 550, f"the relay refused {detail}")


def _reply(code: int | None, said: str) -> NotificationDeferredError | NotificationRejectedError:
    if code is not None and 500 <= code < 600:
        return NotificationRejectedError(said)
    return NotificationDeferredError(said)
