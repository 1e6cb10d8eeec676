"""``payment_queue.add``: check a payment, then send it to the payments queue.

The seed queues a payment from an async fallback with ``await payment_queue.add(user_id,
amount)``; plain code calls ``payment_queue.add(...)`` and reads the answer. One method
serves both: ``add`` sends at once (whether or not the caller awaits) and returns a
:class:`Queued`, a dict that can also be awaited and then gives itself back.

``amount`` is an int in the currency's minor units (cents for USD: 500 is $5.00), from 1
to 2**53 - 1 (beyond that a JSON number is not exact in most gateways); a float is refused
rather than guessed at. Bad input never reaches the broker: ``add`` raises a
``ValidationError`` naming each bad field. The idempotency key (given, or made here) is
the charge's key at the gateway and the worker's key in the store, so the payment is
charged once however often it is retried or redelivered.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any, Final

from outlast.resilience import validate_input
from outlast.tasks._queued import Queued
from outlast.workers import enqueue

__all__ = [
    "CHARGE_SCHEMA",
    "CHARGE_TASK",
    "MAX_AMOUNT",
    "PAYMENT_SCHEMA",
    "PaymentQueue",
    "Queued",
    "checked_payment",
]

CHARGE_TASK: Final = "outlast.payments.charge"

MAX_AMOUNT: Final = 2**53 - 1
"""The largest amount: above it a JSON number is not exact in most gateways (a double)."""


def _minor_units(value: object) -> bool:
    """An amount is an int number of the currency's minor units, from 1 to MAX_AMOUNT."""
    if isinstance(value, bool) or not isinstance(value, int):
        kind = "a float" if isinstance(value, float) else type(value).__name__
        raise ValueError(f"must be an int number of minor units (1050 for 10.50), not {kind}")
    if value <= 0:
        raise ValueError("must be a positive number of minor units")
    if value > MAX_AMOUNT:
        raise ValueError(f"must be at most 2**53 - 1 ({MAX_AMOUNT}) minor units")
    return True


def _json(value: object) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise ValueError("must be JSON (text keys; text, numbers, lists, objects)") from None
    return True


PAYMENT_SCHEMA: Final = {
    "user_id": {"required": True, "type": str, "min_length": 1, "max_length": 255},
    # No "type": the validator's refusal of a float or a bool says what is expected.
    "amount": {"required": True, "validator": _minor_units},
    "currency": {"required": True, "type": str, "pattern": r"[A-Za-z]{3}"},
    "idempotency_key": {"type": str, "min_length": 1, "max_length": 255},
    "metadata": {"type": dict, "validator": _json},
}
"""What ``payment_queue.add`` accepts (without a key, it makes one)."""

CHARGE_SCHEMA: Final = {
    **PAYMENT_SCHEMA,
    "idempotency_key": {**PAYMENT_SCHEMA["idempotency_key"], "required": True},
}
"""What the charge task accepts: a payment that has its key (checked again in the worker,
because a replayed or hand-sent message never went through ``add``)."""


def checked_payment(
    user_id: object,
    amount: object,
    currency: object,
    idempotency_key: object,
    metadata: object,
    *,
    schema: Mapping[str, Mapping[str, Any]] = PAYMENT_SCHEMA,
) -> dict[str, Any]:
    """The payment's fields, validated (currency upper-cased); ValidationError otherwise."""
    fields = {"user_id": user_id, "amount": amount, "currency": currency}
    fields.update(idempotency_key=idempotency_key, metadata=metadata)
    payment = validate_input(fields, schema)
    payment["currency"] = payment["currency"].upper()
    return payment


class PaymentQueue:
    """The queue of payments the ``outlast.payments.charge`` task charges."""

    def add(
        self,
        user_id: str,
        amount: int,
        currency: str = "USD",
        idempotency_key: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Queued:
        """Queue a charge of ``amount`` minor units of ``currency`` (500 USD cents is $5.00)
        to ``user_id``; returns (and awaits to) a Queued.

        ``status`` is "queued", or "parked" when the broker was down (the payment then
        waits in the store and is sent when the broker is back).
        """
        payment = checked_payment(user_id, amount, currency, idempotency_key, metadata)
        key = payment.get("idempotency_key") or uuid.uuid4().hex
        sent = enqueue(
            CHARGE_TASK,
            payment["user_id"],
            payment["amount"],
            payment["currency"],
            key,
            payment.get("metadata"),
            idempotency_key=key,
        )
        return Queued(sent)
