"""``@operation`` tasks feed monitoring from a real worker: a failed attempt is an error
event of the operation (request id = the work's idempotency key), a success a count, so
the shared windows hold the real ratio; sync and async operations alike."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from _workers import (
    WorkerProcess,
    celery_worker_command,
    enqueue_from_app,
    fresh_namespace,
    start_worker,
)
from outlast.config import Settings
from outlast.monitoring import ErrorMonitor
from outlast.monitoring._windows import Dim
from outlast.store import ErrorEvent, RedisStore
from outlast.workers import create_app

HERE = Path(__file__).resolve().parent
TESTS_DIR = HERE.parents[1]
NAMES = ("tests.flaky", "tests.async_flaky")


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    """A namespace of its own; its broker, result, store and monitoring keys go after."""
    with fresh_namespace(redis_url) as name:
        yield name


@pytest.fixture
def env(redis_url: str, namespace: str) -> dict[str, str]:
    """The worker system's environment, monitoring flushing every 50 ms."""
    return {
        "OUTLAST_BROKER_URL": redis_url, "OUTLAST_REDIS_URL": redis_url,
        "OUTLAST_TEST_REDIS_URL": redis_url, "OUTLAST_NAMESPACE": namespace,
        "OUTLAST_TASK_MODULES": '["_ops_for_tests", "_ops_monitoring"]',
        "OUTLAST_MONITORING_FLUSH_INTERVAL": "0.05", "OUTLAST_MONITORING_SLOW_CALL": "0.2",
        "PYTHONPATH": os.pathsep.join(
            [str(TESTS_DIR), str(HERE), os.environ.get("PYTHONPATH", "")]
        ),
    }  # fmt: skip


@pytest.fixture
def worker(env: dict[str, str]) -> Iterator[WorkerProcess]:
    """One prefork process on the operations queue."""
    with start_worker(env, celery_worker_command(["operations"])) as running:
        yield running


@pytest.fixture
def results(redis_url: str, namespace: str) -> Iterator[Celery]:
    """A client app reading the task results."""
    app = create_app(Settings(broker_url=redis_url, redis_url=redis_url, namespace=namespace))
    yield app
    app.close()


async def stored_events(redis_url: str, namespace: str, count: int) -> list[ErrorEvent]:
    """The stored error events, once there are ``count`` (or after 20 s)."""
    store = RedisStore(redis_url, namespace=namespace)
    deadline = time.monotonic() + 20
    try:
        while True:
            found = await store.list_error_events()
            if len(found) >= count or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.1)
    finally:
        await store.close()


def window(redis_url: str, namespace: str, operation: str) -> dict[str, Any]:
    """The 5-minute window of ``operation``, once it holds a success (or after 20 s)."""
    monitor = ErrorMonitor(redis_url=redis_url, namespace=namespace, store_events=False)
    deadline = time.monotonic() + 20
    while True:
        counts = monitor.get_window_counts(operation=operation)
        assert counts is not None
        if counts["5m"]["successes"] or time.monotonic() > deadline:
            return counts["5m"]
        time.sleep(0.1)


async def test_operation_failures_and_successes_reach_monitoring(
    env: dict[str, str], worker: WorkerProcess, results: Celery, redis_url: str, namespace: str
) -> None:
    """Each operation fails once and then succeeds: one error and one success in its
    window, and its stored event names the operation, the request and the queue."""
    items: list[list[Any]] = [
        [name, [f"{namespace}:{name}", 1], {}, f"key-{name}"] for name in NAMES
    ]
    sent = await asyncio.to_thread(enqueue_from_app, env, items)
    for queued in sent:
        assert results.AsyncResult(queued["task_id"]).get(timeout=30).endswith("charged")
    for name in NAMES:
        counts = await asyncio.to_thread(window, redis_url, namespace, name)
        assert (counts["errors"], counts["successes"]) == (1, 1)
        assert counts["failure_ratio"] == 0.5
    events = await stored_events(redis_url, namespace, len(NAMES))
    assert sorted(e.operation for e in events) == sorted(NAMES)
    for event in events:
        assert event.context["request_id"] == f"key-{event.operation}"
        assert event.context["metadata"]["queue"] == "operations"
        assert event.context["service"] == "tests"


def slow_calls(redis_url: str, namespace: str, operation: str) -> int:
    """Slow calls of ``operation`` in the 5-minute window, once there is one (or 20 s)."""
    monitor = ErrorMonitor(redis_url=redis_url, namespace=namespace, store_events=False)
    deadline = time.monotonic() + 20
    while True:
        totals = monitor.counter_reader().read(time.time())
        assert totals is not None
        found = totals.count("5m", Dim.OPERATION, operation, "w")
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


async def test_a_slow_success_counts_as_a_slow_call(
    env: dict[str, str], worker: WorkerProcess, results: Celery, redis_url: str, namespace: str
) -> None:
    """An attempt that succeeds after the slow-call threshold (0.2 s here) is one slow call
    of its operation; a quick one is not."""
    for seconds in (0.4, 0.0):  # sent as an application's client would send the task
        sent = results.send_task("monslow.query", args=[seconds], queue="operations")
        assert await asyncio.to_thread(sent.get, timeout=30) == "done"
    assert await asyncio.to_thread(slow_calls, redis_url, namespace, "monslow.query") == 1
    counts = await asyncio.to_thread(window, redis_url, namespace, "monslow.query")
    assert counts["successes"] == 2
