"""Delivery over SMTP with aiosmtplib, and the translation of its failures.

:func:`deliver` hands one message to a relay (``SmtpRelay``, read from the ``smtp_*``
settings: host and port, implicit TLS or STARTTLS, a login when a username is set). Every
failure leaves this module as one of two errors, so the retry policy decides on our types,
never on aiosmtplib's:

- :class:`EmailDeferredError` (retryable): a 4xx reply, a refused or dropped connection,
  a timeout. The relay may take the message later.
- :class:`EmailRejectedError` (permanent): a 5xx reply, or an extension the relay lacks
  (STARTTLS, AUTH, SMTPUTF8). Sending the same message again gets the same answer.

This module never logs, and never puts the password into an error or a repr.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage

import aiosmtplib

from outlast.config import EmailSettings
from outlast.errors import ConfigurationError, OutlastError, ServiceUnavailableError

__all__ = ["EmailDeferredError", "EmailRejectedError", "SmtpRelay", "deliver", "translate"]


class EmailDeferredError(ServiceUnavailableError):
    """The relay could not take the message now (4xx, connection, timeout): retry later.

    ``code`` is the SMTP reply code, None when there was no reply. The positional
    ``(message, code)`` arguments let Celery rebuild the error from a stored result.
    """

    default_code = "EMAIL_DEFERRED"
    default_user_message = "The email could not be sent yet; it will be tried again."

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.args = (message, code)
        self.code = code

    def __str__(self) -> str:
        return str(self.args[0])


class EmailRejectedError(OutlastError):
    """The relay refused the message for good (5xx, or a missing extension): never retried.

    ``code`` is the SMTP reply code, None when the refusal was not a reply.
    """

    default_code = "EMAIL_REJECTED"
    default_user_message = "The email could not be delivered."

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.args = (message, code)
        self.code = code

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpRelay:
    """Where and how to hand messages over: the ``EmailSettings``.

    ``tls`` is TLS from the first byte (port 465); ``starttls`` upgrades a plain connection
    and fails if the relay cannot. With neither, the connection stays plain.
    """

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    tls: bool = False
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.starttls and self.tls:
            raise ConfigurationError("smtp_starttls and smtp_tls exclude each other; set one")

    @classmethod
    def from_settings(cls, settings: EmailSettings) -> SmtpRelay:
        """The relay of ``settings`` (``smtp_*``)."""
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            tls=settings.smtp_tls,
            timeout=settings.smtp_timeout,
        )


async def deliver(
    message: EmailMessage, *, sender: str, recipients: Sequence[str], relay: SmtpRelay
) -> dict[str, int]:
    """Hand ``message`` to ``relay``; the recipients it refused while taking the others.

    Returns ``{address: reply code}`` (empty when all were accepted). Raises
    EmailDeferredError or EmailRejectedError when the relay took the message for no one.
    """
    try:
        refused, _ = await aiosmtplib.send(
            message,
            sender=sender,
            recipients=list(recipients),
            hostname=relay.host,
            port=relay.port,
            username=relay.username,
            password=relay.password,
            use_tls=relay.tls,
            start_tls=relay.starttls,
            timeout=relay.timeout,
        )
    except (aiosmtplib.SMTPException, OSError) as error:  # OSError covers TLS and timeouts
        raise translate(error) from error
    return {address: reply.code for address, reply in refused.items()}


def translate(error: BaseException) -> EmailDeferredError | EmailRejectedError:
    """Our error for an aiosmtplib (or socket) failure: deferred, or rejected for good."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return _every_recipient_refused(error.recipients)
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return _from_reply(error.code, f"the relay answered {error.code} {error.message}")
    if isinstance(error, OSError):  # also aiosmtplib's connect, disconnect and timeout errors
        return EmailDeferredError(f"could not talk to the relay: {type(error).__name__}: {error}")
    # What is left is the client's own refusal: the relay lacks STARTTLS, AUTH or SMTPUTF8
    # that the settings or the addresses need. Only a change of settings can help.
    return EmailRejectedError(f"the relay cannot do what is asked: {error}")


def _every_recipient_refused(
    refusals: Sequence[aiosmtplib.SMTPRecipientRefused],
) -> EmailDeferredError | EmailRejectedError:
    """Rejected when every refusal is permanent; one temporary refusal makes it deferred."""
    detail = ", ".join(f"{r.recipient} ({r.code} {r.message})" for r in refusals)
    temporary = [r.code for r in refusals if not _is_permanent(r.code)]
    code = temporary[0] if temporary else (refusals[0].code if refusals else None)
    return _from_reply(code, f"the relay refused every recipient: {detail}")


def _from_reply(code: int | None, message: str) -> EmailDeferredError | EmailRejectedError:
    if code is not None and _is_permanent(code):
        return EmailRejectedError(message, code)
    return EmailDeferredError(message, code)


def _is_permanent(code: int) -> bool:
    """5xx is a permanent failure (RFC 5321 4.2.1); anything else may pass later."""
    return 500 <= code < 600
