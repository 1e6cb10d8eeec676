"""Operations end to end: real worker processes, the real test Redis as store and results.

Each test enqueues from a separate process (as an application would), lets a prefork
worker run the operation, and checks what the operation itself recorded in Redis.

Every test runs once per broker: ``[redis]`` (the test Redis, a namespace per test), and
``[rabbitmq]`` when a RabbitMQ answers an AMQP handshake on 127.0.0.1:5672 (or
``$OUTLAST_TEST_AMQP_URL``) at collection. Without one, the ``[rabbitmq]`` ids are not
generated at all (nothing is skipped). On RabbitMQ the tests hold a lock, run one at a
time and delete Outlast's queues before and after (``tests/_brokers.py``); results and the
store stay in the test Redis."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from _workers import WorkerProcess, celery_worker_command, enqueue_from_app, start_worker
from outlast.store import RedisStore

TESTS_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """The folder's environment, with retries over 1 s parked and released every 0.5 s."""
    return {**env, "OUTLAST_RETRY_PARK_THRESHOLD": "1.0", "OUTLAST_RETRY_RELEASE_INTERVAL": "0.5"}


@pytest.fixture
def worker(env: dict[str, str], tmp_path: Path) -> Iterator[WorkerProcess]:
    """A prefork worker on the operations queue, with an embedded beat for parked retries."""
    schedule = str(tmp_path / "beat-schedule")  # beat rewrites this file: never a device
    queues = ["operations", "monitoring"]  # the beat job that releases parked retries
    command = [*celery_worker_command(queues, concurrency=2), "-B", "-s", schedule]
    with start_worker(env, command) as running:
        yield running


def enqueue(
    env: dict[str, str], *items: tuple[str, list[Any], dict[str, Any], str | None]
) -> list[dict[str, Any]]:
    """Enqueue ``items`` from a separate process; what enqueue returned for each."""
    return enqueue_from_app(env, items)


def replay(env: dict[str, str], letter_id: str) -> str:
    """Replay a dead letter from a separate process with ``outlast.dead_letters.replay``."""
    code = (
        "import asyncio, sys, _ops_for_tests; from outlast import dead_letters;"
        "print(asyncio.run(dead_letters.replay(sys.argv[1])))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, letter_id], capture_output=True, text=True,
        env={**os.environ, **env}, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def attempts(redis_url: str, prefix: str) -> list[float]:
    """The times at which the operation recorded attempts under ``prefix``."""
    client = redis.Redis.from_url(redis_url)
    return [float(x) for x in client.lrange(f"{prefix}:attempts", 0, -1)]


def test_noop_operation_runs_and_returns(
    env: dict[str, str], worker: WorkerProcess, results: Celery
) -> None:
    """An enqueued operation runs in a worker and its result reaches the backend."""
    [sent] = enqueue(env, ("tests.noop", [7], {}, None))
    assert sent["status"] == "queued"
    assert results.AsyncResult(sent["task_id"]).get(timeout=30) == {"value": 7}


@pytest.mark.parametrize("name", ["tests.flaky", "tests.async_flaky"])
def test_retries_follow_the_exponential_schedule(
    name: str,
    env: dict[str, str],
    worker: WorkerProcess,
    results: Celery,
    redis_url: str,
    namespace: str,
) -> None:
    """Two failures, then success: the gaps between attempts are 0.3 s then 0.6 s."""
    prefix = f"{namespace}:{name}"
    [sent] = enqueue(env, (name, [prefix, 2], {}, None))
    assert results.AsyncResult(sent["task_id"]).get(timeout=30).endswith("charged")
    times = attempts(redis_url, prefix)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 3
    assert gaps[0] == pytest.approx(0.3, abs=0.25)
    assert gaps[1] == pytest.approx(0.6, abs=0.25)
    assert gaps[1] > gaps[0]


def test_duplicate_key_runs_once_and_answers_twice(
    env: dict[str, str], worker: WorkerProcess, results: Celery, redis_url: str, namespace: str
) -> None:
    """The same idempotency key enqueued twice calls the operation once; both get its result."""
    prefix = f"{namespace}:dup"
    first, second = enqueue(
        env,
        ("tests.flaky", [prefix, 0], {}, "order-1"),
        ("tests.flaky", [prefix, 0], {}, "order-1"),
    )
    assert results.AsyncResult(first["task_id"]).get(timeout=30) == "charged"
    assert results.AsyncResult(second["task_id"]).get(timeout=30) == "charged"
    assert len(attempts(redis_url, prefix)) == 1


async def test_non_retryable_error_lands_in_dead_letters(
    env: dict[str, str], worker: WorkerProcess, results: Celery, store: RedisStore, namespace: str
) -> None:
    """A ValueError (not retryable) is dead-lettered at attempt 1 with all its details."""
    prefix = f"{namespace}:refused"
    [sent] = enqueue(env, ("tests.refused", [prefix], {}, "refund-9"))
    with pytest.raises(ValueError, match="card declined"):
        results.AsyncResult(sent["task_id"]).get(timeout=30)
    [letter] = await store.list_dead_letters(task_name="tests.refused")
    assert (letter.reason, letter.attempts) == ("non_retryable", 1)
    assert letter.error_type == "builtins.ValueError"
    assert letter.args == [prefix]
    assert letter.idempotency_key == "refund-9"
    assert "card declined" in letter.traceback


async def test_exhausted_retries_land_in_dead_letters(
    env: dict[str, str], worker: WorkerProcess, results: Celery, store: RedisStore, namespace: str
) -> None:
    """After max_attempts failures the work is dead-lettered with the attempt count."""
    prefix = f"{namespace}:exhausted"
    [sent] = enqueue(env, ("tests.flaky", [prefix, 99], {}, None))
    with pytest.raises(ConnectionError):
        results.AsyncResult(sent["task_id"]).get(timeout=30)
    [letter] = await store.list_dead_letters(task_name="tests.flaky")
    assert (letter.reason, letter.attempts) == ("exhausted", 4)


async def test_a_failure_of_the_core_itself_is_dead_lettered(
    env: dict[str, str], worker: WorkerProcess, results: Celery, store: RedisStore, namespace: str
) -> None:
    """A result the store cannot keep fails the core, not the operation: the work lands in
    dead letters as internal_error with its arguments, not lost in a failed task."""
    prefix = f"{namespace}:unstorable"
    [sent] = enqueue(env, ("tests.unstorable", [prefix], {}, "k-unstorable"))
    with pytest.raises(Exception, match="result"):
        results.AsyncResult(sent["task_id"]).get(timeout=30)
    [letter] = await store.list_dead_letters(task_name="tests.unstorable")
    assert (letter.reason, letter.args, letter.idempotency_key) == (
        "internal_error",
        [prefix],
        "k-unstorable",
    )
    assert len(attempts(redis_url=env["OUTLAST_REDIS_URL"], prefix=prefix)) == 1


async def test_poison_arguments_are_dead_lettered_and_the_worker_goes_on(
    env: dict[str, str], worker: WorkerProcess, results: Celery, store: RedisStore
) -> None:
    """Arguments the function cannot take are poison: dead-lettered, next task still runs."""
    [bad, good] = enqueue(env, ("tests.noop", [], {"nope": 1}, None), ("tests.noop", [1], {}, None))
    with pytest.raises(TypeError):
        results.AsyncResult(bad["task_id"]).get(timeout=30)
    assert results.AsyncResult(good["task_id"]).get(timeout=30) == {"value": 1}
    [letter] = await store.list_dead_letters(task_name="tests.noop")
    assert letter.reason == "poison"


async def test_unknown_task_is_dead_lettered(
    env: dict[str, str], worker: WorkerProcess, results: Celery, store: RedisStore
) -> None:
    """A message for a task no worker knows lands in dead letters with its arguments."""
    results.send_task("tests.nobody_home", args=[1, 2], queue="operations")
    deadline = time.monotonic() + 20
    letters: list[Any] = []
    while not letters and time.monotonic() < deadline:
        letters = await store.list_dead_letters(task_name="tests.nobody_home")
        await asyncio.sleep(0.1)
    [letter] = letters
    assert (letter.reason, letter.args) == ("poison", [1, 2])


async def test_an_undecodable_body_is_dead_lettered_and_the_worker_goes_on(
    env: dict[str, str], worker: WorkerProcess, results: Celery, store: RedisStore
) -> None:
    """A task message whose JSON body is broken lands in dead letters with its raw body and
    content type (Celery alone only logs and acknowledges it); the next task still runs."""
    task_id = str(uuid.uuid4())
    headers = {"task": "tests.noop", "id": task_id, "lang": "py", "retries": 0}
    with results.producer_or_acquire() as producer:
        producer.publish(
            b'[[1], {"broken', exchange="operations", routing_key="operations",
            content_type="application/json", content_encoding="utf-8", headers=headers,
        )  # fmt: skip
    [good] = enqueue(env, ("tests.noop", [2], {}, None))
    assert results.AsyncResult(good["task_id"]).get(timeout=30) == {"value": 2}
    letters: list[Any] = []
    deadline = time.monotonic() + 20
    while not letters and time.monotonic() < deadline:
        letters = await store.list_dead_letters(task_name="tests.noop")
        await asyncio.sleep(0.1)
    [letter] = letters
    assert (letter.reason, letter.task_id, letter.queue) == ("poison", task_id, "operations")
    assert letter.args == [repr('[[1], {"broken')]  # the raw body, as text
    assert "content type 'application/json'" in letter.error_message


def test_long_delay_is_parked_and_runs_exactly_once(
    env: dict[str, str], worker: WorkerProcess, results: Celery, redis_url: str, namespace: str
) -> None:
    """A 3 s retry (over the 1 s park threshold) waits in the store, its task PARKED and out
    of the ledger of sent work (nothing of it is on the broker), and then runs once."""
    prefix = f"{namespace}:slow"
    [sent] = enqueue(env, ("tests.slow_retry", [prefix], {}, None))
    parked = results.AsyncResult(sent["task_id"])
    deadline = time.monotonic() + 30
    while parked.state != "PARKED" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (parked.state, len(attempts(redis_url, prefix))) == ("PARKED", 1)
    ledger = redis.Redis.from_url(redis_url)
    try:
        assert ledger.hget(f"outlast:{namespace}:ledger:messages", sent["task_id"]) is None
    finally:
        ledger.close()
    while len(attempts(redis_url, prefix)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    times = attempts(redis_url, prefix)
    assert len(times) == 2
    assert times[1] - times[0] >= 3.0
    time.sleep(2.0)  # nothing may run it a third time
    assert len(attempts(redis_url, prefix)) == 2
    assert parked.state == "SUCCESS"


async def test_a_replayed_dead_letter_succeeds(
    env: dict[str, str], worker: WorkerProcess, results: Celery, store: RedisStore, namespace: str
) -> None:
    """Replaying a dead letter enqueues it again; it succeeds once the cause is gone."""
    prefix = f"{namespace}:replay"
    [sent] = enqueue(env, ("tests.flaky", [prefix, 4], {}, None))  # 4 failures: exhausted
    with pytest.raises(ConnectionError):
        results.AsyncResult(sent["task_id"]).get(timeout=30)
    [letter] = await store.list_dead_letters(task_name="tests.flaky")
    new_task_id = await asyncio.to_thread(replay, env, letter.id)
    assert results.AsyncResult(new_task_id).get(timeout=30) == "charged"
    replayed = await store.get_dead_letter(letter.id)
    assert replayed is not None
    assert replayed.replay_count == 1
