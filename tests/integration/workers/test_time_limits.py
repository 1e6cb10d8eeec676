"""Work cut short by a time limit follows its retry policy, and ends as a dead letter with
reason ``timeout`` when given up: never marked failed and gone.

The workers run with a soft limit of 1 s and a hard limit of 2 s. ``tests.hang`` ignores
the soft limit, so the hard one kills its process: the worker's main process sends the
retry (on the broker, or parked in the store past the park threshold), then
dead-letters the second attempt. ``tests.slow_once`` and
``tests.slow_unretried`` stop at the soft limit, inside the operation (``async_slow_once``
while its event loop waits). Runs once per broker.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery

from _losses_support import heal, losses_env, replay, send, starts, wait_for_letter
from _workers import WorkerProcess, celery_worker_command, start_worker
from outlast.store import RedisStore

TIME_LIMITS = {"task_soft_time_limit": "1", "task_time_limit": "2"}


@pytest.fixture
def env(redis_url: str, broker_url: str, namespace: str) -> dict[str, str]:
    """Workers whose tasks get 1 s before the soft limit and 2 s before the hard one."""
    return losses_env(redis_url, broker_url, namespace, **TIME_LIMITS)


@pytest.fixture
def worker(env: dict[str, str]) -> Iterator[WorkerProcess]:
    """A prefork worker with two processes on the operations queue."""
    with start_worker(env, celery_worker_command(["operations"], concurrency=2)) as running:
        yield running


async def test_past_the_hard_limit_work_is_retried_then_dead_lettered_and_replayable(
    env: dict[str, str],
    worker: WorkerProcess,
    results: Celery,
    store: RedisStore,
    redis_url: str,
    namespace: str,
) -> None:
    """Killed at the hard limit twice: one retry, then a `timeout` dead letter whose replay
    runs the work."""
    prefix = f"{namespace}:hang"
    sent = send(results, "tests.hang", prefix, 30)
    [letter] = await wait_for_letter(store, "tests.hang", within=30)
    assert (letter.reason, letter.attempts, letter.task_id) == ("timeout", 2, sent.id)
    assert letter.error_type.endswith("TimeLimitError")
    assert "hard time limit (2.0s) exceeded" in letter.error_message
    assert letter.args == [prefix, 30]
    tried = starts(redis_url, prefix)
    assert len(tried) == 2
    assert tried[1] - tried[0] >= 2.0  # the retry came after the kill at the hard limit
    # (The letter's own message above proves the hard limit; Celery's log line for it can be
    # dropped as a dead-lettered task's failure line, so it is not asserted.)
    # Killed at the limit is a timeout, not a lost worker: no start is left counted.
    client = redis.Redis.from_url(redis_url)
    try:
        assert not client.exists(f"outlast:{namespace}:worker-starts:{sent.id}")
    finally:
        client.close()  # an unclosed client's socket warns, and fails, in a later test

    heal(redis_url, prefix)
    replayed = await asyncio.to_thread(replay, env, letter.id)
    assert await asyncio.to_thread(results.AsyncResult(replayed).get, timeout=30) == "done"
    assert len(await store.list_dead_letters(task_name="tests.hang")) == 1


@pytest.mark.parametrize("name", ["tests.slow_once", "tests.async_slow_once"])
async def test_soft_limit_is_a_timeout_that_the_retry_policy_retries(
    name: str,
    worker: WorkerProcess,
    results: Celery,
    store: RedisStore,
    redis_url: str,
    namespace: str,
) -> None:
    """The soft limit interrupts the first attempt (sync, or async while its loop waits);
    the policy retries timeouts; the second attempt finishes."""
    prefix = f"{namespace}:{name}"
    sent = send(results, name, prefix, 30)
    answer = await asyncio.to_thread(sent.get, timeout=30)
    assert answer == "done at start 2"
    assert await store.list_dead_letters(task_name=name) == []
    assert len(starts(redis_url, prefix)) == 2


async def test_soft_limit_under_a_policy_that_does_not_retry_timeouts_is_a_timeout_letter(
    worker: WorkerProcess, results: Celery, store: RedisStore, redis_url: str, namespace: str
) -> None:
    """A policy that retries only ConnectionError gives the interrupted attempt up at once,
    as a `timeout` dead letter."""
    prefix = f"{namespace}:unretried"
    sent = send(results, "tests.slow_unretried", prefix, 30)
    [letter] = await wait_for_letter(store, "tests.slow_unretried", within=30)
    assert (letter.reason, letter.attempts, letter.task_id) == ("timeout", 1, sent.id)
    assert "soft time limit exceeded" in letter.error_message
    assert "SoftTimeLimitExceeded" in letter.traceback
    assert len(starts(redis_url, prefix)) == 1


async def test_a_hard_limit_retry_beyond_the_park_threshold_waits_in_the_store(
    redis_url: str,
    broker_url: str,
    namespace: str,
    results: Celery,
    store: RedisStore,
    tmp_path: Path,
) -> None:
    """With a park threshold under the retry delay, the worker's main process parks the
    retry in the store; beat releases it, and the second kill ends as a `timeout` letter."""
    env = losses_env(
        redis_url, broker_url, namespace, **TIME_LIMITS,
        retry_park_threshold="0.1", retry_release_interval="0.5",
    )  # fmt: skip
    schedule = str(tmp_path / "beat-schedule")
    command = [*celery_worker_command(["operations", "monitoring"], concurrency=2)]
    with start_worker(env, [*command, "-B", "-s", schedule]) as worker:
        prefix = f"{namespace}:parked"
        sent = send(results, "tests.hang", prefix, 30)
        [letter] = await wait_for_letter(store, "tests.hang", within=30)
        assert (letter.reason, letter.attempts, letter.task_id) == ("timeout", 2, sent.id)
        assert len(starts(redis_url, prefix)) == 2
        assert "attempt 1 failed: retry in 0.20s" in worker.log()
        assert re.search(r"release_due_retries\[.+\] succeeded in [\d.]+s: 1\n", worker.log())
        assert await store.count_scheduled_retries() == 0
