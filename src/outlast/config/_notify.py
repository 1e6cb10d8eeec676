"""The settings of alert notifications: where each channel delivers (``OUTLAST_*``).

Read only where notifications are sent (the ``monitoring`` queue's worker), so a missing
Twilio token never stops a payment. A channel without its settings is not configured: a
notification planned for it fails for good (a dead letter naming the variable to set).

- Slack: ``OUTLAST_SLACK_WEBHOOK_URL`` (an incoming webhook; secret, it holds the token).
- PagerDuty Events API v2: ``OUTLAST_PAGERDUTY_ROUTING_KEY`` (the 32-character integration
  key, secret) and ``OUTLAST_PAGERDUTY_URL`` (default ``https://events.pagerduty.com``).
- Twilio (SMS and phone calls): ``OUTLAST_TWILIO_ACCOUNT_SID``, ``..._AUTH_TOKEN`` (secret),
  ``..._FROM`` (an E.164 number) and ``..._URL`` (default ``https://api.twilio.com``).
- Alertmanager: ``OUTLAST_ALERTMANAGER_URL`` (its base URL; alerts go to
  ``/api/v2/alerts``) and ``OUTLAST_ALERTMANAGER_FIRING_FOR`` (the ``endsAt`` given to a
  firing alert, renewed by each repeat; default 24 h).
- Recipients per escalation level, keyed by level number or ``default``:
  ``OUTLAST_ALERT_EMAIL_TO='{"1": ["dev@example.org"], "default": ["ops@example.org"]}'``
  (or ``OUTLAST_ALERT_EMAIL_TO__1='["dev@example.org"]'``), ``OUTLAST_ALERT_SMS_TO`` and
  ``OUTLAST_ALERT_PHONE_TO`` (E.164 numbers). Email goes through the ``OUTLAST_SMTP_*``
  relay of the email queue.
- ``OUTLAST_ALERT_LINK_URL``: a link to an alert put in every message, ``{alert_id}``
  replaced (``https://ops.example/alerts/{alert_id}``); ``OUTLAST_NOTIFY_TIMEOUT`` bounds
  each request (seconds, default 10).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from pydantic import Field, SecretStr, field_validator
from pydantic_core import PydanticCustomError

from outlast.config import _value_checks as checks
from outlast.config._loading import SettingsBase, loader

__all__ = ["NotifySettings", "get_notify_settings"]

_E164: Final = re.compile(r"\+[1-9][0-9]{1,14}")
_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+")
_LEVEL_KEY: Final = re.compile(r"[1-9][0-9]*|default")
_ACCOUNT_SID: Final = re.compile(r"AC[0-9a-fA-F]{32}")
_ROUTING_KEY: Final = re.compile(r"[0-9A-Za-z]{32}")

_Levels = dict[str, list[str]]


def _refuse(expected: str, problem: str) -> PydanticCustomError:
    context = {"expected": expected, "problem": problem}
    return PydanticCustomError(checks.EXPECTED_TYPE, "expected {expected}", context)


def _secret_url(value: SecretStr | None) -> SecretStr | None:
    if value is not None:
        checks.http_url(value.get_secret_value())
    return value


def _recipients(pattern: re.Pattern[str], what: str) -> Callable[[_Levels], _Levels]:
    def check(value: _Levels) -> _Levels:
        for key, addresses in value.items():
            if not _LEVEL_KEY.fullmatch(key):
                raise _refuse(f"{what} keyed by level number or 'default'", f"key {key!r}")
            for address in addresses:
                if not pattern.fullmatch(address):
                    raise _refuse(f"{what} keyed by level", f"{address!r} is not one")
        return value

    return check


class NotifySettings(SettingsBase):
    """Where alert notifications go, channel by channel.

    Slack messages go to the incoming webhook ``slack_webhook_url`` (it holds the token).
    PagerDuty events carry the 32-character integration key ``pagerduty_routing_key``.
    PagerDuty events are posted to ``pagerduty_url`` + ``/v2/enqueue``.
    SMS and calls go through Twilio as account ``twilio_account_sid``.
    Twilio requests authenticate with ``twilio_auth_token``.
    SMS and calls come from the E.164 number ``twilio_from``.
    Twilio requests go to ``twilio_url`` (a test server's address in tests).
    Alerts for Alertmanager are posted to ``alertmanager_url`` + ``/api/v2/alerts``.
    A firing alert sent to Alertmanager ends ``alertmanager_firing_for`` seconds later
    unless a repeat renews it or its resolution ends it.
    Email recipients per escalation level (a JSON object keyed by level number or
    ``default``) are ``alert_email_to``.
    SMS recipients per level (E.164 numbers) are ``alert_sms_to``.
    The numbers called per level are ``alert_phone_to``.
    Every message links to ``alert_link_url`` with ``{alert_id}`` replaced, when it is set.
    Each request to a provider waits at most ``notify_timeout`` seconds.
    """

    slack_webhook_url: SecretStr | None = None
    pagerduty_routing_key: SecretStr | None = None
    pagerduty_url: str = "https://events.pagerduty.com"
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None
    twilio_url: str = "https://api.twilio.com"
    alertmanager_url: str | None = None
    alertmanager_firing_for: float = Field(default=24 * 3600.0, gt=0)
    alert_email_to: dict[str, list[str]] = Field(default_factory=dict)
    alert_sms_to: dict[str, list[str]] = Field(default_factory=dict)
    alert_phone_to: dict[str, list[str]] = Field(default_factory=dict)
    alert_link_url: str | None = None
    notify_timeout: float = Field(default=10.0, gt=0)

    _slack_webhook_url = field_validator("slack_webhook_url")(_secret_url)
    _urls = field_validator("pagerduty_url", "twilio_url", "alertmanager_url", "alert_link_url")(
        checks.http_url
    )
    _email_to = field_validator("alert_email_to")(_recipients(_EMAIL, "email addresses"))
    _phones = field_validator("alert_sms_to", "alert_phone_to")(
        _recipients(_E164, "E.164 phone numbers such as +14155550100")
    )

    @field_validator("pagerduty_routing_key")
    @classmethod
    def _routing_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _ROUTING_KEY.fullmatch(value.get_secret_value()):
            raise _refuse("a 32-character PagerDuty integration key", "wrong length or form")
        return value

    @field_validator("twilio_account_sid")
    @classmethod
    def _account_sid(cls, value: str | None) -> str | None:
        if value is not None and not _ACCOUNT_SID.fullmatch(value):
            raise _refuse("a Twilio account SID: AC and 32 hex digits", f"got {value!r}")
        return value

    @field_validator("twilio_from")
    @classmethod
    def _from_number(cls, value: str | None) -> str | None:
        if value is not None and not _E164.fullmatch(value):
            raise _refuse("an E.164 phone number such as +14155550100", f"got {value!r}")
        return value

    def link_to(self, alert_id: str) -> str | None:
        """The link to ``alert_id`` that messages carry, if one is set."""
        if self.alert_link_url is None:
            return None
        return self.alert_link_url.replace("{alert_id}", alert_id)


_load = loader(NotifySettings)


def get_notify_settings() -> NotifySettings:
    """The process's notification settings, read on first use; SettingsError if one is
    wrong."""
    return _load()
