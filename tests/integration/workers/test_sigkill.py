"""SIGKILL mid-charge: workers die while the gateway holds their charge requests open, new
workers start, and every payment still ends charged exactly once, none lost.

A *round* is one payment whose charge request the gateway had received (and charged) and
was still holding open when its worker, pool processes and all, was SIGKILLed; its answer
never reached the worker, so only redelivery and idempotency can finish the payment.
The suite runs ``ROUNDS`` = 20 rounds as ``ROUNDS / CONCURRENCY`` kill cycles of a worker
whose ``CONCURRENCY`` pool processes each hold one charge, and the cycles overlap. They
must: a dead worker's idempotency claim holds until its lease (``CLAIM_LEASE``, 12 s)
lapses, and only then may a redelivered charge post again, so one round lasts 12 to 15 s
on a 2-core machine. Twenty rounds one after the other would take about four minutes;
overlapped they take about twenty seconds.

It runs once per broker (``broker_url``), and each hands a dead worker's messages back its
own way. Redis: the next worker's unacked-restore sweep (every 1 s) returns a message to
the queue once it is 10 s old (the visibility timeout, the least the settings allow).
RabbitMQ: the broker requeues a message as soon as the connection of the worker that held
it closes. Either way the redelivered task finds the dead worker's claim still
held (the lease outlasts the visibility timeout) and defers, rechecking every second and
spending no attempt, until the claim lapses; then it posts again with the same
Idempotency-Key, the gateway answers with the charge it already made, and that charge is
the task's result.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

import pytest
from celery import Celery

from _gateway import PaymentGateway
from _payments_app import add_payments, new_key, payments_env
from _workers import WorkerProcess, celery_worker_command, start_worker
from outlast.store import RedisStore
from outlast.tasks.payments import CHARGE_TASK

ROUNDS = 20
CONCURRENCY = 4
CYCLES = ROUNDS // CONCURRENCY
VISIBILITY_TIMEOUT = 10
CLAIM_LEASE = 12


@pytest.fixture
def gateway() -> Iterator[PaymentGateway]:
    """A gateway that charges every key's first request on arrival and holds its answer."""
    with PaymentGateway() as running:
        running.hold_first(1)
        yield running


@pytest.fixture
def env(redis_url: str, broker_url: str, namespace: str, gateway: PaymentGateway) -> dict[str, str]:
    """Workers whose claims lapse 12 s after their last renewal and, on Redis, whose dead
    peers' messages come back after 10 s."""
    return payments_env(
        redis_url,
        namespace,
        gateway.url,
        broker_url=broker_url,
        broker_visibility_timeout=str(VISIBILITY_TIMEOUT),
        idempotency_claim_lease=str(CLAIM_LEASE),
    )


@contextlib.contextmanager
def kill_cycles(env: dict[str, str], gateway: PaymentGateway) -> Iterator[WorkerProcess]:
    """Start a worker; CYCLES times: once it holds CONCURRENCY charges at the gateway, start
    its replacement and SIGKILL it. Yields the last worker, alive and holding nothing; every
    worker started here is stopped on the way out."""

    def start() -> WorkerProcess:
        # A node name of its own each: on RabbitMQ a replacement named like the worker it
        # replaces could not take that worker's (exclusive) remote-control queue.
        command = celery_worker_command(["payments"], concurrency=CONCURRENCY, name="sigkill")
        return start_worker(env, command)

    workers = [start()]
    try:
        for cycle in range(1, CYCLES + 1):
            held = gateway.wait_for_held(cycle * CONCURRENCY, timeout=30)
            assert held, f"cycle {cycle}: {len(gateway.held())} charges held"
            workers.append(start())  # it takes over the dead one's work
            workers[-2].kill()
        yield workers[-1]
    finally:
        for worker in workers:
            worker.stop()


def charge_through_kills(
    env: dict[str, str], gateway: PaymentGateway, results: Celery, keys: list[str]
) -> list[object]:
    """Queue a payment per key, run the kill cycles, and wait for every payment's result."""
    sent = add_payments(env, *({"user_id": k, "amount": 100, "idempotency_key": k} for k in keys))
    with kill_cycles(env, gateway):
        return [results.AsyncResult(s["task_id"]).get(timeout=90) for s in sent]


async def test_sigkill_while_the_gateway_holds_charges_loses_and_doubles_nothing(
    env: dict[str, str],
    gateway: PaymentGateway,
    results: Celery,
    store: RedisStore,
) -> None:
    """20 rounds: workers SIGKILLed mid-charge; every payment charged exactly once, none lost."""
    keys = [new_key() for _ in range(ROUNDS)]
    started = time.monotonic()
    outcomes = await asyncio.to_thread(charge_through_kills, env, gateway, results, keys)
    elapsed = time.monotonic() - started

    charges = gateway.charges()
    assert sorted(charges) == sorted(keys)  # one charge per payment: none lost, none doubled
    assert len(gateway.held()) == ROUNDS  # every payment was mid-charge when a worker died
    for key, outcome in zip(keys, outcomes, strict=True):
        held, *replays = gateway.requests(key)
        assert (held.held, held.status) == (True, 201)
        assert replays, f"{key}: never redelivered"
        assert {r.status for r in replays} == {200}  # the same key, answered with the charge
        assert outcome == charges[key].answer
    assert await store.list_dead_letters(task_name=CHARGE_TASK) == []
    assert elapsed < 75  # the rounds overlap, as the module docstring says
