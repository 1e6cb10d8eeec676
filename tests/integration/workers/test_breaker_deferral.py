"""An open breaker defers tasks across processes, and the deferrals spend no attempt.

The test process opens the cluster-scope breaker ``tests_guarded`` (same Redis, same
namespace as the worker) and keeps it open; a prefork worker receives a task whose
operation that breaker guards and defers it again and again: the task's state is RETRY,
the operation is never called and no dead letter appears. Once the test resets the
breaker, the operation runs once, as attempt 1 (the number its envelope carries), and
succeeds. The operation allows one attempt only, so a deferral counted as a failed
attempt would have ended in a dead letter instead.

Both execution paths are covered: ``tests.guarded`` (sync, no idempotency claim, off the
event loop) and ``tests.async_guarded`` (async, idempotent, on the process loop), each
once per broker (``broker_url``: the test Redis, and RabbitMQ where one answers); the
breaker, results and store stay in the test Redis.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from _workers import WorkerProcess, celery_worker_command, start_worker
from outlast.config import reload_settings
from outlast.resilience import CircuitBreaker, get_circuit_breaker
from outlast.store import RedisStore

TESTS_DIR = Path(__file__).resolve().parents[2]
BREAKER = "tests_guarded"
RECOVERY = 2.0  # short, so a deferral comes back soon; the test re-opens it meanwhile
HOLD_OPEN = 5.0  # how long the task is kept deferred: two or more deferrals


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """The folder's environment (cluster-scope breakers: OUTLAST_REDIS_URL is set), with the
    guarded breaker's short recovery, and deferrals of up to RECOVERY on the broker."""
    return {
        **env,
        "OUTLAST_CIRCUIT_BREAKERS": json.dumps({BREAKER: {"recovery_timeout": RECOVERY}}),
        "OUTLAST_RETRY_PARK_THRESHOLD": "10",
    }


@pytest.fixture
def worker(env: dict[str, str]) -> Iterator[WorkerProcess]:
    """A prefork worker (-c 2) on the operations queue."""
    with start_worker(env, celery_worker_command(["operations"], concurrency=2)) as running:
        yield running


@pytest.fixture
def breaker(redis_url: str, namespace: str, monkeypatch: pytest.MonkeyPatch) -> CircuitBreaker:
    """The worker's breaker as this process sees it: cluster scope, same namespace."""
    monkeypatch.setenv("OUTLAST_REDIS_URL", redis_url)
    monkeypatch.setenv("OUTLAST_NAMESPACE", namespace)
    reload_settings()
    return get_circuit_breaker(BREAKER, scope="cluster", recovery_timeout=RECOVERY)


def enqueue(env: dict[str, str], name: str, prefix: str) -> str:
    """Enqueue ``name(prefix)`` from a separate process; its task id."""
    items: list[Any] = [[name, [prefix], {}, None]]
    done = subprocess.run(
        [sys.executable, str(TESTS_DIR / "_enqueue_cli.py"), json.dumps(items)],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    task_id: str = json.loads(done.stdout)["task_id"]
    return task_id


def calls(redis_url: str, prefix: str) -> int:
    """How many times the operation was called (it records each call under ``prefix``)."""
    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.llen(f"{prefix}:attempts"))
    finally:
        client.close()


def attempt_numbers(redis_url: str, prefix: str) -> list[int]:
    """The attempt number (from the task's envelope) of each call of the operation."""
    client = redis.Redis.from_url(redis_url)
    try:
        return [int(n) for n in client.lrange(f"{prefix}:attempt_numbers", 0, -1)]
    finally:
        client.close()


def dead_letters(redis_url: str, namespace: str, name: str) -> list[Any]:
    """The dead letters of operation ``name`` in the worker's store."""

    async def read() -> list[Any]:
        store = RedisStore(redis_url, namespace=namespace)
        try:
            return list(await store.list_dead_letters(task_name=name))
        finally:
            await store.close()

    return asyncio.run(read())


def hold_open(breaker: CircuitBreaker, seconds: float, probe: Callable[[], int]) -> set[int]:
    """Keep ``breaker`` open for ``seconds``, re-opening it before it could half-open;
    the values ``probe()`` took meanwhile."""
    seen = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        breaker.force_open()
        seen.add(probe())
        time.sleep(0.25)
    return seen


@pytest.mark.parametrize("name", ["tests.guarded", "tests.async_guarded"])
def test_open_breaker_defers_without_spending_the_only_attempt(
    name: str,
    env: dict[str, str],
    worker: WorkerProcess,
    breaker: CircuitBreaker,
    results: Celery,
    redis_url: str,
    namespace: str,
) -> None:
    """While open: deferred, never called, no dead letter; after reset: runs once, succeeds."""
    prefix = f"{namespace}:{name}"

    def called() -> int:
        return calls(redis_url, prefix)

    breaker.force_open()
    seen: set[int] = set()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        sending = pool.submit(enqueue, env, name, prefix)
        while not sending.done():  # the breaker must not half-open while the task is sent
            seen |= hold_open(breaker, 0.25, called)
        result = results.AsyncResult(sending.result())
    deadline = time.monotonic() + 30
    while result.state != "RETRY":  # the worker has received the task and deferred it
        assert result.state not in ("SUCCESS", "FAILURE"), f"not deferred:\n{worker.log()}"
        assert time.monotonic() < deadline, f"never deferred:\n{worker.log()}"
        seen |= hold_open(breaker, 0.25, called)
    seen |= hold_open(breaker, HOLD_OPEN, called)

    assert seen == {0}
    assert worker.log().count(f"{result.id}] retry") >= 2  # deferred again and again
    assert dead_letters(redis_url, namespace, name) == []

    breaker.reset()
    assert result.get(timeout=30) == "ran"
    assert called() == 1
    assert attempt_numbers(redis_url, prefix) == [1]  # it ran as the first attempt
    assert dead_letters(redis_url, namespace, name) == []
