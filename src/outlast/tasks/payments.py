"""Payments: ``payment_queue.add(...)`` and the task ``outlast.payments.charge``.

The task POSTs ``{"user_id", "amount", "currency", "idempotency_key", "metadata"}``
(``amount`` an int of the currency's minor units: 500 is $5.00) with the header
``Idempotency-Key`` to ``{OUTLAST_PAYMENT_GATEWAY_URL}/charges``. A 2xx answer is done
and its body is the task's result; 408, 429, 5xx, connection errors and timeouts
are retried (a Retry-After is honoured); any other 4xx is permanent and dead-lettered at
once, with the gateway's status in the error.

It runs as an ``@operation`` on the payments queue: late acks and redelivery after a
worker dies, the retry profile ``sbd_transaction`` (the seed's profile for money moves;
tune it with ``OUTLAST_RETRIES__SBD_TRANSACTION__*``), the breaker ``payments_gateway``,
and an idempotency claim on the payment's key. A worker killed mid-charge leaves the
charge to be redelivered with the same key, which the gateway answers with the charge it
already made: exactly one charge per payment.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

from celery import signals

from outlast.config import RetryConfig, get_retry_config
from outlast.errors import ValidationError
from outlast.tasks._gateway_client import (
    PaymentGatewayError,
    PaymentGatewayUnavailableError,
    PaymentRejectedError,
    charges_url,
    gateway_client,
    post_charge,
)
from outlast.tasks._payment_queue import (
    CHARGE_SCHEMA,
    CHARGE_TASK,
    PaymentQueue,
    Queued,
    checked_payment,
)
from outlast.workers import operation

__all__ = [
    "CHARGE_TASK",
    "GATEWAY_BREAKER",
    "RETRY_PROFILE",
    "PaymentGatewayError",
    "PaymentGatewayUnavailableError",
    "PaymentQueue",
    "PaymentRejectedError",
    "Queued",
    "charge",
    "charge_retry_config",
    "payment_queue",
]

RETRY_PROFILE: Final = "sbd_transaction"
GATEWAY_BREAKER: Final = "payments_gateway"


def charge_retry_config() -> RetryConfig:
    """The ``sbd_transaction`` profile (with its settings overrides), retrying only what
    the gateway says may succeed later."""
    return dataclasses.replace(
        get_retry_config(RETRY_PROFILE),
        retryable_exceptions=(PaymentGatewayUnavailableError,),
        non_retryable_exceptions=(PaymentRejectedError,),
    )


@operation(
    CHARGE_TASK,
    queue="payments",
    retry=charge_retry_config(),
    circuit_breaker=GATEWAY_BREAKER,
    # A declined charge or bad input says nothing about the gateway's health.
    breaker_ignores=(PaymentRejectedError, ValidationError),
    idempotent=True,
)
def charge(
    user_id: str,
    amount: int,
    currency: str,
    idempotency_key: str,
    metadata: dict[str, Any] | None = None,
) -> Any:
    """Charge one payment at the gateway; the gateway's answer is the result. The payment
    is checked again here (an amount in minor units, at most 2**53 - 1): a message from an
    older producer never went through ``add``."""
    payment = checked_payment(
        user_id, amount, currency, idempotency_key, metadata, schema=CHARGE_SCHEMA
    )
    body = {**payment, "metadata": payment.get("metadata")}
    return post_charge(
        gateway_client(), charges_url(), body, idempotency_key=payment["idempotency_key"]
    )


@signals.worker_process_init.connect
def _prepare_worker_process(**_: Any) -> None:
    """Make this worker process's gateway client before any charge runs: making one (its
    TLS context) takes a noticeable fraction of a second that no charge should wait for."""
    gateway_client()


payment_queue: Final = PaymentQueue()
"""The payments queue: ``payment_queue.add(user_id, amount)`` (``await`` it, or not)."""
