"""What a delivery's failure means: try again later, or never.

Every channel translates its client's failures into one of these at its own boundary, so
the retry policy of the delivery task decides on our types, never on slack-sdk's,
twilio's or httpx's:

- :class:`NotificationDeferredError` (retryable): a 429, a 5xx, a refused or dropped
  connection, a timeout, a 4xx SMTP reply. ``retry_after`` is the wait the provider asked
  for (its Retry-After), which the worker honours.
- :class:`NotificationRejectedError` (permanent): the provider refused the message for
  good (a 4xx HTTP status other than 429, a 5xx SMTP reply).
- :class:`ChannelNotConfiguredError` (permanent): the channel has no settings, or its
  client package is not installed. Only a change of settings can help.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Final

from outlast.errors import OutlastError, ServiceUnavailableError

__all__ = [
    "NOTIFY_EXTRA",
    "ChannelNotConfiguredError",
    "NotificationDeferredError",
    "NotificationRejectedError",
    "import_client",
]

NOTIFY_EXTRA: Final = 'pip install "outlast[notify]"'


class NotificationDeferredError(ServiceUnavailableError):
    """The provider could not take the notification now; ``retry_after`` is the wait it
    asked for (seconds), None when it said nothing. The positional ``(message,
    retry_after)`` arguments let Celery rebuild the error from a stored result."""

    default_code = "NOTIFICATION_DEFERRED"
    default_user_message = "The notification could not be sent yet; it will be tried again."

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.args = (message, retry_after)
        self.retry_after = retry_after

    def __str__(self) -> str:
        return str(self.args[0])


class NotificationRejectedError(OutlastError):
    """The provider refused the notification for good: sending it again gets the same."""

    default_code = "NOTIFICATION_REJECTED"
    default_user_message = "The notification could not be delivered."

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.args = (message,)

    def __str__(self) -> str:
        return str(self.args[0])


class ChannelNotConfiguredError(NotificationRejectedError):
    """The channel lacks a setting or its client package (the message names which)."""

    default_code = "CHANNEL_NOT_CONFIGURED"


def import_client(module: str, *, channel: str, package: str) -> ModuleType:
    """``module`` (a channel module that imports ``package``), or a clear error saying how
    to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ChannelNotConfiguredError(
            f"the {channel} channel needs the {package} package: {NOTIFY_EXTRA}"
        ) from error
