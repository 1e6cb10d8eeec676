"""The payment gateway over HTTP: one POST per charge, and what its answer means.

``post_charge`` sends the charge as JSON with an ``Idempotency-Key`` header and returns the
decoded body of a 2xx answer. Everything else becomes one of the errors below, at this one
boundary (no httpx exception leaves it):

    PaymentGatewayError                 .status (None: no answer), .retry_after (seconds)
    ├── PaymentGatewayUnavailableError  408, 429, 5xx, connection errors, timeouts: retry
    └── PaymentRejectedError            any other 4xx (and 1xx/3xx): permanent

``retry_after`` carries the answer's Retry-After header, read where Outlast's retry policy
reads it, so a retry waits as long as the gateway asked (capped by the profile's max_delay).

Each process gets one ``httpx.Client`` (thread-safe, so pool threads share it), made when
the worker process starts, so connections are pooled across tasks; a forked child makes
its own. The charge is sync: a sync operation runs on the task's own thread with no event
loop turn (see ``outlast.workers.execution._execute_sync``), which bench/throughput.py measured as
the cheaper path. This module never retries and never sleeps: deciding what happens next
is the worker's job.
"""

from __future__ import annotations

import os
import time
from typing import Any, Final

import httpx

from outlast.config import get_payment_settings
from outlast.errors import ConfigurationError, OutlastError, ServiceUnavailableError
from outlast.resilience.retry._retry_after import parse_retry_after

__all__ = [
    "PaymentGatewayError",
    "PaymentGatewayUnavailableError",
    "PaymentRejectedError",
    "charges_url",
    "classify",
    "gateway_client",
    "post_charge",
]

#: Answers that mean "not now": the gateway (or something in front of it) may accept later.
RETRYABLE_STATUSES: Final = frozenset({408, 429})


class PaymentGatewayError(OutlastError):
    """The gateway did not charge: ``status`` is its HTTP answer (None when there was none)."""

    default_code = "PAYMENT_GATEWAY_ERROR"
    default_user_message = "The payment could not be processed."

    def __init__(
        self, message: str = "", *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class PaymentGatewayUnavailableError(PaymentGatewayError, ServiceUnavailableError):
    """The gateway could not take the charge now (408, 429, 5xx, no connection): retryable."""

    default_code = "PAYMENT_GATEWAY_UNAVAILABLE"
    default_user_message = "The payment service is busy. Your payment will be retried."


class PaymentRejectedError(PaymentGatewayError):
    """The gateway refused the charge itself (402 declined, 400 bad request...): permanent."""

    default_code = "PAYMENT_REJECTED"
    default_user_message = "The payment was declined."


def classify(response: httpx.Response, *, now: float) -> Any:
    """The decoded body of a 2xx ``response``; the matching PaymentGatewayError otherwise."""
    status = response.status_code
    if 200 <= status < 300:
        return _body(response)
    detail = response.text[:200]
    if status in RETRYABLE_STATUSES or status >= 500:
        header = response.headers.get("Retry-After")
        wait = parse_retry_after(header, now=now) if header is not None else None
        raise PaymentGatewayUnavailableError(
            f"payment gateway answered {status}: {detail}", status=status, retry_after=wait
        )
    raise PaymentRejectedError(f"payment gateway refused with {status}: {detail}", status=status)


def _body(response: httpx.Response) -> Any:
    """JSON when the gateway sends JSON (it should); the text otherwise."""
    try:
        return response.json()
    except ValueError:
        return response.text


def post_charge(
    client: httpx.Client, url: str, charge: dict[str, Any], *, idempotency_key: str
) -> Any:
    """POST ``charge`` to ``url``; the gateway's 2xx body, or a PaymentGatewayError."""
    headers = {"Idempotency-Key": idempotency_key}
    try:
        response = client.post(url, json=charge, headers=headers)
    except (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL) as error:
        raise ConfigurationError(f"payment gateway URL {url!r} cannot be used: {error}") from error
    except httpx.TimeoutException as error:
        raise PaymentGatewayUnavailableError(
            f"payment gateway timed out ({type(error).__name__})"
        ) from error
    except httpx.TransportError as error:  # connection refused or reset, proxy, protocol
        raise PaymentGatewayUnavailableError(
            f"payment gateway unreachable ({type(error).__name__}: {error})"
        ) from error
    return classify(response, now=time.time())


def charges_url() -> str:
    """``{PaymentSettings.payment_gateway_url}/charges``; ConfigurationError when it is not set."""
    base = get_payment_settings().payment_gateway_url
    if not base:
        raise ConfigurationError("OUTLAST_PAYMENT_GATEWAY_URL is not set: nowhere to charge")
    return base.rstrip("/") + "/charges"


_client: httpx.Client | None = None
_client_pid = 0


def gateway_client() -> httpx.Client:
    """This process's client (made on first use, timeout ``payment_timeout``); a forked
    child, whose parent's connections are not its own, makes a new one."""
    global _client, _client_pid
    if _client is None or _client_pid != os.getpid():
        timeout = httpx.Timeout(get_payment_settings().payment_timeout)
        _client, _client_pid = httpx.Client(timeout=timeout), os.getpid()
    return _client
