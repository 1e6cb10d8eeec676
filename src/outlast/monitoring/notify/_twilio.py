"""SMS and phone calls through Twilio's REST API with the ``twilio`` package.

Imported only when an SMS or a call is sent (twilio is the ``notify`` extra). The client
is ``twilio.rest.Client`` with its ``api`` domain's ``base_url`` set to
``OUTLAST_TWILIO_URL`` (requests go to ``{url}/2010-04-01/Accounts/{sid}/Messages.json``
and ``.../Calls.json``) and an httpx transport of our own (:class:`HttpxTwilioClient`,
twilio's ``AsyncHttpClient`` interface): it keeps the last answer's headers, which
twilio's errors drop, so a 429's Retry-After is honoured. An SMS carries the
headline and link (at most 320 characters); a call reads the headline aloud with TwiML
``<Say>`` twice. Twilio answers 201; 429 and 5xx are retried, other 4xx are not.
"""

from __future__ import annotations

from typing import Any, Final
from xml.sax.saxutils import escape

import httpx
from twilio.base.exceptions import TwilioException  # type: ignore[import-untyped]
from twilio.http import AsyncHttpClient  # type: ignore[import-untyped]
from twilio.http.response import Response  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]

from outlast.config import NotifySettings
from outlast.monitoring.notify._errors import (
    ChannelNotConfiguredError,
    NotificationDeferredError,
    NotificationRejectedError,
)
from outlast.monitoring.notify._http import retry_after_in, unreachable
from outlast.monitoring.notify._render import AlertMessage

__all__ = ["HttpxTwilioClient", "send_call", "send_sms", "sms_text", "voice_twiml"]

_SMS_MAX: Final = 320


class HttpxTwilioClient(AsyncHttpClient):  # type: ignore[misc]
    """twilio's async HTTP client interface over httpx, keeping the last answer."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        super().__init__(logger=None, is_async=True, timeout=None)
        self._client = client
        self.last_response: Response | None = None

    async def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109  (twilio's interface)
        allow_redirects: bool = False,
    ) -> Response:
        answer = await self._client.request(
            method, uri, params=params, data=data, headers=headers, auth=auth,  # type: ignore[arg-type]
            follow_redirects=allow_redirects,
        )  # fmt: skip
        self.last_response = Response(answer.status_code, answer.text, answer.headers)
        return self.last_response


def sms_text(message: AlertMessage) -> str:
    """The SMS body: headline, then the link when there is one."""
    text = message.headline + (f" {message.link}" if message.link else "")
    return text[:_SMS_MAX]


def voice_twiml(message: AlertMessage) -> str:
    """The TwiML a call follows: the headline said twice."""
    said = escape(f"Outlast alert. {message.severity}. {message.title}. {message.state}.")
    return f'<Response><Say>{said}</Say><Pause length="1"/><Say>{said}</Say></Response>'


async def send_sms(
    message: AlertMessage, to: list[str], done: list[str], settings: NotifySettings, *, now: float
) -> None:
    """Text ``message`` to each number of ``to`` not yet in ``done`` (appended as sent)."""
    text = sms_text(message)
    await _each(settings, to, done, now, lambda c, n, sender: c.messages.create_async(
        to=n, from_=sender, body=text))  # fmt: skip


async def send_call(
    message: AlertMessage, to: list[str], done: list[str], settings: NotifySettings, *, now: float
) -> None:
    """Call each number of ``to`` not yet in ``done`` (appended as called) and read
    ``message``."""
    twiml = voice_twiml(message)
    await _each(settings, to, done, now, lambda c, n, sender: c.calls.create_async(
        to=n, from_=sender, twiml=twiml))  # fmt: skip


async def _each(
    settings: NotifySettings, to: list[str], done: list[str], now: float, create: Any
) -> None:
    sid, token, sender = _credentials(settings)
    async with httpx.AsyncClient(timeout=settings.notify_timeout) as http:
        transport = HttpxTwilioClient(http)
        client = Client(sid, token, http_client=transport, environment={})
        client.api.base_url = settings.twilio_url.rstrip("/")
        for number in to:
            if number in done:
                continue
            try:
                await create(client, number, sender)
            except httpx.TransportError as error:
                raise unreachable("twilio", error) from error
            except TwilioException as error:
                raise _translated(error, transport, now) from error
            done.append(number)


def _credentials(settings: NotifySettings) -> tuple[str, str, str]:
    sid, token, sender = (settings.twilio_account_sid, settings.twilio_auth_token,
                          settings.twilio_from)  # fmt: skip
    if sid is None or token is None or sender is None:
        raise ChannelNotConfiguredError(
            "twilio is not configured: set OUTLAST_TWILIO_ACCOUNT_SID, "
            "OUTLAST_TWILIO_AUTH_TOKEN and OUTLAST_TWILIO_FROM"
        )
    return sid, token.get_secret_value(), sender


def _translated(
    error: TwilioException, transport: HttpxTwilioClient, now: float
) -> NotificationDeferredError | NotificationRejectedError:
    """Our error for a Twilio error answer (legacy or RFC 9457 form: both carry status)."""
    status = int(getattr(error, "status", 0) or 0)
    detail = getattr(error, "msg", None) or getattr(error, "title", None) or ""
    said = f"twilio answered {status}: {detail} (code {getattr(error, 'code', None)})"
    if status in (408, 429) or status >= 500:
        last = transport.last_response
        return NotificationDeferredError(said, retry_after_in(last and last.headers, now=now))
    return NotificationRejectedError(said)
