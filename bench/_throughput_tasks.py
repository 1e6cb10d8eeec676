"""The tasks ``bench/throughput.py`` compares; its workers import this module.

``bench.plain`` is a plain Celery task on the same app (so the same acks_late,
reject_on_worker_lost, prefetch 1, task events, JSON and result backend), with none of
Outlast's execution core; ``bench.noop`` is the same no-op as an ``@operation``, and
``bench.noop_claimed`` the same again with ``idempotent=True`` (a claim per task).
``bench.plain_charge`` is a plain Celery task that makes the HTTP call a charge makes
(one pooled ``httpx`` client per process, the same URL, body and ``Idempotency-Key``),
so the payment row can be set beside the cost of its HTTP call alone.
"""

from __future__ import annotations

import os
from typing import Any

import httpx

from outlast.workers import app, operation

_client: tuple[int, httpx.Client] | None = None


@app.task(name="bench.plain")  # type: ignore[untyped-decorator]  # Celery is untyped
def plain(value: int) -> int:
    """Return at once: the floor a Celery task costs on this broker and pool."""
    return value


@operation("bench.noop")
def noop(value: int) -> int:
    """Return at once: what an ``@operation`` costs beyond the plain task."""
    return value


@operation("bench.noop_claimed", idempotent=True)
def noop_claimed(value: int) -> int:
    """The no-op with an idempotency claim: what claiming and completing a key costs."""
    return value


@app.task(name="bench.plain_charge")  # type: ignore[untyped-decorator]  # Celery is untyped
def plain_charge(user_id: str, amount: int, key: str) -> Any:
    """POST the charge to the gateway and return its JSON: a charge without Outlast."""
    body = {"user_id": user_id, "amount": amount, "currency": "USD", "idempotency_key": key}
    url = f"{os.environ['OUTLAST_PAYMENT_GATEWAY_URL']}/charges"
    response = _http().post(url, json=body, headers={"Idempotency-Key": key})
    response.raise_for_status()
    return response.json()


def _http() -> httpx.Client:
    """This process's client (a forked pool child makes its own)."""
    global _client
    if _client is None or _client[0] != os.getpid():
        _client = (os.getpid(), httpx.Client(timeout=30.0))
    return _client[1]
