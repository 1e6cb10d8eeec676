"""The message an email task sends, and the Message-ID that makes redelivery harmless.

Delivery is at-least-once: a worker that dies after the relay accepted the message but
before the task was acknowledged sends it again. :func:`message_id_for` derives the
Message-ID from the work's idempotency key, so every copy carries the same one and the
receiving side can drop the duplicate. This module builds data only; it never sends.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Final

__all__ = ["address_of", "build_message", "message_id_for"]

# The right side of a Message-ID must be a dot-atom; anything else falls back to localhost.
_DOMAIN: Final = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


def message_id_for(key: str, *, sender: str) -> str:
    """``<first 32 hex digits of sha256(key)@the sender's domain>``: the same key, the same id."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"<{digest}@{_domain_of(sender)}>"


def address_of(sender: str) -> str:
    """The bare address of ``"Name <user@host>"`` (the SMTP envelope wants no display name)."""
    return parseaddr(sender)[1] or sender


def _domain_of(sender: str) -> str:
    _, at, domain = parseaddr(sender)[1].rpartition("@")
    return domain if at and _DOMAIN.fullmatch(domain) else "localhost"


def build_message(
    *,
    sender: str,
    to: Sequence[str],
    subject: str,
    body: str,
    html: str | None,
    message_id: str,
    date: float,
) -> EmailMessage:
    """A text message (with an HTML alternative when ``html`` is given); ``date`` is epoch s."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(date, usegmt=True)
    message["Message-ID"] = message_id
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message
