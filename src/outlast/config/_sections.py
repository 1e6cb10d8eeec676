"""The settings of each kind of built-in work, read only where that work runs.

``EmailSettings`` (the SMTP relay) and ``PaymentSettings`` (the payment gateway) read the
same variables and file as :class:`~outlast.config.Settings` (``OUTLAST_SMTP_PORT``,
``OUTLAST_PAYMENT_GATEWAY_URL``), but apart from it: a wrong SMTP port fails the email task,
``email_queue.add`` and a worker that consumes the ``emails`` queue, never a breaker or a
payment. This is Django's and Celery's habit for mail settings (checked when mail is sent)
kept within pydantic-settings' rule that what is read is checked whole.
:func:`check_settings` reads the core settings and the sections named, afresh, and raises
one error naming every bad variable among them (it never caches what it read); then it
logs a warning for each ``OUTLAST_`` variable that names no setting.
"""

from __future__ import annotations

import logging
import os

from pydantic import Field, field_validator

from outlast.config import _value_checks as checks
from outlast.config._env_names import unknown_variables
from outlast.config._flower import FlowerSettings, flower_problems
from outlast.config._loading import SettingsBase, known_keys, load, loader
from outlast.config._settings import Settings
from outlast.errors import FieldError, SettingsError

log = logging.getLogger("outlast.config")

__all__ = [
    "EmailSettings",
    "PaymentSettings",
    "check_settings",
    "get_email_settings",
    "get_payment_settings",
]


class EmailSettings(SettingsBase):
    """The SMTP relay of the built-in email task (``OUTLAST_SMTP_*``).

    Messages go to ``smtp_host``:``smtp_port``, with TLS from the first byte (``smtp_tls``)
    or STARTTLS (``smtp_starttls``), and a login when ``smtp_username`` is set; they come
    from ``smtp_from``.
    """

    smtp_host: str = Field(default="127.0.0.1", description="Host of the SMTP relay.")
    smtp_port: int = Field(default=25, ge=1, le=65535, description="Port of the SMTP relay.")
    smtp_username: str | None = Field(
        default=None, description="Set, the relay is logged in to with this user."
    )
    smtp_password: str | None = Field(default=None, description="Password of that login.")
    smtp_starttls: bool = Field(
        default=False, description="Upgrade the connection with STARTTLS before sending."
    )
    smtp_tls: bool = Field(default=False, description="TLS from the first byte (port 465 style).")
    smtp_from: str = Field(
        default="outlast@localhost", description="Sender address of the built-in email task."
    )
    smtp_timeout: float = Field(
        default=30.0, gt=0, description="Seconds one exchange with the relay may take."
    )

    _smtp_host = field_validator("smtp_host")(checks.host_name)


class PaymentSettings(SettingsBase):
    """The gateway of the built-in payment task (``OUTLAST_PAYMENT_*``): charges POST to
    ``payment_gateway_url`` and wait at most ``payment_timeout`` seconds."""

    payment_gateway_url: str | None = Field(
        default=None,
        description="Base URL of the payment gateway; charges are POSTed to `<url>/charges`. "
        "Required by workers of the payments queue.",
    )
    payment_timeout: float = Field(
        default=30.0, gt=0, description="Seconds one charge request may take."
    )

    _payment_gateway_url = field_validator("payment_gateway_url")(checks.http_url)


_load_email = loader(EmailSettings)
_load_payment = loader(PaymentSettings)


def get_email_settings() -> EmailSettings:
    """The process's SMTP settings, read on first use; SettingsError if one is wrong."""
    return _load_email()


def get_payment_settings() -> PaymentSettings:
    """The process's payment settings, read on first use; SettingsError if one is wrong."""
    return _load_payment()


def _broker_fallback(settings: Settings) -> list[FieldError]:
    """A worker's broker falls back to ``redis_url``: kombu opens only redis:// or rediss://."""
    url = settings.redis_url
    if settings.broker_url or not url or url.startswith(("redis://", "rediss://")):
        return []
    message = (
        f"holds {url.split('://')[0] + '://...'!r} and OUTLAST_BROKER_URL is not set; the "
        "broker falls back to this URL and kombu opens only redis:// or rediss:// there; "
        "expected OUTLAST_BROKER_URL set (e.g. redis+socket:///path/to/redis.sock)"
    )
    return [FieldError(field="OUTLAST_REDIS_URL", code="broker_fallback", message=message)]


def check_settings(
    *, email: bool = False, payments: bool = False, broker: bool = False, flower: bool = False
) -> None:
    """Read the settings (and the sections asked for) afresh; one SettingsError naming
    every bad variable among them, or nothing. ``broker`` also checks that a worker or
    beat has a broker kombu can open; ``flower`` that Flower's login is whole."""
    classes: list[type[SettingsBase]] = [Settings]
    classes += [EmailSettings] if email else []
    classes += [PaymentSettings] if payments else []
    classes += [FlowerSettings] if flower else []
    problems: list[FieldError] = []
    for cls in classes:
        try:
            loaded = load(cls)
        except SettingsError as exc:
            problems += [p for p in exc.problems if p not in problems]
        else:
            if broker and isinstance(loaded, Settings):
                problems += _broker_fallback(loaded)
            if isinstance(loaded, FlowerSettings):
                problems += flower_problems(loaded)
    if problems:
        raise SettingsError(problems)
    for line in unknown_variables(os.environ, known_keys()):
        log.warning("%s", line)
