"""What an email may be: the schema ``email_queue.add`` and the send task both check.

Checked with ``validate_input``, so one ``ValidationError`` names every bad field (``to``,
``to[2]``, ``subject``...). The checks are deliberately basic: an address is
``local@domain`` without spaces or address punctuation (the relay judges deliverability),
a subject is one line (a line break in a header would let the caller add headers), and
text may hold line breaks and tabs but no other control characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from outlast.errors import ErrorContext
from outlast.resilience import validate_input

__all__ = ["MAX_RECIPIENTS", "validate_email"]

MAX_RECIPIENTS: Final = 100

_ADDRESS: Final = re.compile(
    r'[^\s@<>()\[\],;:\\"]+@[^\s@<>()\[\],;:\\".]+(?:\.[^\s@<>()\[\],;:\\".]+)*'
)
_MESSAGE_ID: Final = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")


def _is_address(value: str) -> None:
    if _ADDRESS.fullmatch(value) is None:
        raise ValueError("is not an email address")


def _is_one_line(value: str) -> None:
    if "\n" in value or "\r" in value or "\t" in value:
        raise ValueError("must be one line, without tabs or line breaks")


def _is_not_blank(value: str) -> None:
    if not value.strip():
        raise ValueError("must not be blank")


Schema = Mapping[str, Mapping[str, Any]]

_ADDRESS_FIELD: Final[Mapping[str, Any]] = {
    "required": True,
    "type": str,
    "max_length": 254,
    "validator": _is_address,
}
_CONTENT_FIELDS: Final[Schema] = {
    "subject": {"required": True, "type": str, "max_length": 998, "validator": _is_one_line},
    "body": {"required": True, "type": str},
    "html": {"type": str},
    "idempotency_key": {"type": str, "max_length": 256, "validator": _is_not_blank},
    "message_id": {"type": str, "max_length": 256, "pattern": _MESSAGE_ID},
}
_TO_MANY_FIELD: Final[Mapping[str, Any]] = {
    "required": True,
    "min_length": 1,
    "max_length": MAX_RECIPIENTS,
    "items": _ADDRESS_FIELD,
}
_MESSAGE_ID_REQUIRED: Final[Schema] = {
    "message_id": {**_CONTENT_FIELDS["message_id"], "required": True},
}
# Four fixed schemas (one address or a list; queuing, or sending with its Message-ID), so
# each is compiled once: validate_input caches compiled schemas by identity.
_SCHEMAS: Final[Mapping[tuple[bool, bool], Schema]] = {
    (True, False): {"to": _ADDRESS_FIELD, **_CONTENT_FIELDS},
    (False, False): {"to": _TO_MANY_FIELD, **_CONTENT_FIELDS},
    (True, True): {"to": _ADDRESS_FIELD, **_CONTENT_FIELDS, **_MESSAGE_ID_REQUIRED},
    (False, True): {"to": _TO_MANY_FIELD, **_CONTENT_FIELDS, **_MESSAGE_ID_REQUIRED},
}


def validate_email(
    *,
    to: object,
    subject: object,
    body: object,
    html: object = None,
    idempotency_key: object = None,
    message_id: object = None,
    sending: bool = False,
) -> dict[str, Any]:
    """The checked fields (``to`` always a list; absent optional fields left out).

    ``to`` is one address or a list (or tuple) of 1 to :data:`MAX_RECIPIENTS`.
    ``sending`` (the worker's check) requires the ``message_id``. Raises ValidationError
    naming each bad field.
    """
    fields = {"to": to, "subject": subject, "body": body, "html": html}
    fields.update(idempotency_key=idempotency_key, message_id=message_id)
    schema = _SCHEMAS[isinstance(to, str), sending]
    checked = validate_input(fields, schema, ErrorContext(operation="outlast.emails.send"))
    recipients = checked["to"]
    checked["to"] = [recipients] if isinstance(recipients, str) else list(recipients)
    return checked
