"""A dead letter of a task the worker did not know replays under the work's own key.

A worker of ``tests/_bare_worker_app.py`` knows no operation (an older or misconfigured
worker), so every message it takes is a task nobody registered, dead-lettered as poison.
The letter must carry the idempotency key the message's envelope held, with the envelope
out of its arguments; replayed once a worker knows the task, the work runs under that key.
For a payment already charged under its key, the replay is answered from the store's
record of that key: the gateway sees no second request, so no second charge. Redis broker
only: keys and letters do not depend on the broker.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator

import pytest
import redis
from celery import Celery

from _gateway import PaymentGateway
from _payments_app import add_payments, new_key, payments_env, run_app_code
from _workers import celery_worker_command, start_worker
from outlast.config import Settings
from outlast.store import DeadLetter, RedisStore
from outlast.tasks.payments import CHARGE_TASK
from outlast.workers import create_app
from outlast.workers.execution._envelope import ENVELOPE_KEY

QUEUES = ["payments", "operations"]
KNOWING = celery_worker_command(QUEUES)
BARE = [arg if arg != "outlast.workers" else "_bare_worker_app" for arg in KNOWING]

ENQUEUE_KEYED = """
import json, sys, _ops_keys
from outlast.workers import enqueue
print(json.dumps(enqueue("tests.keyed", sys.argv[1], idempotency_key=sys.argv[2])))
"""

REPLAY = """
import asyncio, json, sys, _ops_keys, outlast.tasks.payments
from outlast import dead_letters
print(json.dumps(asyncio.run(dead_letters.replay(sys.argv[1]))))
"""


@pytest.fixture
def gateway() -> Iterator[PaymentGateway]:
    """The loopback payment gateway, with its ledger."""
    with PaymentGateway() as running:
        yield running


@pytest.fixture
def env(redis_url: str, namespace: str, gateway: PaymentGateway) -> dict[str, str]:
    """Payments and the key-recording operation, all on the test Redis."""
    env = payments_env(
        redis_url, namespace, gateway.url, task_modules='["outlast.tasks.payments", "_ops_keys"]'
    )
    return {**env, "OUTLAST_TEST_REDIS_URL": redis_url}


@pytest.fixture
def results(redis_url: str, namespace: str) -> Iterator[Celery]:
    """A client app for reading task results."""
    app = create_app(Settings(broker_url=redis_url, redis_url=redis_url, namespace=namespace))
    yield app
    app.close()


async def the_letter(store: RedisStore, task_name: str) -> DeadLetter:
    """The one dead letter of ``task_name`` (waits up to 20 s for it)."""
    deadline = time.monotonic() + 20
    letters = await store.list_dead_letters(task_name=task_name)
    while not letters and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        letters = await store.list_dead_letters(task_name=task_name)
    [letter] = letters
    return letter


def replay(env: dict[str, str], letter_id: str) -> str:
    """``outlast.dead_letters.replay`` in an application process; the new task id."""
    [task_id] = run_app_code(env, REPLAY, letter_id)
    return str(task_id)


async def test_an_unknown_tasks_letter_replays_under_the_works_own_key(
    env: dict[str, str], results: Celery, store: RedisStore, redis_url: str, namespace: str
) -> None:
    """Unknown to the first worker: the letter has key k-7 (not in its kwargs); replayed to
    a worker that knows the task, the operation runs under k-7."""
    prefix = f"{namespace}:keyed"
    with start_worker(env, BARE):
        await asyncio.to_thread(run_app_code, env, ENQUEUE_KEYED, prefix, "k-7")
        letter = await the_letter(store, "tests.keyed")
    assert (letter.reason, letter.idempotency_key) == ("poison", "k-7")
    assert (letter.args, letter.kwargs) == ([prefix], {})
    assert ENVELOPE_KEY not in json.dumps(letter.kwargs)

    with start_worker(env, KNOWING):
        task_id = await asyncio.to_thread(replay, env, letter.id)
        ran_as = await asyncio.to_thread(results.AsyncResult(task_id).get, timeout=30)
    with redis.Redis.from_url(redis_url) as client:
        recorded = [key.decode() for key in client.lrange(f"{prefix}:keys", 0, -1)]
    assert (ran_as, recorded) == ("k-7", ["k-7"])


async def test_a_replayed_payment_letter_is_not_charged_again(
    env: dict[str, str], results: Celery, store: RedisStore, gateway: PaymentGateway
) -> None:
    """A payment charged once, then sent again to a worker that does not know the charge
    task: the letter's replay gives back the first charge, and the gateway saw one request."""
    key = new_key()
    payment = {"user_id": "u-replay", "amount": 700, "idempotency_key": key}
    with start_worker(env, KNOWING):
        [first] = await asyncio.to_thread(add_payments, env, payment)
        charged = await asyncio.to_thread(results.AsyncResult(first["task_id"]).get, timeout=30)
    with start_worker(env, BARE):
        await asyncio.to_thread(add_payments, env, payment)
        letter = await the_letter(store, CHARGE_TASK)
    assert letter.idempotency_key == key

    with start_worker(env, KNOWING):
        task_id = await asyncio.to_thread(replay, env, letter.id)
        replayed = await asyncio.to_thread(results.AsyncResult(task_id).get, timeout=30)
    assert replayed == charged
    assert len(gateway.requests(key)) == 1
    assert list(gateway.charges()) == [key]


async def test_a_letter_that_kept_its_key_in_its_kwargs_replays_under_that_key(
    env: dict[str, str], store: RedisStore, redis_url: str, namespace: str
) -> None:
    """A letter stored before letters carried their own key (the envelope left in its
    kwargs, no idempotency_key) is sent again under the envelope's key, envelope removed."""
    old = DeadLetter(
        id="old-1:poison", task_name="tests.keyed", reason="poison", error_type="KeyError",
        error_message="'tests.keyed'", failed_at=time.time(), args=["p"],
        kwargs={ENVELOPE_KEY: {"key": "k-old", "attempt": 1}}, task_id="old-1",
    )  # fmt: skip
    await store.add_dead_letter(old)
    await asyncio.to_thread(replay, env, old.id)
    with redis.Redis.from_url(redis_url) as client:
        [raw] = client.lrange(f"outlast:{namespace}:operations", 0, -1)
    args, kwargs, _ = json.loads(base64.b64decode(json.loads(raw)["body"]))
    assert (args, kwargs[ENVELOPE_KEY]["key"], sorted(kwargs)) == (["p"], "k-old", [ENVELOPE_KEY])
