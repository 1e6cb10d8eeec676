"""Payments end to end: ``payment_queue.add`` in an application process, a real prefork
worker running ``outlast.payments.charge``, and a real HTTP gateway on loopback
(``tests/_gateway.py``) whose ledger says what was charged and when each request came.

The worker's retry profile is tuned through settings, as an operator would:
``sbd_transaction`` gets 4 attempts, exponential from 0.3 s, no jitter, at most 2 s.

The tests with a worker run once per broker: the test Redis, and RabbitMQ where one
answers (``tests/_brokers.py``). The worker is shared by the module's tests on a broker,
so the broker is module-scoped here, and a RabbitMQ run holds the broker lock for them all.
A test that needs a worker of its own on the payments queue lives in
``test_payments_gateway_down.py``: on RabbitMQ two workers of different namespaces share
the queue, and the shared worker would take its payment.
"""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import math
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from celery import Celery
from hypothesis import given
from hypothesis import strategies as st

from _brokers import BROKERS, broker_for_test
from _gateway import PaymentGateway
from _payments_app import (
    MAX_DELAY,
    SCHEDULE,
    add_payments,
    fresh_namespace,
    new_key,
    run_app_code,
    tuned_payments_env,
)
from _workers import WorkerProcess, celery_worker_command, start_worker
from outlast.config import reload_settings
from outlast.errors import ConfigurationError, ValidationError
from outlast.store import DeadLetter, RedisStore
from outlast.tasks._gateway_client import charges_url, classify, post_charge
from outlast.tasks._payment_queue import checked_payment
from outlast.tasks.payments import (
    CHARGE_TASK,
    PaymentGatewayUnavailableError,
    PaymentRejectedError,
    Queued,
    payment_queue,
)

# Pool processes of the shared worker. The schedule test sends this many payments at once:
# more would wait in the queue behind each other's retries and stretch the gaps.
CONCURRENCY = 3


@pytest.fixture(scope="module")
def namespace(redis_url: str) -> Iterator[str]:
    """This module's namespace."""
    with fresh_namespace(redis_url) as name:
        yield name


@pytest.fixture(scope="module")
def gateway() -> Iterator[PaymentGateway]:
    """The loopback gateway every test of this module charges (each test uses its own keys)."""
    with PaymentGateway() as running:
        yield running


@pytest.fixture(scope="module", params=BROKERS)
def broker_url(request: pytest.FixtureRequest, redis_url: str) -> Iterator[str]:
    """The broker of the module's worker: the test Redis, or RabbitMQ where one answers."""
    with broker_for_test(request.param, redis_url) as url:
        yield url


@pytest.fixture(scope="module")
def env(redis_url: str, broker_url: str, namespace: str, gateway: PaymentGateway) -> dict[str, str]:
    """The environment of the workers and of the application processes that enqueue."""
    return tuned_payments_env(redis_url, broker_url, namespace, gateway.url)


@pytest.fixture(scope="module")
def worker(env: dict[str, str], gateway: PaymentGateway) -> Iterator[WorkerProcess]:
    """One prefork worker on the payments queue, shared by the module's tests.

    Every pool process charges once before the tests start (charges held open at the
    gateway at the same time must be in different processes), so no measured gap includes
    a process's first-use costs (its store connection, its breaker's Redis link).
    """
    command = celery_worker_command(["payments"], concurrency=CONCURRENCY)
    with start_worker(env, command) as running:
        keys = [new_key() for _ in range(CONCURRENCY)]
        for key in keys:
            gateway.hold_first(1, key=key)
        held_before = len(gateway.held())
        warm_up = ({"user_id": "warm-up", "amount": 1, "idempotency_key": k} for k in keys)
        add_payments(env, *warm_up)
        assert gateway.wait_for_held(held_before + CONCURRENCY, timeout=30)
        gateway.release()
        yield running


def gaps(gateway: PaymentGateway, key: str) -> list[float]:
    """Seconds between consecutive requests of ``key`` at the gateway."""
    return [b.at - a.at for a, b in itertools.pairwise(gateway.requests(key))]


async def letters_for(store: RedisStore, key: str) -> list[DeadLetter]:
    letters = await store.list_dead_letters(task_name=CHARGE_TASK)
    return [letter for letter in letters if letter.idempotency_key == key]


def test_a_charge_posts_the_payment_and_returns_the_gateway_body(
    env: dict[str, str], worker: WorkerProcess, results: Celery, gateway: PaymentGateway
) -> None:
    """The task POSTs the five fields with the Idempotency-Key header; the result is the body."""
    key = new_key()
    [sent] = add_payments(
        env,
        {"user_id": "u-1", "amount": 1250, "currency": "eur", "idempotency_key": key,
         "metadata": {"order": "o-1"}},
    )  # fmt: skip
    assert (sent["status"], sent["idempotency_key"]) == ("queued", key)
    result = results.AsyncResult(sent["task_id"]).get(timeout=30)
    [request] = gateway.requests(key)
    assert request.body == {
        "user_id": "u-1", "amount": 1250, "currency": "EUR", "idempotency_key": key,
        "metadata": {"order": "o-1"},
    }  # fmt: skip
    assert result == gateway.charges()[key].answer


def test_503s_then_success_charge_every_payment_once_on_the_backoff_schedule(
    env: dict[str, str], worker: WorkerProcess, results: Celery, gateway: PaymentGateway
) -> None:
    """Two 503s per key, then success: one charge per payment, gaps of 0.3 s then 0.6 s."""
    keys = [new_key() for _ in range(CONCURRENCY)]
    for key in keys:
        gateway.fail_first(2, status=503, key=key)
    sent = add_payments(
        env, *({"user_id": key, "amount": 10, "idempotency_key": key} for key in keys)
    )
    for queued in sent:
        results.AsyncResult(queued["task_id"]).get(timeout=30)
    charges = gateway.charges()
    for key in keys:
        assert [r.status for r in gateway.requests(key)] == [503, 503, 201]
        assert charges[key].request_body["user_id"] == key
        first, second = gaps(gateway, key)
        assert first == pytest.approx(SCHEDULE[0], abs=0.25)
        assert second == pytest.approx(SCHEDULE[1], abs=0.25)


@pytest.mark.parametrize(
    ("retry_after", "expected_gap"),
    [("1", 1.0), ("30", MAX_DELAY)],
    ids=["honoured", "capped-by-max-delay"],
)
def test_429_waits_as_long_as_retry_after_says_up_to_max_delay(
    retry_after: str,
    expected_gap: float,
    env: dict[str, str],
    worker: WorkerProcess,
    results: Celery,
    gateway: PaymentGateway,
) -> None:
    """A 429 with Retry-After delays the retry by that much (capped), not by the backoff."""
    key = new_key()
    gateway.fail_first(1, status=429, retry_after=retry_after, key=key)
    [sent] = add_payments(env, {"user_id": "u-429", "amount": 5, "idempotency_key": key})
    results.AsyncResult(sent["task_id"]).get(timeout=30)
    assert [r.status for r in gateway.requests(key)] == [429, 201]
    [gap] = gaps(gateway, key)
    assert gap == pytest.approx(expected_gap, abs=0.3)


@pytest.mark.parametrize("status", [402, 400])
async def test_a_refused_charge_is_dead_lettered_at_the_first_attempt(
    status: int,
    env: dict[str, str],
    worker: WorkerProcess,
    results: Celery,
    gateway: PaymentGateway,
    store: RedisStore,
) -> None:
    """A 402 or 400 is permanent: no retry, a dead letter at attempt 1 naming the status."""
    key = new_key()
    gateway.fail_first(99, status=status, key=key)
    [sent] = await asyncio.to_thread(
        add_payments, env, {"user_id": "u-4xx", "amount": 7, "idempotency_key": key}
    )
    with pytest.raises(PaymentRejectedError, match=str(status)):
        await asyncio.to_thread(results.AsyncResult(sent["task_id"]).get, timeout=30)
    [letter] = await letters_for(store, key)
    assert (letter.reason, letter.attempts) == ("non_retryable", 1)
    assert letter.error_type == "outlast.tasks._gateway_client.PaymentRejectedError"
    assert str(status) in letter.error_message
    assert letter.args == ["u-4xx", 7, "USD", key, None]
    assert [r.status for r in gateway.requests(key)] == [status]
    assert key not in gateway.charges()


@pytest.mark.parametrize("amount", [10**30, 12.5])
async def test_an_amount_add_would_refuse_is_dead_lettered_by_the_worker_unsent(
    amount: int | float,
    env: dict[str, str],
    worker: WorkerProcess,
    results: Celery,
    gateway: PaymentGateway,
    store: RedisStore,
) -> None:
    """A message that never went through add (an older producer) with an amount beyond
    2**53 - 1 or a float: a non-retryable dead letter naming amount; the gateway sees nothing."""
    key = new_key()
    args = ["u-big", amount, "USD", key, None]
    sent = results.send_task(
        CHARGE_TASK, args=args, kwargs={"_outlast": {"key": key}}, queue="payments"
    )
    with pytest.raises(ValidationError, match="amount"):
        await asyncio.to_thread(sent.get, timeout=30)
    [letter] = await letters_for(store, key)
    assert (letter.reason, letter.args) == ("non_retryable", args)
    assert "amount" in letter.error_message
    assert gateway.requests(key) == []


async def test_a_gateway_that_keeps_failing_ends_in_dead_letters_after_every_attempt(
    env: dict[str, str],
    worker: WorkerProcess,
    results: Celery,
    gateway: PaymentGateway,
    store: RedisStore,
) -> None:
    """503 on every attempt: four requests on the schedule, then an exhausted dead letter."""
    key = new_key()
    gateway.fail_first(99, status=503, key=key)
    [sent] = await asyncio.to_thread(
        add_payments, env, {"user_id": "u-503", "amount": 3, "idempotency_key": key}
    )
    with pytest.raises(PaymentGatewayUnavailableError, match="503"):
        await asyncio.to_thread(results.AsyncResult(sent["task_id"]).get, timeout=30)
    [letter] = await letters_for(store, key)
    assert (letter.reason, letter.attempts) == ("exhausted", 4)
    assert gaps(gateway, key) == [pytest.approx(d, abs=0.25) for d in SCHEDULE]
    assert key not in gateway.charges()


SEED_FALLBACK = """
import asyncio, json, sys
from outlast import RetryConfig, RetryStrategy, handle_errors
from outlast.tasks import payment_queue
from outlast.testing import set_testing

set_testing(True)  # the seed's retries run without sleeping


class InsufficientFundsError(Exception):
    pass


class PaymentService:
    async def charge(self, user_id, amount):
        raise ConnectionError("payment service unreachable")


payment_service = PaymentService()


# The seed defines the fallback after the decorator that names it; Python needs it first.
async def payment_fallback_handler(user_id: str, amount: int):
    # Queue payment for later processing
    await payment_queue.add(user_id, amount)
    return {"status": "queued", "message": "Payment queued for processing"}


@handle_errors(
    operation_name="process_payment",
    circuit_breaker="payment_service",
    bulkhead="payment_processing",
    retry_config=RetryConfig(
        max_attempts=3,
        strategy=RetryStrategy.EXPONENTIAL_BACKOFF,
        retryable_exceptions=[ConnectionError, TimeoutError],
        non_retryable_exceptions=[InsufficientFundsError]
    ),
    timeout=30.0,
    fallback_func=payment_fallback_handler,
    user_friendly_errors=True
)
async def process_payment(user_id: str, amount: int):
    # Process payment with full resilience protection
    result = await payment_service.charge(user_id, amount)
    return result


print(json.dumps(asyncio.run(process_payment(sys.argv[1], 500))))
"""


def test_the_seed_fallback_awaits_payment_queue_add_and_the_payment_is_charged(
    env: dict[str, str], worker: WorkerProcess, gateway: PaymentGateway
) -> None:
    """The seed's `await payment_queue.add(user_id, amount)` fallback runs; a worker charges it."""
    user = f"seed-{uuid.uuid4().hex[:8]}"
    [answer] = run_app_code(env, SEED_FALLBACK, user)
    assert answer == {"status": "queued", "message": "Payment queued for processing"}

    def charged() -> list[Any]:
        return [c for c in gateway.charges().values() if c.request_body["user_id"] == user]

    assert gateway.wait_until(lambda: bool(charged()), timeout=30)
    [charge] = charged()
    assert charge.request_body["amount"] == 500
    assert charge.request_body["currency"] == "USD"
    assert len(gateway.requests(charge.key)) == 1


async def test_awaiting_a_queued_answer_gives_the_same_dict() -> None:
    """What add returns is a plain dict that `await` hands back unchanged, without suspending."""
    queued = Queued(status="queued", task_id="t-1", idempotency_key="k-1")
    assert isinstance(queued, dict)
    assert await queued is queued


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"user_id": "u", "amount": 0}, "amount"),
        ({"user_id": "u", "amount": -5}, "amount"),
        ({"user_id": "u", "amount": math.inf}, "amount"),
        ({"user_id": "u", "amount": "10"}, "amount"),
        ({"user_id": "u", "amount": True}, "amount"),
        ({"user_id": "u", "amount": 10**30}, "amount"),
        ({"user_id": "u", "amount": 2**53}, "amount"),
        ({"user_id": "u", "amount": 10.5}, "amount"),
        ({"user_id": "u", "amount": 500.0}, "amount"),
        ({"user_id": "u", "amount": math.nan}, "amount"),
        ({"user_id": "u", "amount": 1, "currency": "US"}, "currency"),
        ({"user_id": "u", "amount": 1, "currency": "US1"}, "currency"),
        ({"user_id": "u", "amount": 1, "currency": "DOLLARS"}, "currency"),
        ({"user_id": "u", "amount": 1, "metadata": {"when": object()}}, "metadata"),
        ({"user_id": "u", "amount": 1, "metadata": {"ratio": math.nan}}, "metadata"),
        ({"user_id": "u", "amount": 1, "metadata": ["not", "a", "mapping"]}, "metadata"),
        ({"user_id": "", "amount": 1}, "user_id"),
        ({"user_id": 42, "amount": 1}, "user_id"),
        ({"user_id": "u", "amount": 1, "idempotency_key": ""}, "idempotency_key"),
    ],
)
def test_add_refuses_bad_input_naming_the_field(arguments: dict[str, Any], field: str) -> None:
    """Bad input raises a ValidationError naming the bad field, before anything is sent."""
    with pytest.raises(ValidationError) as raised:
        payment_queue.add(**arguments)
    assert [error.field for error in raised.value.errors] == [field]


@given(
    amount=st.one_of(
        st.integers(max_value=0), st.integers(min_value=2**53), st.floats(), st.booleans()
    )
)
def test_add_refuses_every_amount_that_is_not_an_int_from_1_to_2_53_minus_1(amount: Any) -> None:
    """No zero, negative, too large, float (NaN and inf included) or bool amount gets past add."""
    with pytest.raises(ValidationError) as raised:
        payment_queue.add("u-prop", amount)
    assert [error.field for error in raised.value.errors] == ["amount"]


def test_amounts_are_ints_of_minor_units_up_to_two_to_the_53_minus_one() -> None:
    """The largest exact JSON integer is accepted as it is; the error for a float says
    what is expected instead."""
    assert checked_payment("u", 2**53 - 1, "usd", None, None)["amount"] == 2**53 - 1
    with pytest.raises(ValidationError, match=r"amount.*int number of minor units"):
        checked_payment("u", 12.5, "usd", None, None)


# The gateway client on its own (no worker): every answer maps to the right error.


def post(gateway: PaymentGateway, key: str, *, client_timeout: float = 5.0) -> Any:
    """One charge through ``post_charge`` with a client of this test's own."""
    with httpx.Client(timeout=client_timeout) as client:
        url = f"{gateway.url}/charges"
        return post_charge(client, url, {"user_id": "u"}, idempotency_key=key)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_busy_answers_are_retryable_errors_carrying_the_status(
    status: int, gateway: PaymentGateway
) -> None:
    """408, 429 and 5xx become PaymentGatewayUnavailableError with the status on it."""
    key = new_key()
    gateway.fail_first(1, status=status, key=key)
    with pytest.raises(PaymentGatewayUnavailableError) as raised:
        post(gateway, key)
    assert raised.value.status == status
    assert raised.value.retry_after is None


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 409, 422])
def test_other_4xx_answers_are_permanent_errors(status: int, gateway: PaymentGateway) -> None:
    """Any 4xx but 408 and 429 becomes PaymentRejectedError with the status on it."""
    key = new_key()
    gateway.fail_first(1, status=status, key=key)
    with pytest.raises(PaymentRejectedError) as raised:
        post(gateway, key)
    assert raised.value.status == status


def test_a_retry_after_date_is_read_as_seconds_from_now(gateway: PaymentGateway) -> None:
    """A Retry-After given as an HTTP date is carried as the seconds until that date."""
    key = new_key()
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    gateway.fail_first(1, status=503, retry_after=when, key=key)
    with pytest.raises(PaymentGatewayUnavailableError) as raised:
        post(gateway, key)
    assert raised.value.retry_after == pytest.approx(30, abs=2)


def test_a_gateway_that_does_not_answer_in_time_is_a_retryable_error(
    gateway: PaymentGateway,
) -> None:
    """A read timeout (the gateway holds the answer) is PaymentGatewayUnavailableError."""
    key = new_key()
    gateway.hold_first(1, key=key)
    try:
        with pytest.raises(PaymentGatewayUnavailableError, match="timed out"):
            post(gateway, key, client_timeout=0.3)
    finally:
        gateway.release()


def test_a_2xx_body_that_is_not_json_is_returned_as_text(gateway: PaymentGateway) -> None:
    """The result of a 2xx is its JSON body, or its text when it is not JSON."""
    key = new_key()
    gateway.fail_first(1, status=202, key=key)  # a scripted 202 answers with a JSON error body
    assert post(gateway, key) == {"error": "scripted 202"}
    response = httpx.Response(200, text="charged: ch_9")
    assert classify(response, now=time.time()) == "charged: ch_9"


def test_a_url_that_is_not_http_is_a_configuration_error() -> None:
    """A gateway URL httpx cannot use is a ConfigurationError, never an httpx exception."""
    with httpx.Client() as client, pytest.raises(ConfigurationError, match="cannot be used"):
        post_charge(client, "ftp://127.0.0.1/charges", {}, idempotency_key="k")


def test_the_charges_url_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Charges go to {OUTLAST_PAYMENT_GATEWAY_URL}/charges; unset, that is a clear error."""
    monkeypatch.delenv("OUTLAST_PAYMENT_GATEWAY_URL", raising=False)
    reload_settings()
    with pytest.raises(ConfigurationError, match="OUTLAST_PAYMENT_GATEWAY_URL"):
        charges_url()
    monkeypatch.setenv("OUTLAST_PAYMENT_GATEWAY_URL", "https://pay.example/v1/")
    reload_settings()
    assert charges_url() == "https://pay.example/v1/charges"


def test_each_process_gets_one_client_with_the_payment_timeout() -> None:
    """gateway_client() is one client per process, timing out after Settings.payment_timeout
    (checked in a fresh process, whose settings are read once)."""
    code = (
        "from outlast.tasks._gateway_client import gateway_client as g;"
        "print(g() is g(), g().timeout.read)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "OUTLAST_PAYMENT_TIMEOUT": "7.5"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "7.5"]
