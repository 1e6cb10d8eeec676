"""A dead letter the store refuses is never lost: its work waits on the broker.

The store is a redis-server this test owns; the broker, the results and the operations'
own records are in the test Redis. The store refuses writes in one of two ways: it is
stopped, or the dead-letter index key holds a value of the wrong type (every write of a
letter then raises). Meanwhile a real worker dead-letters a non-retryable failure and a
message for a task nobody registered. Both letters must then be on the broker (queued,
or held unacknowledged by the worker until their countdown), not in the store, each
logged once at CRITICAL with the reason. Once the store takes writes again, each letter
arrives in the store exactly once, the operation having run once, and nothing is left on
the broker. Redis broker only: the refusal is the store's, whatever the broker.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from celery import Celery

from _servers import RedisServer, start_redis_server
from _workers import WorkerProcess, enqueue_from_app
from outlast.store import DeadLetter, RedisStore
from outlast.store.redis._redis import store_prefix
from outlast.workers.dead_letters._keep_letter import KEEP_TASK

pytestmark = pytest.mark.parametrize("broker_url", ["redis"], indirect=True)

UNKNOWN = "tests.nobody_home"


class Store:
    """The test's own store server, which can be made to refuse writes and to take them."""

    def __init__(self, namespace: str) -> None:
        self.server: RedisServer = start_redis_server()
        self.index_key = f"{store_prefix(namespace)}dead_letters:index:all"

    def refuse(self, how: str) -> None:
        if how == "stopped":
            self.server.stop()
            return
        with redis.Redis.from_url(self.server.url) as client:
            client.set(self.index_key, "not a sorted set")

    def allow(self, how: str) -> None:
        if how == "stopped":
            self.server = start_redis_server(self.server.port)
            return
        with redis.Redis.from_url(self.server.url) as client:
            client.delete(self.index_key)


@pytest.fixture
def store_server(namespace: str) -> Iterator[Store]:
    """A redis-server for the store alone, stopped after the test."""
    store = Store(namespace)
    yield store
    store.server.stop()


@pytest.fixture
def env(env: dict[str, str], redis_url: str, store_server: Store) -> dict[str, str]:
    """Broker, results and records on the test Redis; the store on the test's own server."""
    return {
        **env, "OUTLAST_RESULT_BACKEND": redis_url, "OUTLAST_REDIS_URL": store_server.server.url
    }  # fmt: skip


def broker_tasks(redis_url: str, namespace: str) -> list[str]:
    """The task names of the messages on the broker: queued, or delivered and unacked."""
    prefix = f"outlast:{namespace}:"
    with redis.Redis.from_url(redis_url) as client:
        queued = [json.loads(raw) for raw in client.lrange(f"{prefix}operations", 0, -1)]
        held = [json.loads(raw)[0] for raw in client.hvals(f"{prefix}unacked")]
    return sorted(message["headers"]["task"] for message in queued + held)


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    """Poll ``condition()`` until it holds (True) or ``seconds`` pass (False)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def critical_lines(worker: WorkerProcess) -> list[str]:
    """The worker's CRITICAL log lines."""
    return [line for line in worker.log().splitlines() if "CRITICAL" in line]


async def stored_letters(url: str, namespace: str, seconds: float) -> dict[str, list[DeadLetter]]:
    """The letters of both tasks, once both are there (or after ``seconds``)."""
    store = RedisStore(url, namespace=namespace)
    deadline = time.monotonic() + seconds
    try:
        while True:
            found = {
                n: await store.list_dead_letters(task_name=n) for n in ("tests.refused", UNKNOWN)
            }
            if all(found.values()) or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.1)
    finally:
        await store.close()


def attempts(redis_url: str, prefix: str) -> int:
    """How many times the operation ran (it records each attempt under ``prefix``)."""
    with redis.Redis.from_url(redis_url) as client:
        return int(client.llen(f"{prefix}:attempts"))


@pytest.mark.parametrize("how", ["stopped", "wrong_type"])
async def test_a_letter_the_store_refuses_waits_on_the_broker_then_arrives_once(
    how: str,
    env: dict[str, str],
    worker: WorkerProcess,
    results: Celery,
    store_server: Store,
    redis_url: str,
    namespace: str,
) -> None:
    """Store refusing: both letters on the broker, one CRITICAL each; store back: each
    letter stored once, the operation run once, the broker empty."""
    store_server.refuse(how)
    prefix = f"{namespace}:refused"
    await asyncio.to_thread(enqueue_from_app, env, [["tests.refused", [prefix], {}, "keep-1"]])
    results.send_task(UNKNOWN, args=[1], kwargs={"_outlast": {"key": "keep-2"}}, queue="operations")

    def two_critical() -> bool:
        return len(critical_lines(worker)) >= 2

    def on_broker() -> bool:
        return broker_tasks(redis_url, namespace) == [KEEP_TASK, KEEP_TASK]

    def broker_empty() -> bool:
        return broker_tasks(redis_url, namespace) == []

    assert await asyncio.to_thread(wait_until, two_critical, 20), worker.log()
    refusals = critical_lines(worker)
    assert all("refused it" in line and "stays on the broker" in line for line in refusals)
    assert await asyncio.to_thread(wait_until, on_broker, 5), broker_tasks(redis_url, namespace)

    store_server.allow(how)
    found = await stored_letters(store_server.server.url, namespace, seconds=30)
    assert [len(letters) for letters in found.values()] == [1, 1], found
    refused, unknown = found["tests.refused"][0], found[UNKNOWN][0]
    assert (refused.reason, refused.args, refused.idempotency_key) == (
        "non_retryable",
        [prefix],
        "keep-1",
    )
    assert (unknown.reason, unknown.args, unknown.idempotency_key) == ("poison", [1], "keep-2")
    for letter in (refused, unknown):
        assert sum(letter.id in line for line in critical_lines(worker)) >= 1
    assert await asyncio.to_thread(wait_until, broker_empty, 10), broker_tasks(redis_url, namespace)
    await asyncio.sleep(1.0)  # nothing else may arrive
    again = await stored_letters(store_server.server.url, namespace, seconds=0)
    assert [len(letters) for letters in again.values()] == [1, 1]
    assert attempts(redis_url, prefix) == 1
